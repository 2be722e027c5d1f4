"""Contrastive training of ConTeXT-match through the ConTeXT score, with in-batch negatives.

Each batch holds (text, skill) pairs. Every text is scored against every distinct positive skill label of the
batch; cross-entropy over ``scale * score`` pulls a text to its own skill. A skill that appears twice in a batch is
one column, and a text's other gold skills are masked out, so no true skill is ever a negative. Options: hard
negatives (a positive skill's nearest other skills as extra columns), lexical negatives (skills that share a word
or a word stem with the text, are close to it for the starting model, and are not its gold: *dock operations* for a
Docker sentence), training only the top layers, stopping early on a longer learning-rate schedule (``stop_at``) and
averaging several seeds (``soup``, :mod:`contextmatch.training.soup`). Training is
deterministic for a seed, validates RP@5 on TECH and HOUSE validation periodically, keeps the best model, and saves a
checkpoint that ``--resume`` continues from after a kill.
"""

from __future__ import annotations

import functools
import gzip
import json
import random
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from modeling_contextmatch import aggregate_label_scores

from ..esco import load_esco
from ..evaluation.benchmarks import load_benchmark
from ..skills.selection import content_words, label_overlap, stems, words

from .recipes import LEXICAL_SCOPES, PRECISIONS, RECIPE_SOURCES, RECIPES  # noqa: F401  (re-exported)


@dataclass
class TrainConfig:
    data: str
    out: str
    base: str = "all-MiniLM-L6-v2"
    sources: list[str] | None = None  # None: every source in the data
    batch_size: int = 64
    lr: float = 5e-5
    epochs: float = 1.0
    max_steps: int | None = None
    stop_at: int | None = None  # end the run after this step; the learning-rate schedule still spans max_steps
    soup: int = 1  # train this many seeds (seed, seed + 1, ...) and average their best models (.soup)
    max_text_length: int = 64
    scale: float = 20.0
    skill_weight: float = 0.0  # weight of the skill-skill term (pooled alt label vs pooled preferred label)
    attend_special_tokens: bool = True  # the model's special-token policy (see ContextMatchConfig)
    train_layers: int | None = None  # train only this many top transformer layers (None: the whole encoder)
    hard_negatives: int = 0  # add, per text, one of its positive skill's this many nearest other skills (0: none)
    lexical_negatives: int = 0  # add, per text, one word-sharing skill among its this many nearest skills (0: none)
    lexical_scope: str = "any"  # "other-branch": only word-sharing skills outside every gold skill's ESCO branch
    alt_label_rate: float = 0.0  # chance that a skill column is written as one of its alternative labels
    train_labels: int = 0  # score each skill column through its preferred label and this many alternative ones
    label_mix: float = 0.4  # ... aggregated as label_mix x preferred + (1 - label_mix) x best (--skill-labels all)
    repeat: dict[str, int] = field(default_factory=dict)  # source -> times each of its pairs is in the data (1)
    precision: str = "fp32"  # one of PRECISIONS (auto: bf16 on CUDA and AMX CPUs, else fp32); validation in float32
    warmup: float = 0.05
    eval_every: int = 600
    save_every: int = 100
    seed: int = 0
    device: str | None = None
    threads: int | None = None
    validation: list[str] = field(default_factory=lambda: ["tech", "house"])


def read_pairs(data_dir: str | Path, sources: list[str] | None = None, repeat: dict[str, int] | None = None
               ) -> list[dict]:
    """The training pairs of ``sources`` (all when None), each pair of a source in ``repeat`` that many times."""
    path = Path(data_dir) / "train.jsonl.gz"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `contextmatch build-training-data --out {data_dir}` first")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    if sources:
        unknown = set(sources) - {r["source"] for r in records}
        if unknown:
            raise ValueError(f"sources {sorted(unknown)} are not in {path}")
        records = [r for r in records if r["source"] in sources]
    repeat = repeat or {}
    missing = set(repeat) - {r["source"] for r in records}
    if missing:
        raise ValueError(f"--repeat names sources {sorted(missing)} that are not in the training data")
    return [r for r in records for _ in range(repeat.get(r["source"], 1))]


def batch_targets(batch: list[dict], rng: random.Random, neighbours: dict[str, list[str]] | None = None
                  ) -> tuple[list[str], list[int], torch.Tensor]:
    """Distinct skill labels of a batch (positives, then hard negatives drawn from ``neighbours``), each text's
    target column, and the mask of columns that are another gold skill of the text (never negatives).

    >>> labels, targets, mask = batch_targets(
    ...     [{"skills": ["a"]}, {"skills": ["a"]}, {"skills": ["b", "c"]}, {"skills": ["c"]}], random.Random(0))
    >>> labels, targets, mask.int().tolist()
    (['a', 'b', 'c'], [0, 0, 1, 2], [[0, 0, 0], [0, 0, 0], [0, 0, 1], [0, 0, 0]])
    >>> batch_targets([{"skills": ["a"]}, {"skills": ["b"]}], random.Random(0), {"a": ["x"], "b": ["a"]})[0]
    ['a', 'b', 'x']
    """
    positives = [rng.choice(record["skills"]) for record in batch]
    negatives = []
    for record, positive in zip(batch, positives):
        pool = [*record.get("negatives", ()), *(neighbours or {}).get(positive, [])]  # the text's own, then its skill's
        candidates = [n for n in pool if n not in record["skills"]]
        if candidates:
            negatives.append(rng.choice(candidates))
    labels = list(dict.fromkeys(positives + negatives))
    column = {label: i for i, label in enumerate(labels)}
    targets = [column[p] for p in positives]
    mask = torch.zeros((len(batch), len(labels)), dtype=torch.bool)
    for row, record in enumerate(batch):
        for skill in record["skills"]:
            if skill in column and column[skill] != targets[row]:
                mask[row, column[skill]] = True
    return labels, targets, mask


def nearest_labels(vectors: torch.Tensor, labels: list[str], k: int, chunk: int = 2048) -> dict[str, list[str]]:
    """Each label's ``k`` nearest other labels by cosine of their vectors (hard-negative candidates).

    >>> nearest_labels(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]), ["a", "b", "c"], k=1)
    {'a': ['b'], 'b': ['a'], 'c': ['b']}
    """
    unit = torch.nn.functional.normalize(vectors.float(), dim=-1)
    result = {}
    for start in range(0, len(labels), chunk):
        sims = unit[start : start + chunk] @ unit.T
        rows = torch.arange(sims.shape[0])
        sims[rows, rows + start] = float("-inf")  # never a label's own neighbour
        for row, top in enumerate(sims.topk(min(k, len(labels) - 1), dim=1).indices.tolist()):
            result[labels[start + row]] = [labels[i] for i in top]
    return result


def shares_a_word(text_words: set[str], label: str, prefixes: set[str] | None = None) -> bool:
    """Whether a label has a content word that the text has, or that begins like one of its words
    (:func:`contextmatch.skills.selection.label_overlap`; ``prefixes``: the text's ``stems``, when computed).

    >>> shares_a_word({"we", "ship", "with", "docker"}, "dock operations"), shares_a_word({"docker"}, "use Git")
    (True, False)
    """
    return sum(label_overlap(content_words(label), text_words, prefixes)) > 0


def skill_branches(esco) -> dict[str, frozenset[str]]:
    """Each skill's branches (preferred label -> URIs): the groups just below the four roots of the ESCO skill
    pillar (skills S1-S8, knowledge by ISCED field, transversal T1-T6, language) that it descends from."""
    broader = esco.broader_skills
    roots = {uri for above in broader.values() for uri in above if uri not in broader}

    @functools.lru_cache(maxsize=None)
    def branches(uri: str) -> frozenset[str]:
        return frozenset().union(*[{uri} if up in roots else branches(up) for up in broader.get(uri, [])])

    return {skill.label: branches(skill.uri) for skill in esco.skills}


def outside_branches(candidate: frozenset[str], gold: list[frozenset[str]]) -> bool:
    """Whether a candidate negative shares no branch with any gold skill (so it is no near-synonym of one).

    >>> gold = [frozenset({"06", "S5"})]
    >>> outside_branches(frozenset({"10"}), gold), outside_branches(frozenset({"S5", "S6"}), gold)
    (True, False)
    """
    return not any(candidate & branches for branches in gold)


def lexical_negatives(records: list[dict], model, tokenizer, labels: list[str], k: int,
                      batch_size: int = 1024, branches: dict[str, frozenset[str]] | None = None) -> int:
    """Store in each record, as ``negatives``, the skills among its ``k`` nearest by the model's mean-pooled
    cosine that share a word with its text (:func:`shares_a_word`) and are not its gold; with ``branches``
    (:func:`skill_branches`), only those in no branch of a gold skill (:func:`outside_branches`). Returns how many
    records got at least one. Mined once, with the starting model."""
    unit_labels = torch.nn.functional.normalize(model.embed_skill_labels(tokenizer, labels), dim=-1)
    found = 0
    for start in tqdm(range(0, len(records), batch_size), desc="Mining lexical negatives", unit="batch",
                      file=sys.stderr):
        part = records[start : start + batch_size]
        texts = torch.nn.functional.normalize(model.embed_skill_labels(tokenizer, [r["text"] for r in part]), dim=-1)
        for record, top in zip(part, (texts @ unit_labels.T).topk(k, dim=1).indices.tolist()):
            present = set(words(record["text"]))
            prefixes = stems(present)
            gold = None if branches is None else [branches[s] for s in record["skills"] if s in branches]
            record["negatives"] = [labels[i] for i in top if labels[i] not in record["skills"]
                                   and shares_a_word(present, labels[i], prefixes)
                                   and (gold is None or outside_branches(branches[labels[i]], gold))]
            found += bool(record["negatives"])
    return found


def length_bucketed_batches(records: list[dict], batch_size: int, seed: int, pool: int = 50) -> list[list[int]]:
    """Shuffled batches of record indices in which texts have similar lengths (less padding, same randomness):
    shuffle, sort each pool of ``pool`` batches by text length, cut into batches, shuffle the batches.

    >>> batches = length_bucketed_batches([{"text": "x" * n} for n in range(10)], 2, seed=0, pool=5)
    >>> sorted(i for b in batches for i in b) == list(range(10)), all(abs(b[0] - b[1]) <= 2 for b in batches)
    (True, True)
    """
    rng = random.Random(seed)
    order = list(range(len(records)))
    rng.shuffle(order)
    batches = []
    for start in range(0, len(order), pool * batch_size):
        chunk = sorted(order[start : start + pool * batch_size], key=lambda i: len(records[i]["text"]))
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    batches = [b for b in batches if len(b) == batch_size]
    rng.shuffle(batches)
    return batches


def contrastive_loss(model, tokenizer, batch: list[dict], rng: random.Random, config: TrainConfig,
                     alt_labels: dict[str, tuple[str, ...]] | None = None,
                     neighbours: dict[str, list[str]] | None = None) -> torch.Tensor:
    """In-batch cross-entropy of ConTeXT scores (texts x distinct skills of the batch, hard negatives from
    ``neighbours`` included), plus ``config.skill_weight`` times the skill-skill term when ``alt_labels``
    (preferred label -> alternative labels) are given."""
    labels, targets, mask = batch_targets(batch, rng, neighbours)
    device = model.device
    texts = tokenizer([r["text"] for r in batch], padding=True, truncation=True, max_length=config.max_text_length,
                      return_tensors="pt").to(device)
    written = skill_side_labels(labels, alt_labels or {}, config.alt_label_rate, rng)
    sampled, table = column_labels(written, labels, alt_labels or {}, config.train_labels, rng)
    skills = _tokenize_labels(model, tokenizer, sampled)
    label_vectors = model.encode_skills(skills["input_ids"], skills["attention_mask"])
    scores = model.score(model.encode_sentences(texts["input_ids"], texts["attention_mask"]),
                         texts["attention_mask"], label_vectors)
    scores = aggregate_label_scores(scores, table.to(device), config.label_mix)
    skill_vectors = label_vectors[: len(labels)]
    logits = (config.scale * scores).masked_fill(mask.to(device), float("-inf"))
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(targets, device=device))
    if config.skill_weight and alt_labels:
        loss = loss + config.skill_weight * skill_skill_loss(model, tokenizer, labels, skill_vectors, alt_labels,
                                                             rng, config.scale, written)
    return loss


def skill_side_labels(labels: list[str], alt_labels: dict[str, tuple[str, ...]], rate: float,
                      rng: random.Random) -> list[str]:
    """The text each skill column is encoded from: its preferred label, or with chance ``rate`` one of its
    alternative labels (so that the model learns to match every label of a skill, as the all-label scoring uses it).

    >>> skill_side_labels(["a", "b"], {"a": ("a2", "a3")}, 1.0, random.Random(0))
    ['a3', 'b']
    >>> skill_side_labels(["a", "b"], {"a": ("a2",)}, 0.0, random.Random(0))
    ['a', 'b']
    """
    if not rate:
        return list(labels)
    return [rng.choice(alt_labels[label]) if alt_labels.get(label) and rng.random() < rate else label
            for label in labels]


def column_labels(written: list[str], labels: list[str], alt_labels: dict[str, tuple[str, ...]], k: int,
                  rng: random.Random) -> tuple[list[str], torch.Tensor]:
    """The texts to encode for the skill columns, ``written`` first (one per column), then up to ``k`` other labels
    of each column's skill, and the (columns, 1 + k) table of each column's texts, padded with -1, that
    :func:`modeling_contextmatch.aggregate_label_scores` aggregates (first the written one: the preferred label
    unless ``--alt-label-rate`` rewrote it).

    >>> column_labels(["a", "b"], ["a", "b"], {"a": ("a1", "a2", "a3")}, 2, random.Random(0))
    (['a', 'b', 'a2', 'a3'], tensor([[ 0,  2,  3],
            [ 1, -1, -1]]))
    >>> column_labels(["a"], ["a"], {"a": ("a1",)}, 0, random.Random(0))
    (['a'], tensor([[0]]))
    """
    texts, table = list(written), torch.full((len(labels), 1 + k), -1, dtype=torch.long)
    table[:, 0] = torch.arange(len(labels))
    for column, (label, text) in enumerate(zip(labels, written)):
        others = [other for other in (label, *alt_labels.get(label, ())) if other != text]
        for slot, other in enumerate(rng.sample(others, min(k, len(others))), start=1):
            table[column, slot] = len(texts)
            texts.append(other)
    return texts, table


def _tokenize_labels(model, tokenizer, labels: list[str]):
    return tokenizer(labels, padding=True, truncation=True, max_length=model.config.max_skill_length,
                     return_tensors="pt").to(model.device)


def skill_pairs(labels: list[str], written: list[str], alt_labels: dict[str, tuple[str, ...]],
                rng: random.Random) -> list[tuple[int, str]]:
    """For the skill-skill term: each column that has another label to pair with, and that label, drawn from the
    skill's labels other than the text the column was encoded from (its preferred label, or with
    ``--alt-label-rate`` an alternative one).

    >>> skill_pairs(["a", "b", "c"], ["a", "b2", "c"], {"a": ("a2",), "b": ("b2",)}, random.Random(0))
    [(0, 'a2'), (1, 'b')]
    """
    pairs = []
    for i, (label, text) in enumerate(zip(labels, written)):
        others = [other for other in (label, *alt_labels.get(label, ())) if other != text]
        if alt_labels.get(label) and others:
            pairs.append((i, rng.choice(others)))
    return pairs


def skill_skill_loss(model, tokenizer, labels: list[str], label_vectors: torch.Tensor,
                     alt_labels: dict[str, tuple[str, ...]], rng: random.Random, scale: float,
                     written: list[str] | None = None) -> torch.Tensor:
    """Symmetric in-batch cross-entropy between the pooled vectors of the skill columns (``label_vectors``,
    encoded from ``written``: the preferred labels unless ``--alt-label-rate`` rewrote some) and of another label
    of each skill (:func:`skill_pairs`; skills without alternative labels sit out)."""
    pairs = skill_pairs(labels, written or labels, alt_labels, rng)
    if len(pairs) < 2:
        return label_vectors.sum() * 0.0
    rows = [i for i, _ in pairs]
    alts = _tokenize_labels(model, tokenizer, [other for _, other in pairs])
    alt_vectors = torch.nn.functional.normalize(model.encode_skills(alts["input_ids"], alts["attention_mask"]), dim=-1)
    pref_vectors = torch.nn.functional.normalize(label_vectors[rows], dim=-1)
    logits = scale * pref_vectors @ alt_vectors.T
    target = torch.arange(len(rows), device=logits.device)
    return (torch.nn.functional.cross_entropy(logits, target) + torch.nn.functional.cross_entropy(logits.T, target)) / 2


def r_precision_at_k(scores: torch.Tensor, gold: list[list[int]], k: int) -> float:
    """Mean RP@k: gold items in the top k of each row, divided by min(k, number of gold items); rows without
    gold are skipped. The same definition as the ``skill_ranking`` metric module (a test checks they agree).

    >>> r_precision_at_k(torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.3, 0.1]]), [[0, 1], [2]], k=2)
    0.25
    """
    top = torch.topk(scores, min(k, scores.shape[1]), dim=1).indices.tolist()
    values = [len(set(row) & set(golds)) / min(k, len(set(golds))) for row, golds in zip(top, gold) if golds]
    return sum(values) / len(values) if values else 0.0


@torch.inference_mode()
def windowed_scores(model, tokenizer, sentences: list[str], skills: torch.Tensor) -> torch.Tensor:
    """(sentences, skills) ConTeXT scores as the extractor computes them: a sentence longer than the encoder's
    window is split into the same word-aligned windows and takes each skill's best window score."""
    from ..skills.evidence import token_windows

    budget = model.config.max_sentence_length - len(tokenizer("")["input_ids"])
    offsets = tokenizer(sentences, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"] \
        if sentences else []
    owners, texts = [], []
    for index, (sentence, pieces) in enumerate(zip(sentences, offsets)):
        for start, end, *_ in token_windows(sentence, pieces, budget):
            owners.append(index)
            texts.append(sentence[start:end])
    window_scores = model.score_sentences(tokenizer, texts, skills).float().cpu()
    scores = torch.full((len(sentences), skills.shape[0]), float("-inf"))
    if not texts:
        return scores
    rows = torch.tensor(owners, dtype=torch.long).unsqueeze(1).expand_as(window_scores)
    return scores.scatter_reduce_(0, rows, window_scores, "amax")


@torch.inference_mode()
def validate(model, tokenizer, benchmarks: list[str]) -> dict[str, float]:
    """RP@5 (percent) on the validation split of each benchmark, with the current weights; long sentences are
    split into windows as ``contextmatch evaluate`` does."""
    if not benchmarks:
        return {}
    model.eval()
    esco = load_esco()
    skills = model.embed_skill_labels(tokenizer, esco.skill_labels)
    column = {label: i for i, label in enumerate(esco.skill_labels)}
    result = {}
    for name in benchmarks:
        bench = load_benchmark(name, "validation", set(column))
        scores = windowed_scores(model, tokenizer, bench.sentences, skills)
        gold = [[column[label] for label in labels] for labels in bench.gold]
        result[name] = round(100 * r_precision_at_k(scores, gold, 5), 2)
    model.train()
    return result


def transformer_layers(model) -> torch.nn.ModuleList:
    """The encoder's stack of transformer layers (BERT, MPNet and alike keep it at ``encoder.layer``)."""
    try:
        return model.encoder.encoder.layer
    except AttributeError as err:
        raise ValueError(f"train_layers needs an encoder with an encoder.layer stack; "
                         f"{type(model.encoder).__name__} has none") from err


def freeze_lower_layers(model, train_layers: int) -> list[torch.nn.Parameter]:
    """Freeze every weight but the top ``train_layers`` transformer layers; return the trainable parameters."""
    layers = transformer_layers(model)
    if not 1 <= train_layers <= len(layers):
        raise ValueError(f"train_layers must be between 1 and {len(layers)}, not {train_layers}")
    model.requires_grad_(False)
    for layer in layers[len(layers) - train_layers:]:
        layer.requires_grad_(True)
    return [p for p in model.parameters() if p.requires_grad]


def set_train_mode(model, config: TrainConfig) -> None:
    """Training mode for what is trained; frozen layers stay in eval mode (no dropout), as at inference."""
    model.train()
    if config.train_layers:
        layers = transformer_layers(model)
        model.encoder.embeddings.eval()
        for layer in layers[: len(layers) - config.train_layers]:
            layer.eval()


def _save_checkpoint(path: Path, model, optimizer, scheduler, state: dict) -> None:
    partial = path.with_suffix(".partial")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "state": state}, partial)
    partial.replace(path)  # atomic: a kill never leaves a broken checkpoint


def run_folder(path: str | Path, resume: bool) -> Path:
    """The run's output folder, created; a folder with files in it only when resuming."""
    out = Path(path)
    if out.exists() and any(out.iterdir()) and not resume:
        raise FileExistsError(f"{out} is not empty: pass --resume to continue its run, or choose a new --out")
    out.mkdir(parents=True, exist_ok=True)
    return out


def autocast_precision(device: torch.device) -> str:
    """What ``precision="auto"`` trains in on ``device``: bf16 where bfloat16 matrix products run natively (CUDA,
    CPUs with AMX tiles), else fp32."""
    from ..skills.quantize import amx_cpu

    return "bf16" if device.type == "cuda" or amx_cpu() else "fp32"


def mean_rp(scores: dict[str, float]) -> float:
    """The mean validation RP@5 over benchmarks, rounded as the history stores it; 0 without validation (then the
    last model is kept).

    >>> mean_rp({"tech": 70.0, "house": 61.0}), mean_rp({})
    (65.5, 0.0)
    """
    return round(sum(scores.values()) / len(scores), 2) if scores else 0.0


def train(config: TrainConfig, resume: bool = False) -> dict:
    """Train, validating every ``eval_every`` steps; the best model by mean RP@5 goes to ``<out>/best``. With
    ``config.soup`` above 1, train that many seeds and average them (:func:`contextmatch.training.soup.train_soup`)."""
    from ..models import load_model

    if config.soup > 1:
        from .soup import train_soup

        return train_soup(config, resume)

    if config.threads:
        torch.set_num_threads(config.threads)
    if config.precision not in PRECISIONS:
        raise ValueError(f"precision {config.precision!r}: choose one of {', '.join(PRECISIONS)}")
    if config.lexical_scope not in LEXICAL_SCOPES:
        raise ValueError(f"lexical_scope {config.lexical_scope!r}: choose one of {', '.join(LEXICAL_SCOPES)}")
    if config.lexical_scope != "any" and not config.lexical_negatives:
        raise ValueError("lexical_scope only filters lexical negatives: set lexical_negatives (--lexical-negatives K)")
    torch.manual_seed(config.seed)
    out = run_folder(config.out, resume)
    checkpoint = out / "checkpoint.pt"
    records = read_pairs(config.data, config.sources, config.repeat)
    model, tokenizer = load_model(config.base, config.device)
    if config.precision == "auto":  # recorded as what it resolved to, in train_config.json
        config = replace(config, precision=autocast_precision(model.device))
    model.config.attend_special_tokens = config.attend_special_tokens
    alt_labels = ({skill.label: skill.alt_labels for skill in load_esco().skills}
                  if config.skill_weight or config.alt_label_rate or config.train_labels else None)
    neighbours = None
    if config.hard_negatives:  # mined once, with the starting model
        labels = load_esco().skill_labels
        with torch.inference_mode():
            neighbours = nearest_labels(model.embed_skill_labels(tokenizer, labels), labels, config.hard_negatives)
    if config.lexical_negatives:
        with torch.inference_mode():
            esco = load_esco()
            branches = skill_branches(esco) if config.lexical_scope == "other-branch" else None
            mined = lexical_negatives(records, model, tokenizer, esco.skill_labels, config.lexical_negatives,
                                      branches=branches)
        print(f"lexical negatives for {mined:,} of {len(records):,} texts", file=sys.stderr)
    parameters = freeze_lower_layers(model, config.train_layers) if config.train_layers else list(model.parameters())
    steps_per_epoch = len(records) // config.batch_size
    total = config.max_steps or max(1, int(steps_per_epoch * config.epochs))
    end = min(total, config.stop_at or total)
    optimizer = torch.optim.AdamW(parameters, lr=config.lr, weight_decay=0.01)
    warmup = max(1, int(config.warmup * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup))))
    state = {"step": 0, "best": None, "history": [], "seconds": 0.0, "config": asdict(config)}
    if resume and checkpoint.exists():
        saved = torch.load(checkpoint, map_location=model.device, weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        state = saved["state"]
    (out / "train_config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    bar = tqdm(total=end, initial=state["step"], desc=f"Training (seed {config.seed})", unit="step", file=sys.stderr)
    started = time.time() - state["seconds"]
    epoch_batches: dict[int, list[list[int]]] = {}
    while state["step"] < end:
        step = state["step"]
        epoch, position = divmod(step, steps_per_epoch)
        if epoch not in epoch_batches:  # the same batches again after a resume
            epoch_batches = {epoch: length_bucketed_batches(records, config.batch_size, config.seed + epoch)}
        batch = [records[i] for i in epoch_batches[epoch][position]]
        torch.manual_seed(config.seed * 1_000_003 + step)  # dropout too is the same after a resume
        set_train_mode(model, config)  # also after validate(), which switches to eval mode
        with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16"):
            loss = contrastive_loss(model, tokenizer, batch, random.Random(config.seed * 1_000_003 + step), config,
                                    alt_labels, neighbours)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        state["step"] = step + 1
        state["seconds"] = time.time() - started
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}")
        finished = state["step"] == end
        if state["step"] % config.eval_every == 0 or finished:
            scores = validate(model, tokenizer, config.validation)
            mean = mean_rp(scores)
            state["history"].append({"step": state["step"], "rp@5": scores, "mean": mean,
                                     "seconds": round(state["seconds"])})
            bar.write(f"step {state['step']}: validation RP@5 {scores} (mean {mean})")
            (out / "history.json").write_text(json.dumps(state["history"], indent=2) + "\n")
            if state["best"] is None or mean > state["best"]["mean"] or not scores:
                state["best"] = state["history"][-1]
                _save_model(model, tokenizer, out / "best", config, state)
        if state["step"] % config.save_every == 0 or finished:
            _save_checkpoint(checkpoint, model, optimizer, scheduler, state)
    bar.close()
    return state


def _save_model(model, tokenizer, folder: Path, config: TrainConfig, state: dict) -> None:
    model.config.training = (f"contrastive ConTeXT training on {Path(config.data).name} "
                             f"({', '.join(config.sources) if config.sources else 'all sources'}), step {state['step']}, "
                             f"batch {config.batch_size}, lr {config.lr}, scale {config.scale}, seed {config.seed}")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    model.config.training = None
    (folder / "validation.json").write_text(json.dumps(state["history"][-1], indent=2) + "\n")

