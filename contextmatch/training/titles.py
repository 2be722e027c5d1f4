"""Training the title model (``contextmatch train-titles``) from ESCO v1.1.0 alone.

Data, built by :func:`build_title_data`:

- every occupation label (preferred, alternative, hidden; about 35.9k) is an *anchor*;
- each anchor is paired with another label of the same occupation (title <-> title, both through the title head);
- a share of the anchors (``skill_fraction``) is also paired with a skill list of its occupation in the JobBERT-v2
  format: a random subset of the occupation's essential and optional ESCO skills, shuffled and comma-separated
  (title head <-> skills head).

Labelled vacancy titles (``pairs``, any CSV of title and ESCO occupation URI, e.g. the JobBERT titles): the ``train``
side of their split by title (:func:`contextmatch.evaluation.title_benchmarks.split_by_title`; stored for the JobBERT
file) adds one anchor per row, paired with a label of its occupation (and, as for ESCO anchors, a share of them with a
skill list). Rows whose URI is not an occupation of the ESCO version are reported and dropped. The ``select`` side is
never trained on: it scores every checkpoint (``pairs_mrr``) and chooses the weight of the occupation prior
(:mod:`contextmatch.titles.prior`) written beside the model.

Never trained on: any ESCO label equal (lower-cased) to a title of an evaluation file (by default the shipped
JobBERT titles), nor a labelled title equal to one of the ``select`` side or of an ``exclude_files`` file; the
counts are reported. A validation split of ``val_fraction`` of the alternative labels is held out of
training for model selection: each held-out label is ranked against the occupations' remaining labels.

Loss: in-batch negatives (InfoNCE, symmetric, fixed scale) on both pair kinds. A batch holds at most one anchor per
occupation, and any pair whose texts or occupations coincide is masked, so labels of the same occupation are never
negatives of each other.

Checkpoints (model, optimizer, schedule, history) are written to ``<out>/checkpoint/`` every
``checkpoint_every`` steps; ``resume=True`` continues from there with the same batches. The batch plan depends only
on the seed, so a resumed run trains on exactly what an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..esco import DEFAULT_ESCO_VERSION, load_esco
from ..models import MINILM, MPNET
from .title_card import model_card
from .title_data import add_pairs, build_title_data, plan_epoch, sample_skill_list, vacancy_noise, TitleData


RECIPES = {
    # all-MiniLM-L6-v2 on CPU: 17-22 minutes of steps on one core, measured (results/titles/README.md)
    "cpu": dict(base=MINILM, head_dim=512, epochs=1.0, batch_size=64, lr=1e-4, head_lr=5e-4, skill_fraction=0.25,
                augment=0.0, freeze_embeddings=True),
    # all-mpnet-base-v2 on a GPU, as JobBERT-v2 (768 -> 1024 heads)
    "gpu": dict(base=MPNET, head_dim=1024, epochs=5.0, batch_size=256, lr=5e-5, head_lr=5e-4, skill_fraction=1.0,
                augment=0.0, freeze_embeddings=False),
}


@dataclass
class TrainConfig:
    """Settings of a title-model training run (``RECIPES`` holds the named presets)."""
    out: str = "title-model"
    base: str = MINILM
    head_dim: int | None = None
    epochs: float = 1.0
    batch_size: int = 64  # anchors (occupations) per step
    lr: float = 1e-4  # encoder
    head_lr: float = 1e-3  # projection heads
    warmup: float = 0.05  # share of the steps with a linear warm-up
    weight_decay: float = 0.01
    scale: float = 20.0  # logit scale of the in-batch softmax (cosine * scale)
    skill_fraction: float = 0.25  # share of each batch's anchors that also get a (title, skill list) pair
    skill_weight: float = 1.0  # weight of the title <-> skill-list loss
    augment: float = 0.0  # share of anchors turned into job-ad-like variants (vacancy_noise)
    self_positive: float = 0.3  # share of those whose positive is their own clean label
    min_skills: int = 3
    max_skills: int = 12
    val_fraction: float = 0.05
    val_labels_per_occupation: int = 0  # 0: rank against every remaining label; n: at most n per occupation
    val_every: float = 0.5  # validate (and keep the model if best) every this many epochs, and at the end
    val_at_start: bool = False  # also validate the untrained model (the zero-shot reference)
    freeze_embeddings: bool = True  # keep the word-embedding matrix fixed (a third of MiniLM's weights)
    seed: int = 13
    esco_version: str = DEFAULT_ESCO_VERSION
    exclude_files: list[str] = field(default_factory=list)  # CSVs whose titles must never be trained on
    exclude_column: str = "vacancyTitle"
    pairs: str | None = None  # labelled (title, occupation URI) CSV whose train side is trained on
    pairs_title_column: str = "vacancyTitle"
    pairs_uri_column: str = "conceptUri"
    checkpoint_every: int = 100
    max_steps: int | None = None  # stop early (smoke tests)
    device: str | None = None
    half: bool = True  # store the final weights in float16
    recipe: str | None = None

    @classmethod
    def from_recipe(cls, recipe: str, **overrides) -> "TrainConfig":
        if recipe not in RECIPES:
            raise ValueError(f"unknown recipe {recipe!r}: choose one of {', '.join(RECIPES)}")
        values = {**RECIPES[recipe], "recipe": recipe}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def make_batch(data: TitleData, batch: list[int], seed: int, epoch: int, step: int, config: TrainConfig):
    """(anchors, positives, skill lists, owners) of one step; deterministic in (seed, epoch, step).

    With probability ``config.augment`` an anchor becomes a job-ad-like variant (:func:`vacancy_noise`) whose
    positive is, with probability ``config.self_positive``, its own clean label."""
    rng = random.Random(f"{seed}-{epoch}-{step}")
    anchors = [data.labels[i] for i in batch]
    owners = [data.owners[i] for i in batch]
    positives = []
    for j, (anchor, owner) in enumerate(zip(anchors, owners)):
        others = [label for label in data.by_occupation.get(owner, []) if label.lower() != anchor.lower()]
        positive = rng.choice(others) if others else anchor
        if config.augment and rng.random() < config.augment:
            if rng.random() < config.self_positive:
                positive = anchor
            anchors[j] = vacancy_noise(anchor, rng, rng.choice(others) if others else None)
        positives.append(positive)
    n_skills = round(config.skill_fraction * len(batch))
    skill_lists = []
    for owner in owners[:n_skills]:
        essential, optional = data.skill_lists[owner]
        if essential or optional:
            skill_lists.append(sample_skill_list(essential, optional, rng, config.min_skills, config.max_skills))
        else:
            skill_lists.append(None)
    return anchors, positives, skill_lists, owners


# -- loss --------------------------------------------------------------------------------------------------------
def in_batch_loss(queries: torch.Tensor, keys: torch.Tensor, same: torch.Tensor, scale: float) -> torch.Tensor:
    """InfoNCE of ``queries[i]`` against ``keys`` (positive: ``keys[i]``), both unit vectors; ``same[i, j]`` masks
    key j out of query i's negatives (it belongs to the same occupation).

    >>> q = torch.eye(2); k = torch.eye(2)
    >>> float(in_batch_loss(q, k, torch.zeros(2, 2, dtype=torch.bool), 1.0)) > float(
    ...     in_batch_loss(q, k, torch.tensor([[False, True], [True, False]]), 1.0)) == 0.0
    True
    """
    logits = scale * queries @ keys.T
    n = queries.shape[0]
    diagonal = torch.eye(n, keys.shape[0], dtype=torch.bool, device=logits.device)
    logits = logits.masked_fill(same.to(logits.device) & ~diagonal, float("-inf"))
    return torch.nn.functional.cross_entropy(logits, torch.arange(n, device=logits.device))


def _same(owners_a: list[int], owners_b: list[int], texts_a: list[str] | None = None,
          texts_b: list[str] | None = None) -> torch.Tensor:
    """(len(a), len(b)) True where two items share an occupation or (given texts) a lower-cased text."""
    mask = torch.tensor(owners_a).view(-1, 1) == torch.tensor(owners_b).view(1, -1)
    if texts_a is not None and texts_b is not None:
        lower_b = {}
        for j, text in enumerate(texts_b):
            lower_b.setdefault(text.lower(), []).append(j)
        for i, text in enumerate(texts_a):
            for j in lower_b.get(text.lower(), ()):
                mask[i, j] = True
    return mask


def batch_loss(model, anchors, positives, skill_lists, owners, config: TrainConfig) -> tuple[torch.Tensor, dict]:
    """The title <-> title loss (symmetric) plus ``skill_weight`` times the title <-> skill-list loss (symmetric)."""
    from ..titles.model import SKILLS_ROUTE, TITLE_ROUTE

    normalize = torch.nn.functional.normalize
    titles = normalize(model.forward(anchors + positives, TITLE_ROUTE), dim=-1)
    a, p = titles[: len(anchors)], titles[len(anchors):]
    same = _same(owners, owners, anchors, positives) | _same(owners, owners, positives, anchors).T
    title_loss = (in_batch_loss(a, p, same, config.scale) + in_batch_loss(p, a, same.T, config.scale)) / 2
    parts = {"title": title_loss.item()}
    loss = title_loss
    rows = [i for i, text in enumerate(skill_lists) if text]
    if rows and config.skill_weight:
        s = normalize(model.forward([skill_lists[i] for i in rows], SKILLS_ROUTE), dim=-1)
        # keys of a skill list: every anchor of the batch, its own first
        order = rows + [i for i in range(len(anchors)) if i not in set(rows)]
        row_owners = [owners[i] for i in rows]
        to_titles = in_batch_loss(s, a[order], _same(row_owners, [owners[i] for i in order]), config.scale)
        to_skills = in_batch_loss(a[rows], s, _same(row_owners, row_owners), config.scale)
        skill_loss = (to_titles + to_skills) / 2
        parts["skills"] = skill_loss.item()
        loss = loss + config.skill_weight * skill_loss
    return loss, parts


# -- validation --------------------------------------------------------------------------------------------------
@torch.inference_mode()
def validate(model, data: TitleData, seed: int = 0) -> dict:
    """MRR and Acc@1/5/10 of the held-out labels ranked against the validation index (title head), as they are
    (``mrr``, ``acc@K``) and as job-ad-like variants (``noisy_mrr``, ...); ``score`` is the mean of both MRRs."""
    from ..evaluation.titles import rank_metrics
    from ..titles.normalizer import max_per_group

    if not data.val_queries:
        return {}
    was_training = model.st.training
    model.st.eval()
    rng = random.Random(f"validation-{seed}")
    noisy = [vacancy_noise(query, rng) for query in data.val_queries]
    index = model.encode_titles(data.val_labels, batch_size=256)
    queries = model.encode_titles(data.val_queries + noisy, batch_size=256)
    owners = torch.tensor(data.val_label_owners)
    scores = torch.cat([max_per_group(queries[i:i + 512] @ index.T, owners, data.n_occupations)[0]
                        for i in range(0, len(queries), 512)])
    gold = torch.tensor(data.val_owners)
    clean = rank_metrics(scores[: len(gold)], gold)
    noisy_metrics = rank_metrics(scores[len(gold):], gold)
    result = {**clean, **{f"noisy_{k}": v for k, v in noisy_metrics.items()},
              "score": round((clean["mrr"] + noisy_metrics["mrr"]) / 2, 4)}
    if data.pair_queries:  # held-out labelled titles: the score becomes the mean of both kinds of validation
        pairs = model.encode_titles(data.pair_queries, batch_size=256)
        pair_scores = torch.cat([max_per_group(pairs[i:i + 512] @ index.T, owners, data.n_occupations)[0]
                                 for i in range(0, len(pairs), 512)])
        pair_metrics = rank_metrics(pair_scores, torch.tensor(data.pair_owners))
        result.update({f"pairs_{k}": v for k, v in pair_metrics.items()})
        result["score"] = round((result["score"] + pair_metrics["mrr"]) / 2, 4)
    model.st.train(was_training)
    return result


# -- the loop ----------------------------------------------------------------------------------------------------
def _schedule(total: int, warmup: float):
    warm = max(1, round(warmup * total))
    return lambda step: min((step + 1) / warm, max(0.0, (total - step) / max(1, total - warm)))


def _atomic_save(obj, path: Path) -> None:
    partial = path.with_suffix(".partial")
    torch.save(obj, partial)
    os.replace(partial, path)


def train_titles(config: TrainConfig, resume: bool = False, progress: bool = True, log=print,
                 on_step=None) -> Path:
    """Train a title model as ``config`` says; returns the folder of the final (best-validation) model.

    ``on_step(step)`` is called after every step (and its checkpoint, if one is due)."""
    from tqdm.auto import tqdm

    from ..evaluation.title_benchmarks import JOBBERT_TITLES, benchmark_titles
    from ..titles.model import TitleModel

    out = Path(config.out)
    checkpoint_dir = out / "checkpoint"
    state_file = checkpoint_dir / "state.pt"
    if not resume and state_file.exists():
        raise FileExistsError(f"{out} holds an interrupted run: continue it with --resume (or delete the folder)")
    if not resume and out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty: give a new or empty folder")
    if resume and not state_file.exists() and out.exists() and (out / "training_info.json").exists():
        raise FileExistsError(f"{out} holds a finished run (no checkpoint to resume)")
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    random.seed(config.seed)
    torch.manual_seed(config.seed)

    exclude = set()
    for path in [str(JOBBERT_TITLES), *config.exclude_files]:
        exclude |= benchmark_titles(path, config.exclude_column)
    esco = load_esco(config.esco_version)
    data = build_title_data(esco, exclude, config.val_fraction, config.seed, config.val_labels_per_occupation)
    log(f"data: {data.counts['train_anchors']:,} training labels of {data.counts['occupations']:,} occupations; "
        f"{data.counts['excluded_benchmark_titles']:,} labels removed because they equal an evaluation title; "
        f"{data.counts['validation_queries']:,} held-out validation labels")
    if config.pairs:
        from ..evaluation.title_benchmarks import title_key

        others = set()
        for path in config.exclude_files:
            others |= {title_key(t) for t in benchmark_titles(path, config.exclude_column)}
        add_pairs(data, esco, config.pairs, config.pairs_title_column, config.pairs_uri_column, others)
        c = data.counts
        log(f"labelled titles ({c['pairs_file']}, train side): {c['pair_anchors']:,} anchors; "
            f"{c['pair_rows_dropped_uri']:,} rows dropped (URI not an ESCO v{esco.version} occupation), "
            f"{c['pair_rows_excluded']:,} equal to a held-out or evaluation title; {c['pair_validation_titles']:,} "
            f"select titles validate the checkpoints")

    model = TitleModel.from_base(config.base, config.head_dim, device=device, seed=config.seed)
    model.st.to(device)
    encoder = model.st[0].auto_model
    if config.freeze_embeddings:
        encoder.get_input_embeddings().weight.requires_grad_(False)
    head_params = [p for n, p in model.st.named_parameters() if n.startswith("2.") and p.requires_grad]
    body_params = [p for n, p in model.st.named_parameters() if not n.startswith("2.") and p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": body_params, "lr": config.lr}, {"params": head_params,
                                   "lr": config.head_lr}], weight_decay=config.weight_decay)
    steps_per_epoch = len(plan_epoch(data, config.batch_size, config.seed, 0))
    total = max(1, math.ceil(config.epochs * steps_per_epoch))
    if config.max_steps:
        total = min(total, config.max_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(total, config.warmup))
    step, history, best, elapsed = 0, [], None, 0.0
    if resume and state_file.exists():
        state = torch.load(state_file, map_location=device, weights_only=False)
        changed = [k for k, v in dataclasses.asdict(config).items()
                   if k not in ("out", "device", "max_steps", "checkpoint_every") and state["config"].get(k) != v]
        if changed:
            raise ValueError(f"cannot resume {state_file}: settings differ from the checkpoint's ({', '.join(changed)})")
        model.st.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, history, best, elapsed = state["step"], state["history"], state["best"], state["elapsed"]
        torch.set_rng_state(state["torch_rng"].cpu())  # dropout continues as it would have
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([r.cpu() for r in state["cuda_rng"]])
        log(f"resumed from {state_file} at step {step}/{total}")
    checkpoint_dir.mkdir(parents=True, exist_ok=True)

    def save_checkpoint():
        _atomic_save({"model": model.st.state_dict(), "optimizer": optimizer.state_dict(),
                      "scheduler": scheduler.state_dict(), "step": step, "history": history, "best": best,
                      "elapsed": elapsed, "config": dataclasses.asdict(config), "torch_rng": torch.get_rng_state(),
                      "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
                     state_file)

    def end_of_epoch(epoch_number: float):
        nonlocal best
        metrics = validate(model, data)
        record = {"epoch": round(epoch_number, 3), "step": step, "train_seconds": round(elapsed, 1), **metrics}
        history.append(record)
        log(f"validation after {record['epoch']} epoch(s): {json.dumps(metrics)}")
        if best is None or metrics.get("score", 0) >= best.get("score", 0):
            best = record
            model.save(out / "best.partial", half=config.half)
            if (out / "best").exists():
                import shutil

                shutil.rmtree(out / "best")
            os.replace(out / "best.partial", out / "best")

    val_steps = max(1, round(config.val_every * steps_per_epoch))
    if config.val_at_start and step == 0 and not history:
        metrics = validate(model, data)
        history.append({"epoch": 0, "step": 0, "train_seconds": 0.0, **metrics})
        log(f"validation before training: {json.dumps(metrics)}")
    model.st.train()
    bar = tqdm(total=total, initial=step, desc="train-titles", unit="step", disable=not progress, file=sys.stderr)
    plans: dict[int, list[list[int]]] = {}
    while step < total:
        epoch, position = divmod(step, steps_per_epoch)
        plan = plans.setdefault(epoch, plan_epoch(data, config.batch_size, config.seed, epoch))
        started = time.perf_counter()
        anchors, positives, skill_lists, owners = make_batch(data, plan[position], config.seed, epoch, position,
                                                             config)
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.startswith("cuda") else _null()
        with autocast:
            loss, parts = batch_loss(model, anchors, positives, skill_lists, owners, config)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([*body_params, *head_params], 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        elapsed += time.perf_counter() - started
        bar.update(1)
        bar.set_postfix({k: f"{v:.3f}" for k, v in parts.items()})
        validate_now = step % val_steps == 0 or step == total
        if validate_now:
            end_of_epoch(step / steps_per_epoch)
        if step % config.checkpoint_every == 0 or validate_now:
            save_checkpoint()
        if on_step is not None:
            on_step(step)
    bar.close()
    if best is None:  # resumed after the last step
        end_of_epoch(step / steps_per_epoch)

    # the final folder: the best validation model, plus what produced it
    for item in (out / "best").iterdir():
        target = out / item.name
        if target.is_dir():
            import shutil

            shutil.rmtree(target)
        os.replace(item, target)
    (out / "best").rmdir()
    prior = None
    if config.pairs:
        from .title_prior import fit_prior

        fitted = fit_prior(out, config.pairs, data, config.pairs_title_column, config.pairs_uri_column)
        prior = {"weight": fitted["weight"], "scale": fitted["scale"], **fitted["source"], "candidates": fitted["table"],
                 "occupations": len(fitted["counts"]), "titles": sum(fitted["counts"].values())}
        log(f"occupation prior: {prior['titles']:,} train titles over {prior['occupations']:,} occupations; weight "
            f"{prior['weight']:g}, scale {prior['scale']:g}: select MRR {prior['without_prior']['select_mrr']} -> "
            f"{prior['select_mrr']}, held-out ESCO labels {prior['without_prior']['esco_mrr']} -> {prior['esco_mrr']}")
    info = {"base": model.name, "recipe": config.recipe, "config": dataclasses.asdict(config), "data": data.counts,
            "steps": total, "steps_per_epoch": steps_per_epoch, "train_seconds": round(elapsed, 1),
            "threads": torch.get_num_threads() if device == "cpu" else None, "device": device,
            "validation": history, "selected": best, "occupation_prior": prior,
            "selection": "the checkpoint with the best validation score: mean MRR of held-out ESCO alternative labels "
                         "and of job-ad-like variants of them" + (
                             ", averaged with the MRR of the labelled titles' select side" if config.pairs else
                             " (never the benchmark)")}
    (out / "training_info.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    (out / "README.md").write_text(model_card(info, out.name), encoding="utf-8")
    import shutil

    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    log(f"saved {out} (trained {elapsed / 60:.1f} min; best validation MRR {best.get('mrr')} (job-ad-like variants: "
        f"{best.get('noisy_mrr')}) after {best['epoch']} epoch(s))")
    return out


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
