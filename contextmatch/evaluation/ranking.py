"""The evaluation harness: rank all ESCO skills for each benchmark sentence with a system, score the rankings.

Systems: ``contextmatch`` (a ConTeXT-match model, trained or a zero-shot wrapped encoder), ``cosine`` (the
encoder's mean-pooled sentence vector against mean-pooled label vectors: the approach of the PyPI extractors) and
``bm25`` (lexical, over each skill's preferred and alternative labels). Metrics come from the ``evaluate`` module in
``metrics/skill_ranking``.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from ..esco import DEFAULT_ESCO_VERSION, load_esco
from ..skills.labels import DEFAULT_AGGREGATION
from ..text import bm25_words
from .benchmarks import Benchmark, load_benchmark

REPO_DIR = Path(__file__).resolve().parents[2]
METRIC_DIR = REPO_DIR / "metrics" / "skill_ranking"
RESULTS_DIR = REPO_DIR / "results" / "skills"
K_VALUES = (1, 5, 10)
SYSTEM_KINDS = ("contextmatch", "cosine", "bm25")


@dataclass(frozen=True)
class System:
    """What ranks the skills: ``kind`` in :data:`SYSTEM_KINDS` and, except for bm25, a model name or folder; a
    contextmatch system scores each skill by its preferred label or by all its labels (``skill_labels="all"``,
    aggregated by ``label_aggregation``, see :class:`contextmatch.SkillExtractor`)."""

    kind: str
    model: str | None = None
    skill_labels: str = "preferred"
    label_aggregation: str = DEFAULT_AGGREGATION
    label_pool: int | None = None

    @property
    def name(self) -> str:
        if self.kind == "bm25":
            return "BM25 over ESCO labels"
        label = _model_label(self.model)
        if self.kind == "contextmatch" and self.skill_labels == "all":
            pool = f", pool {self.label_pool}" if self.label_pool else ""
            return f"ConTeXT-match, {label}, all labels {self.label_aggregation}{pool}"
        if self.kind == "contextmatch":
            return f"ConTeXT-match, {label}"
        return f"mean-pooled cosine, {label.removesuffix(' (zero-shot)')}"


def _model_label(model: str | None) -> str:
    from ..models import default_model, shipped_model_dir

    name = model or default_model()
    path = shipped_model_dir(name) or Path(name)  # a shipped model by name, as load_model resolves it
    if (path / "config.json").exists():
        config = json.loads((path / "config.json").read_text())
        if config.get("model_type") == "contextmatch" and config.get("training"):
            return f"{path.name} (trained)"
        return f"{config.get('base_model') or path.name} (zero-shot)" if config.get("model_type") == "contextmatch" \
            else f"{path.name} (zero-shot)"
    return f"{name} (zero-shot)"


def load_metric():
    import evaluate

    return evaluate.load(str(METRIC_DIR))


def score_matrix(system: System, sentences: list[str], esco_version: str = DEFAULT_ESCO_VERSION) -> torch.Tensor:
    """Scores (sentences, skills) of every ESCO skill for each sentence; higher ranks first."""
    if system.skill_labels != "preferred" and system.kind != "contextmatch":
        raise ValueError(f"skill_labels={system.skill_labels!r} needs a contextmatch system, not {system.kind!r}")
    esco = load_esco(esco_version)
    if system.kind == "bm25":
        return bm25_scores(sentences, esco)
    from ..skills.extractor import SkillExtractor

    extractor = SkillExtractor(system.model, esco_version=esco_version, skill_labels=system.skill_labels,
                               label_aggregation=system.label_aggregation, label_pool=system.label_pool)
    if system.kind == "contextmatch":
        return extractor.score_sentences(sentences, progress=True)
    if system.kind == "cosine":
        return cosine_scores(extractor, sentences)
    raise ValueError(f"unknown system {system.kind!r}: choose one of {', '.join(SYSTEM_KINDS)}")


@torch.inference_mode()
def cosine_scores(extractor, sentences: list[str], batch_size: int = 64) -> torch.Tensor:
    """Cosine of each sentence's mean-pooled embedding with each mean-pooled skill label embedding."""
    model, tokenizer = extractor.model, extractor.tokenizer
    skills = torch.nn.functional.normalize(extractor.skill_embeddings.float(), dim=-1)
    rows = []
    for start in range(0, len(sentences), batch_size):
        batch = tokenizer(sentences[start : start + batch_size], padding=True, truncation=True,
                          max_length=model.config.max_sentence_length, return_tensors="pt").to(model.device)
        pooled = model.encode_skills(batch["input_ids"], batch["attention_mask"])  # mean pooling, as for labels
        rows.append((torch.nn.functional.normalize(pooled.float(), dim=-1) @ skills.T).cpu())
    return torch.cat(rows) if rows else torch.zeros((0, skills.shape[0]))


def bm25_scores(sentences: list[str], esco) -> torch.Tensor:
    """BM25 (Okapi, rank_bm25 defaults) of each sentence against one document per skill: its preferred label and
    all its alternative labels."""
    from rank_bm25 import BM25Okapi

    index = BM25Okapi([bm25_words(" ".join((s.label, *s.alt_labels))) for s in esco.skills])
    import numpy as np

    rows = np.array([index.get_scores(bm25_words(sentence)) for sentence in sentences], dtype=np.float32)
    return torch.from_numpy(rows.reshape(len(sentences), len(esco.skills)))


def ranking_metrics(scores: torch.Tensor, gold: list[list[str]], labels: list[str], metric=None) -> dict:
    """RP@K, Recall@K, nDCG@K, MRR and MAP of score rows against gold label lists (ranks are exact: each ranking
    is cut after its deepest gold label, and at least after max K)."""
    metric = metric or load_metric()
    position = {label: i for i, label in enumerate(labels)}
    predictions = []
    for row, golds in zip(scores, gold):
        order = torch.argsort(row, descending=True, stable=True)
        rank_of = torch.empty_like(order)
        rank_of[order] = torch.arange(len(order))
        depth = max([max(K_VALUES)] + [int(rank_of[position[g]]) + 1 for g in golds if g in position])
        predictions.append([labels[i] for i in order[:depth].tolist()])
    return metric.ranking_metrics(predictions, gold, k_values=list(K_VALUES))


def evaluate_system(system: System, benchmark: Benchmark, esco_version: str = DEFAULT_ESCO_VERSION,
                    metric=None) -> dict:
    """Results of one system on one benchmark, as written to the results file."""
    labels = load_esco(esco_version).skill_labels
    scores = score_matrix(system, benchmark.sentences, esco_version)
    raw = ranking_metrics(scores, benchmark.gold, labels, metric)
    metrics = {key: round(100 * value, 2) for key, value in raw.items() if "@" in key}
    metrics["mrr"] = round(raw["mrr"], 4)
    metrics["map"] = round(raw["map"], 4)
    return {
        "system": system.name,
        "kind": system.kind,
        "model": system.model,
        **({"skill_labels": system.skill_labels, "label_aggregation": system.label_aggregation,
            **({"label_pool": system.label_pool} if system.label_pool else {})}
           if system.skill_labels != "preferred" else {}),
        "benchmark": benchmark.name,
        "split": benchmark.split,
        **metrics,
        "n_queries": benchmark.n_queries,
        "n_dropped": benchmark.n_dropped,
        "n_sentences": benchmark.n_sentences,
        "n_unknown_labels": sum(benchmark.unknown_labels.values()),
        "esco_version": esco_version,
        "units": "rp@K, recall@K, ndcg@K in percent; mrr and map as fractions",
        "date": datetime.date.today().isoformat(),
    }


def write_result(result: dict, results_dir: Path = RESULTS_DIR) -> Path:
    """Write ``<results_dir>/<benchmark>__<split>__<system slug>.json``; names it under ``results_file``
    (repository-relative when inside the repository)."""
    slug = re.sub(r"[^a-z0-9]+", "-", f"{result['system']}".lower()).strip("-")
    path = Path(results_dir) / f"{result['benchmark']}__{result['split']}__{slug}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    resolved = path.resolve()
    result["results_file"] = str(resolved.relative_to(REPO_DIR) if resolved.is_relative_to(REPO_DIR) else path)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return path


def baseline_systems(model: str | None, skill_labels: str = "preferred",
                     label_aggregation: str = DEFAULT_AGGREGATION, label_pool: int | None = None) -> list[System]:
    """The model itself (scored with ``skill_labels``), plus BM25, the base encoder's mean-pooled cosine and its
    zero-shot ConTeXT scoring."""
    from ..models import MINILM, default_model

    name = model or default_model()
    base = MINILM
    config_file = Path(name) / "config.json"
    if config_file.exists():
        base_model = json.loads(config_file.read_text()).get("base_model") or ""
        base = base_model.split("/")[-1] or name
    systems = [System("contextmatch", model, skill_labels, label_aggregation, label_pool), System("bm25"),
               System("cosine", base), System("contextmatch", base)]
    unique = []
    for system in systems:
        if system.name not in [s.name for s in unique]:
            unique.append(system)
    return unique


def evaluate_benchmarks(systems: list[System], benchmarks: list[tuple[str, str | None]],
                        esco_version: str = DEFAULT_ESCO_VERSION, results_dir: Path | None = RESULTS_DIR) -> list[dict]:
    """Evaluate every system on every (benchmark, split); write one results file each when ``results_dir``."""
    known = set(load_esco(esco_version).skill_by_label)
    metric = load_metric()
    results = []
    for name, split in benchmarks:
        benchmark = load_benchmark(name, split, known)
        for system in systems:
            result = evaluate_system(system, benchmark, esco_version, metric)
            if results_dir is not None:
                write_result(result, results_dir)
            results.append(result)
    return results


def format_table(results: list[dict]) -> str:
    """An aligned text table of results: one row per (benchmark, split, system)."""
    header = f"{'benchmark':<10} {'split':<10} {'system':<52} {'RP@1':>6} {'RP@5':>6} {'RP@10':>6} {'MRR':>6} " \
             f"{'queries':>7} {'dropped':>7}"
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(f"{r['benchmark']:<10} {r['split']:<10} {r['system'][:52]:<52} {r['rp@1']:6.2f} {r['rp@5']:6.2f} "
                     f"{r['rp@10']:6.2f} {r['mrr']:6.3f} {r['n_queries']:7d} {r['n_dropped']:7d}")
    return "\n".join(lines)


def results_markdown(system_name: str, results_dir: Path = RESULTS_DIR) -> str | None:
    """A Markdown table of every results file of ``system_name``, with the command that reproduces them."""
    rows = []
    for path in sorted(Path(results_dir).glob("*.json")):
        r = json.loads(path.read_text())
        if r.get("system") == system_name:
            rows.append(f"| {r['benchmark']} | {r['split']} | {r['rp@1']:.2f} | {r['rp@5']:.2f} | {r['rp@10']:.2f} | "
                        f"{r['mrr']:.3f} | {r['n_queries']} |")
    if not rows:
        return None
    return "\n".join([
        "Measured with `contextmatch evaluate --benchmark tech house --split test` and `--benchmark tech house "
        "skill-xl --split validation` (all 13,891 ESCO v1.1.0 skills ranked per sentence; RP in percent):",
        "", "| benchmark | split | RP@1 | RP@5 | RP@10 | MRR | queries |", "|---|---|---|---|---|---|---|", *rows])
