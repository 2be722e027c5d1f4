"""Evaluation of job-title normalization: rank all 3,008 ESCO v1.1.0 occupations for each title.

A benchmark is any CSV (optionally gzip-compressed) with a title column and an ESCO occupation URI column; the
default is the JobBERT evaluation set shipped as ``contextmatch/data/benchmarks/jobbert_titles.csv.gz``. Rows whose
URI is not an occupation of the ESCO version are reported and dropped.

Metrics: MRR (a fraction) and Acc@1/5/10 (percent) of the gold occupation. Many ESCO labels belong to several
occupations, so exact score ties are common (1,366 JobBERT titles tie with the zero-shot MiniLM); by default they
are scored by their expectation over a random order of the tied occupations (``ties="mean"``), neither optimistic
nor pessimistic.

Systems (``scorer_for``): ``bm25`` (lexical, best label per occupation), a plain encoder such as
``all-MiniLM-L6-v2`` (mean-pooled cosine, best label per occupation) and a title-model folder (title head; best label
plus the occupation-centroid cosine, see :class:`~contextmatch.titles.normalizer.TitleNormalizer`).
``python -m contextmatch.evaluation.titles --system bm25 all-MiniLM-L6-v2 contextmatch/models/title-default`` writes one
JSON file per (system, benchmark) under ``results/titles/``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Callable

import torch

from ..esco import DEFAULT_ESCO_VERSION, load_esco
from ..text import bm25_words
from .title_benchmarks import JOBBERT_TITLES, PACKAGE_DIR, SPLITS, read_title_benchmark


REPO_DIR = PACKAGE_DIR.parent
RESULTS_DIR = REPO_DIR / "results" / "titles"
K_VALUES = (1, 5, 10)
TIES = ("mean", "optimistic", "pessimistic")


# -- metrics -----------------------------------------------------------------------------------------------------
def rank_metrics(scores: torch.Tensor, gold: torch.Tensor, k_values=K_VALUES, ties: str = "mean") -> dict:
    """MRR and Acc@K of the ``gold`` column of each ``scores`` row (higher scores rank first).

    ``ties``: ``mean`` scores a gold item tied with others by its expectation over a random order of the tied
    items; ``optimistic`` ranks it first among them, ``pessimistic`` last. MRR is a fraction, Acc@K a percent.

    >>> scores = torch.tensor([[0.9, 0.5, 0.1], [0.2, 0.8, 0.8], [0.3, 0.2, 0.1]])
    >>> gold = torch.tensor([1, 2, 2])
    >>> # ranks: 2; 1 or 2 (tied with item 1); 3.  MRR = (1/2 + (1 + 1/2)/2 + 1/3) / 3
    >>> result = rank_metrics(scores, gold, k_values=(1, 2))
    >>> round(result["mrr"], 4), result["acc@1"], result["acc@2"]
    (0.5278, 16.67, 66.67)
    >>> rank_metrics(scores, gold, k_values=(1,), ties="optimistic")["acc@1"]
    33.33
    """
    if ties not in TIES:
        raise ValueError(f"unknown ties policy {ties!r}: choose one of {', '.join(TIES)}")
    if len(gold) == 0:
        return {"mrr": 0.0, **{f"acc@{k}": 0.0 for k in k_values}}
    above, level = _gold_position(scores, gold, ties)
    result = {"mrr": round(float(_expected_reciprocal(above, level).mean()), 4)}
    for k in k_values:
        hit = ((k - above).clamp(min=0) / level).clamp(max=1)
        result[f"acc@{k}"] = round(100 * float(hit.mean()), 2)
    return result


def reciprocal_ranks(scores: torch.Tensor, gold: torch.Tensor, ties: str = "mean") -> torch.Tensor:
    """Per-query reciprocal rank of the ``gold`` column (ties as in :func:`rank_metrics`, whose MRR is its mean).

    >>> [round(r, 4) for r in reciprocal_ranks(torch.tensor([[0.9, 0.5], [0.8, 0.8]]), torch.tensor([1, 0])).tolist()]
    [0.5, 0.75]
    """
    if ties not in TIES:
        raise ValueError(f"unknown ties policy {ties!r}: choose one of {', '.join(TIES)}")
    return _expected_reciprocal(*_gold_position(scores, gold, ties))


def _gold_position(scores: torch.Tensor, gold: torch.Tensor, ties: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(items scored above the gold one, size of its tie group) per query, with ``ties`` applied."""
    scores = scores.double()
    target = scores.gather(1, gold.view(-1, 1).to(scores.device))
    above = (scores > target).sum(1).double().cpu()
    level = (scores == target).sum(1).double().cpu()  # the gold item and the items tied with it
    if ties == "optimistic":
        level = torch.ones_like(level)
    elif ties == "pessimistic":
        above, level = above + level - 1, torch.ones_like(level)
    return above, level


def _expected_reciprocal(above: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    """Ranks above+1 .. above+level, equally likely: E[1/rank] = (H(above+level) - H(above)) / level."""
    harmonic = lambda n: torch.special.digamma(n + 1)  # H(n) up to a constant that cancels  # noqa: E731
    return (harmonic(above + level) - harmonic(above)) / level


# -- systems -----------------------------------------------------------------------------------------------------
class BM25Scorer:
    """Lexical baseline: BM25 (Okapi, rank_bm25's defaults) of the title against each occupation label (preferred,
    alternative, hidden) as its own document; an occupation scores as its best label. The label term weights are
    precomputed into a sparse matrix, which gives rank_bm25's scores exactly, much faster."""

    name = "BM25 over ESCO occupation labels"

    def __init__(self, esco_version: str = DEFAULT_ESCO_VERSION):
        from rank_bm25 import BM25Okapi

        from ..titles.normalizer import occupation_labels

        self.esco = load_esco(esco_version)
        labels, self.owners = occupation_labels(self.esco)
        documents = [bm25_words(label) or [""] for label in labels]
        self.index = BM25Okapi(documents)
        vocabulary: dict[str, int] = {}
        rows, cols, values = [], [], []
        k1, b, average = self.index.k1, self.index.b, self.index.avgdl
        for doc, (frequencies, length) in enumerate(zip(self.index.doc_freqs, self.index.doc_len)):
            for word, tf in frequencies.items():
                weight = self.index.idf.get(word, 0.0) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / average))
                rows.append(vocabulary.setdefault(word, len(vocabulary)))
                cols.append(doc)
                values.append(weight)
        self.vocabulary = vocabulary
        # (labels, words) term weights: a title's scores are this matrix times its word counts
        self.weights = torch.sparse_coo_tensor([cols, rows], values, (len(labels), len(vocabulary)),
                                               dtype=torch.float32, check_invariants=True).coalesce()

    def label_scores(self, titles: list[str]) -> torch.Tensor:
        """(titles, labels) BM25 scores; equal to ``rank_bm25.BM25Okapi.get_scores`` of each title."""
        counts = torch.zeros((len(titles), len(self.vocabulary)))
        for row, title in enumerate(titles):
            for word in bm25_words(title):
                if word in self.vocabulary:
                    counts[row, self.vocabulary[word]] += 1
        return torch.sparse.mm(self.weights, counts.T).T

    def score_occupations(self, titles: list[str], progress: bool = False) -> torch.Tensor:
        from ..titles.normalizer import max_per_group

        parts = []
        for start in range(0, len(titles), 512):
            values, _ = max_per_group(self.label_scores(titles[start:start + 512]), self.owners,
                                      len(self.esco.occupations))
            parts.append(values)
        return torch.cat(parts) if parts else torch.empty((0, len(self.esco.occupations)))


def scorer_for(system: str | None, esco_version: str = DEFAULT_ESCO_VERSION, device: str | None = None,
               centroid_weight: float | None = None, prior_weight: float | None = None,
               prior_counts: dict[str, int] | None = None):
    """``bm25``, a base encoder name (zero-shot mean-pooled cosine) or a title-model folder (``None``: the shipped
    default title model, else zero-shot MiniLM). ``centroid_weight`` (see
    :class:`~contextmatch.titles.normalizer.TitleNormalizer`) defaults to 0 for a plain encoder (best label per
    occupation: the baseline) and to the normalizer's default for a title model. ``prior_weight`` / ``prior_counts``:
    the occupation prior (see :class:`~contextmatch.titles.normalizer.TitleNormalizer`; default: the model folder's, if
    it has one)."""
    if system == "bm25":
        return BM25Scorer(esco_version)
    from ..titles.model import TitleModel
    from ..titles.normalizer import TitleNormalizer

    model = TitleModel.from_pretrained(system, device=device)
    if centroid_weight is None and not model.has_heads:
        centroid_weight = 0.0
    if prior_counts is not None and prior_weight is None:
        raise ValueError("give prior_weight with prior_counts")
    return TitleNormalizer(model, esco_version=esco_version, centroid_weight=centroid_weight,
                           prior_weight=prior_weight, prior_counts=prior_counts)


def system_name(scorer) -> str:
    """A readable name for a results table."""
    if isinstance(scorer, BM25Scorer):
        return scorer.name
    model = getattr(scorer, "model", None)
    if model is not None:
        label = Path(model.name).name if Path(model.name).exists() else model.name.split("/")[-1]
        weight = getattr(scorer, "centroid_weight", 0.0)
        how = f"best label + {weight:g} x centroid" if weight else "best label"
        if getattr(scorer, "prior_weight", 0.0):
            how += f" + {scorer.prior_weight:g} x log-count prior (scale {scorer.prior_scale:g})"
        if not model.has_heads:
            return f"mean-pooled cosine, {label} (zero-shot), {how}"
        info = Path(model.name) / "training_info.json"
        trained = json.loads(info.read_text()) if info.exists() else {}
        base = trained.get("base", "")
        pairs = (trained.get("data") or {}).get("pair_anchors")
        on = base.split("/")[-1] + (f" + {pairs:,} labelled titles" if pairs else "")
        return f"title model {label}" + (f" (trained on {on})" if base else "") + f", {how}"
    return type(scorer).__name__


# -- evaluation --------------------------------------------------------------------------------------------------
def evaluate_titles(normalizer_or_scorer, csv_path: str | Path = JOBBERT_TITLES, title_column: str = "vacancyTitle",
                    uri_column: str = "conceptUri", split: str = "all", esco_version: str = DEFAULT_ESCO_VERSION,
                    ties: str = "mean", progress: bool = False) -> dict:
    """Rank all ESCO occupations for each benchmark title and score the gold occupation.

    ``normalizer_or_scorer``: a :class:`~contextmatch.titles.normalizer.TitleNormalizer`, any object with
    ``score_occupations(titles) -> Tensor (titles, occupations)`` in ``load_esco(esco_version).occupations`` order,
    or such a function. Returns ``mrr``, ``acc@1``, ``acc@5``, ``acc@10``, ``n_queries``, ``n_dropped`` (rows whose
    URI is not an occupation of ``esco_version``; listed in ``dropped_uris``) and details.
    """
    benchmark = read_title_benchmark(csv_path, title_column, uri_column, split, esco_version)
    if benchmark.dropped_uris:
        print(f"{benchmark.name}: dropped {benchmark.n_dropped} row(s) whose URI is not an ESCO v{esco_version} "
              f"occupation: {', '.join(sorted(benchmark.dropped_uris)[:5])}", file=sys.stderr)
    esco = load_esco(esco_version)
    score: Callable = getattr(normalizer_or_scorer, "score_occupations", normalizer_or_scorer)
    position = {o.uri: i for i, o in enumerate(esco.occupations)}
    gold = torch.tensor([position[uri] for uri in benchmark.uris], dtype=torch.long)
    if benchmark.titles:
        scores = score(benchmark.titles, progress=progress) if progress else score(benchmark.titles)
        if tuple(scores.shape) != (len(benchmark.titles), len(esco.occupations)):
            raise ValueError(f"the scorer returned shape {tuple(scores.shape)}, expected "
                             f"({len(benchmark.titles)}, {len(esco.occupations)})")
        metrics = rank_metrics(scores, gold, ties=ties)
        optimistic = rank_metrics(scores, gold, ties="optimistic")
    else:
        metrics = optimistic = rank_metrics(torch.empty(0, 0), gold)
    return {
        **metrics,
        "n_queries": benchmark.n_queries,
        "n_dropped": benchmark.n_dropped,
        "dropped_uris": benchmark.dropped_uris,
        "n_rows": benchmark.n_rows,
        "benchmark": benchmark.name,
        "split": split,
        "n_occupations": len(esco.occupations),
        "esco_version": esco_version,
        "ties": ties,
        "optimistic_ties": optimistic,
        "units": "mrr as a fraction; acc@K in percent",
    }


def evaluate_title_system(system: str | None, benchmark: str | Path = JOBBERT_TITLES,
                          title_column: str = "vacancyTitle", uri_column: str = "conceptUri", split: str = "all",
                          esco_version: str = DEFAULT_ESCO_VERSION, results_dir: str | Path | None = RESULTS_DIR,
                          command: str | None = None, device: str | None = None, progress: bool = False,
                          centroid_weight: float | None = None, prior_weight: float | None = None,
                          prior_counts: dict[str, int] | None = None) -> dict:
    """Evaluate one system (see :func:`scorer_for`) on a title benchmark; with ``results_dir``, also write the
    results file ``<results_dir>/<benchmark>__<split>__<system>.json`` and name it under ``results_file``."""
    scorer = scorer_for(system, esco_version, device, centroid_weight, prior_weight, prior_counts) \
        if isinstance(system, str) or system is None else system
    model = getattr(scorer, "model", None)
    name = getattr(model, "name", None)
    if name and Path(name).is_absolute() and Path(name).resolve().is_relative_to(REPO_DIR):
        name = str(Path(name).resolve().relative_to(REPO_DIR))
    result = {"system": system_name(scorer), "model": name,
              "centroid_weight": getattr(scorer, "centroid_weight", None),
              "prior_weight": getattr(scorer, "prior_weight", None)}
    result.update(evaluate_titles(scorer, benchmark, title_column, uri_column, split, esco_version,
                                  progress=progress))
    result["date"] = datetime.date.today().isoformat()
    if command:
        result["command"] = command
    if results_dir is not None:
        from .ranking import write_result

        write_result(result, results_dir)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contextmatch.evaluation.titles",
                                     description="Evaluate job-title normalization systems; write results/titles.")
    parser.add_argument("--system", nargs="+", default=["bm25", "all-MiniLM-L6-v2", "default"],
                        help="bm25, a base encoder (zero-shot cosine), a title-model folder, or 'default' "
                             "(the shipped title model)")
    parser.add_argument("--benchmark", default=str(JOBBERT_TITLES), help="CSV file (default: the JobBERT titles)")
    parser.add_argument("--title-column", default="vacancyTitle")
    parser.add_argument("--uri-column", default="conceptUri")
    parser.add_argument("--split", choices=SPLITS, default="all")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR))
    parser.add_argument("--centroid-weight", type=float,
                        help="weight of the occupation-centroid cosine (default: 0 for a plain encoder, the "
                             "normalizer's default for a title model)")
    parser.add_argument("--prior-weight", type=float,
                        help="weight of the occupation prior (default: the title model's own; 0 turns it off)")
    parser.add_argument("--prior-from", metavar="CSV",
                        help="count the occupation prior from the train split of this labelled CSV (same columns "
                             "as --benchmark) instead of the model's own; needs --prior-weight")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    command = "python -m contextmatch.evaluation.titles " + " ".join(sys.argv[1:] if argv is None else argv)
    counts = None
    if args.prior_from:
        from ..titles.prior import count_uris

        train = read_title_benchmark(args.prior_from, args.title_column, args.uri_column, "train")
        counts, _ = count_uris(train.uris, set(train.uris))
    for system in args.system:
        result = evaluate_title_system(None if system == "default" else system, args.benchmark, args.title_column,
                                       args.uri_column, args.split, results_dir=args.results_dir,
                                       command=command, progress=True, centroid_weight=args.centroid_weight,
                                       prior_weight=args.prior_weight, prior_counts=counts)
        print(json.dumps({k: result[k] for k in ("system", "mrr", "acc@1", "acc@5", "acc@10", "n_queries",
                                                 "n_dropped")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
