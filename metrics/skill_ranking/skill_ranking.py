"""Ranking metrics for skill extraction from job ads, as a Hugging Face ``evaluate`` module.

Each query (for example a sentence from a job ad) comes with a ranked list of
predicted skill labels and a list of gold skill labels. The module reports
R-Precision@K, Recall@K and nDCG@K for several cut-offs K, plus MRR and MAP,
following the definitions used by WorkRB and by Decorte et al. (2025),
"Efficient Text Encoders for Labor Market Analysis".

The maths lives in small pure functions at module level (``r_precision_at_k``,
``recall_at_k``, ``reciprocal_rank``, ``average_precision``, ``ndcg_at_k``, ...)
so other code can reuse it without the Arrow round trip of ``evaluate``. They
are also available as static methods of the loaded metric object, e.g.
``evaluate.load(path).ndcg_at_k(...)``. ``SkillRanking._compute`` only
aggregates.

Conventions shared by all functions:

* Labels are compared exactly (no lower-casing or stripping). They must be hashable.
* The gold set of a query is the set of its reference labels; duplicates are merged.
* Duplicate predictions are removed, keeping the first occurrence, before anything
  is computed. ``["x", "x", "a"]`` is treated as ``["x", "a"]``.
* Values are fractions in [0, 1]; reports usually multiply them by 100.
"""

import math
import numbers
from typing import Dict, Hashable, Iterable, List, Optional, Sequence, Union

import datasets
import evaluate


try:  # datasets >= 4 has an explicit list feature type
    from datasets import List as _ListFeature
except ImportError:  # older datasets
    from datasets import Sequence as _ListFeature


_CITATION = """\
@article{decorte2025efficient,
  title   = {Efficient Text Encoders for Labor Market Analysis},
  author  = {Decorte, Jens-Joris and Van Hautte, Jeroen and Develder, Chris and Demeester, Thomas},
  journal = {IEEE Access},
  volume  = {13},
  year    = {2025},
  eprint  = {2505.24640},
  archivePrefix = {arXiv}
}
"""

_DESCRIPTION = """\
Ranking metrics for skill extraction and skill matching: for every query a ranked
list of predicted skill labels (best first) is compared to a set of gold labels.
Reports R-Precision@K (rp@K), Recall@K (recall@K) and nDCG@K (ndcg@K) for each
cut-off K, the mean reciprocal rank (mrr) and mean average precision (map), all
as fractions in [0, 1] averaged over queries (reports multiply by 100). Queries
without gold labels are skipped and counted in n_skipped. Duplicate predictions
are removed, keeping the first occurrence. nDCG uses binary gains unless graded
relevance is given.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `list` of `str`): one ranked list of predicted labels
        per query, best first. Duplicates are removed keeping the first occurrence.
    references (`list` of `list` of `str`): one list of gold labels per query.
        Duplicates are merged. A query with no gold label is skipped and counted
        in `n_skipped`.
    relevance (`list` of `list` of `float`, *optional*): per query, grades aligned
        with that query's `references` (higher = more relevant, must be >= 0).
        Only nDCG uses them (gain of a label = its grade); the other metrics use
        the gold set. A query's entry may be `None` (binary gains for that query).
        Passed as a compute keyword argument, not as a model input, so it may be
        left out. If a label appears twice in `references`, its largest grade is used.
    k_values (`int` or `list` of `int`, *optional*, defaults to `[1, 5, 10]`):
        cut-offs for rp@K, recall@K and ndcg@K.

Returns:
    A flat dict with, for each K in `k_values`, `rp@K`, `recall@K` and `ndcg@K`,
    plus `mrr`, `map` (floats in [0, 1], averaged over evaluated queries; `nan`
    when no query has gold labels), `n_queries` (number of evaluated queries) and
    `n_skipped` (number of queries skipped because they have no gold label).

Examples:

    metric = evaluate.load("path/to/metrics/skill_ranking")
    results = metric.compute(
        predictions=[["python", "sql", "java"], ["excel", "teamwork"]],
        references=[["sql", "java"], ["teamwork"]],
        k_values=[1, 3],
    )
    # results["rp@1"] == 0.0, results["rp@3"] == 1.0, results["mrr"] == 0.5,
    # results["n_queries"] == 2, results["n_skipped"] == 0

    # graded nDCG: grades aligned with `references`
    results = metric.compute(
        predictions=[["sql", "java"]],
        references=[["java", "sql"]],
        relevance=[[2.0, 1.0]],
        k_values=[2],
    )
"""

DEFAULT_K_VALUES = (1, 5, 10)

Label = Hashable


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def deduplicate_ranking(predictions: Iterable[Label]) -> List[Label]:
    """Remove duplicate predictions, keeping the first occurrence (and the order).

    >>> deduplicate_ranking(["b", "a", "b", "c", "a"])
    ['b', 'a', 'c']
    >>> deduplicate_ranking([])
    []
    """
    seen = set()
    ranking = []
    for label in predictions:
        if label not in seen:
            seen.add(label)
            ranking.append(label)
    return ranking


def gold_gains(references: Iterable[Label], relevance: Optional[Sequence[float]] = None) -> Dict[Label, float]:
    """Map each distinct gold label of one query to its gain.

    Without ``relevance`` every gold label has gain 1.0 (binary relevance). With
    ``relevance`` (grades aligned with ``references``), the gain of a label is its
    grade; a label listed twice keeps its largest grade. Grades must be finite
    and >= 0.

    >>> gold_gains(["a", "b", "a"])
    {'a': 1.0, 'b': 1.0}
    >>> gold_gains(["a", "b", "a"], relevance=[1, 3, 2])
    {'a': 2.0, 'b': 3.0}
    """
    references = list(references)
    if relevance is None:
        return {label: 1.0 for label in references}
    relevance = list(relevance)
    if len(relevance) != len(references):
        raise ValueError(
            f"relevance must be aligned with references: got {len(relevance)} grades for {len(references)} labels"
        )
    gains: Dict[Label, float] = {}
    for label, grade in zip(references, relevance):
        if isinstance(grade, bool) or not isinstance(grade, numbers.Real):
            raise TypeError(f"grades must be real numbers, got {grade!r}")
        grade = float(grade)
        if not math.isfinite(grade) or grade < 0:
            raise ValueError(f"grades must be finite and >= 0, got {grade!r}")
        gains[label] = max(grade, gains.get(label, grade))
    return gains


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _gold_set(references: Iterable[Label]) -> set:
    gold = set(references)
    if not gold:
        raise ValueError("the query has no gold label; such queries are skipped, not scored")
    return gold


def _hits_at_k(predictions: Iterable[Label], gold: set, k: int) -> int:
    return sum(1 for label in deduplicate_ranking(predictions)[:k] if label in gold)


def normalize_k_values(k_values: Union[int, Iterable[int]] = DEFAULT_K_VALUES) -> List[int]:
    """Validate cut-offs: an int or an iterable of positive ints, duplicates removed.

    >>> normalize_k_values(5)
    [5]
    >>> normalize_k_values([10, 1, 10])
    [10, 1]
    """
    if isinstance(k_values, numbers.Integral) and not isinstance(k_values, bool):
        k_values = [k_values]
    normalized = [_check_k(k) for k in k_values]
    if not normalized:
        raise ValueError("k_values must not be empty")
    return deduplicate_ranking(normalized)


# ---------------------------------------------------------------------------
# Per-query metrics. Each raises ValueError when the query has no gold label.
# ---------------------------------------------------------------------------


def r_precision_at_k(predictions: Sequence[Label], references: Iterable[Label], k: int) -> float:
    """R-Precision@K of one query: |gold ∩ top-K| / min(K, |gold|).

    Example: gold = {a, b, c}, ranking = [a, x, b].
    With K = 2, top-2 = [a, x] holds 1 gold label and min(2, 3) = 2, so 1 / 2 = 0.5.
    With K = 5, top-5 = [a, x, b] holds 2 gold labels and min(5, 3) = 3, so 2 / 3.

    >>> r_precision_at_k(["a", "x", "b"], ["a", "b", "c"], k=2)
    0.5
    >>> round(r_precision_at_k(["a", "x", "b"], ["a", "b", "c"], k=5), 4)
    0.6667
    """
    k = _check_k(k)
    gold = _gold_set(references)
    return _hits_at_k(predictions, gold, k) / min(k, len(gold))


def recall_at_k(predictions: Sequence[Label], references: Iterable[Label], k: int) -> float:
    """Recall@K of one query: |gold ∩ top-K| / |gold|.

    Example: gold = {a, b, c}, ranking = [a, x, b], K = 2:
    top-2 = [a, x] holds 1 gold label out of 3, so 1 / 3.

    >>> round(recall_at_k(["a", "x", "b"], ["a", "b", "c"], k=2), 4)
    0.3333
    >>> recall_at_k(["a", "a", "b"], ["a", "b"], k=2)  # duplicate "a" dropped: top-2 = [a, b]
    1.0
    """
    k = _check_k(k)
    gold = _gold_set(references)
    return _hits_at_k(predictions, gold, k) / len(gold)


def reciprocal_rank(predictions: Sequence[Label], references: Iterable[Label]) -> float:
    """Reciprocal rank of one query: 1 / rank of the first gold label (0.0 if none appears).

    Example: gold = {b}, ranking = [x, y, b]: first gold label at rank 3, so 1 / 3.

    >>> round(reciprocal_rank(["x", "y", "b"], ["b"]), 4)
    0.3333
    >>> reciprocal_rank(["x", "y"], ["b"])
    0.0
    """
    gold = _gold_set(references)
    for rank, label in enumerate(deduplicate_ranking(predictions), start=1):
        if label in gold:
            return 1.0 / rank
    return 0.0


def average_precision(predictions: Sequence[Label], references: Iterable[Label]) -> float:
    """Average precision of one query over the full ranking.

    AP = (sum of precision@r over the ranks r holding a gold label) / |gold|.

    Example: gold = {a, c, f}, ranking = [a, b, c]: gold at rank 1 (precision 1/1)
    and rank 3 (precision 2/3); f is never retrieved. AP = (1 + 2/3) / 3 = 5/9.

    >>> round(average_precision(["a", "b", "c"], ["a", "c", "f"]), 4)
    0.5556
    >>> average_precision(["x"], ["a"])
    0.0
    """
    gold = _gold_set(references)
    hits = 0
    total = 0.0
    for rank, label in enumerate(deduplicate_ranking(predictions), start=1):
        if label in gold:
            hits += 1
            total += hits / rank
    return total / len(gold)


def dcg_at_k(gains: Sequence[float], k: int) -> float:
    """Discounted cumulative gain of a list of gains (in rank order), cut at K.

    DCG@K = sum over r = 1..min(K, len(gains)) of gain_r / log2(r + 1).

    Example: gains [1, 0, 1] with K = 3: 1/log2(2) + 0/log2(3) + 1/log2(4) = 1 + 0 + 0.5.

    >>> dcg_at_k([1, 0, 1], k=3)
    1.5
    >>> dcg_at_k([1, 0, 1], k=1)
    1.0
    """
    k = _check_k(k)
    return sum(float(gain) / math.log2(rank + 1) for rank, gain in enumerate(list(gains)[:k], start=1))


def ndcg_at_k(
    predictions: Sequence[Label],
    references: Iterable[Label],
    k: int,
    relevance: Optional[Sequence[float]] = None,
) -> float:
    """nDCG@K of one query, with binary gains or, given ``relevance``, graded gains.

    The gain of a predicted label is its gold gain (1.0, or its grade), 0 if it is
    not gold. The ideal DCG uses the gold gains sorted in descending order, cut
    at K. Returns 0.0 when the ideal DCG is 0 (all grades 0).

    Binary example: gold = {a, b}, ranking = [x, a, b], K = 3:
    DCG = 0/log2(2) + 1/log2(3) + 1/log2(4) = 0.63093 + 0.5 = 1.13093;
    ideal DCG = 1/log2(2) + 1/log2(3) = 1.63093; nDCG = 1.13093 / 1.63093 = 0.6934.

    >>> round(ndcg_at_k(["x", "a", "b"], ["a", "b"], k=3), 4)
    0.6934

    Graded example: grades a = 3, b = 1, ranking = [b, a], K = 2:
    DCG = 1/log2(2) + 3/log2(3) = 1 + 1.89279 = 2.89279;
    ideal DCG = 3/log2(2) + 1/log2(3) = 3.63093; nDCG = 0.7967
    (with binary gains the same ranking scores 1.0).

    >>> round(ndcg_at_k(["b", "a"], ["a", "b"], k=2, relevance=[3, 1]), 4)
    0.7967
    >>> ndcg_at_k(["b", "a"], ["a", "b"], k=2)
    1.0
    """
    k = _check_k(k)
    references = list(references)
    _gold_set(references)
    gains = gold_gains(references, relevance)
    ideal = dcg_at_k(sorted(gains.values(), reverse=True), k)
    if ideal == 0.0:
        return 0.0
    ranked_gains = [gains.get(label, 0.0) for label in deduplicate_ranking(predictions)]
    return dcg_at_k(ranked_gains, k) / ideal


# ---------------------------------------------------------------------------
# Aggregates over queries (queries without gold are skipped)
# ---------------------------------------------------------------------------


def _mean(values: List[float]) -> float:
    return math.fsum(values) / len(values) if values else float("nan")


def _check_lengths(predictions, references, relevance=None) -> None:
    if len(predictions) != len(references):
        raise ValueError(
            f"predictions and references must have one entry per query: got {len(predictions)} and {len(references)}"
        )
    if relevance is not None and len(relevance) != len(references):
        raise ValueError(f"relevance must have one entry per query: got {len(relevance)} for {len(references)} queries")


def mean_reciprocal_rank(predictions: Sequence[Sequence[Label]], references: Sequence[Iterable[Label]]) -> float:
    """MRR over queries: mean of ``reciprocal_rank``; queries without gold are skipped.

    Example: ranks of the first gold label are 1 and 4, the third query has no
    gold and is skipped: MRR = (1/1 + 1/4) / 2 = 0.625.

    >>> mean_reciprocal_rank([["a"], ["x", "y", "z", "b"], ["c"]], [["a"], ["b"], []])
    0.625
    """
    predictions, references = list(predictions), [list(refs) for refs in references]
    _check_lengths(predictions, references)
    return _mean([reciprocal_rank(p, r) for p, r in zip(predictions, references) if r])


def mean_average_precision(predictions: Sequence[Sequence[Label]], references: Sequence[Iterable[Label]]) -> float:
    """MAP over queries: mean of ``average_precision``; queries without gold are skipped.

    Example: AP of query 1 = (1/1 + 2/3) / 3 = 5/9 (gold a, c, f; ranking a, b, c),
    AP of query 2 = (1/3) / 1 = 1/3 (gold b at rank 3). MAP = (5/9 + 3/9) / 2 = 4/9.

    >>> round(mean_average_precision([["a", "b", "c"], ["x", "y", "b"]], [["a", "c", "f"], ["b"]]), 4)
    0.4444
    """
    predictions, references = list(predictions), [list(refs) for refs in references]
    _check_lengths(predictions, references)
    return _mean([average_precision(p, r) for p, r in zip(predictions, references) if r])


def ranking_metrics(
    predictions: Sequence[Sequence[Label]],
    references: Sequence[Iterable[Label]],
    relevance: Optional[Sequence[Optional[Sequence[float]]]] = None,
    k_values: Union[int, Iterable[int]] = DEFAULT_K_VALUES,
) -> Dict[str, Union[float, int]]:
    """All metrics of the module as one flat dict (what ``SkillRanking.compute`` returns).

    Keys: ``rp@K``, ``recall@K``, ``ndcg@K`` for each K, then ``mrr``, ``map``,
    ``n_queries`` and ``n_skipped``. Averages are ``nan`` when no query has gold.

    Example, K = 1 and 2: query 1 ranks [a, x] against gold {a, b}, query 2 has no
    gold (skipped). rp@1 = 1/min(1, 2) = 1, rp@2 = 1/min(2, 2) = 0.5,
    recall@1 = recall@2 = 1/2, ndcg@1 = 1/1, ndcg@2 = 1 / (1 + 1/log2(3)) = 0.6131,
    mrr = 1/1, map = (1/1) / 2 = 0.5.

    >>> result = ranking_metrics([["a", "x"], ["a"]], [["a", "b"], []], k_values=[1, 2])
    >>> {name: round(value, 4) for name, value in result.items()}  # doctest: +NORMALIZE_WHITESPACE
    {'rp@1': 1.0, 'rp@2': 0.5, 'recall@1': 0.5, 'recall@2': 0.5, 'ndcg@1': 1.0, 'ndcg@2': 0.6131,
     'mrr': 1.0, 'map': 0.5, 'n_queries': 1, 'n_skipped': 1}
    """
    k_values = normalize_k_values(k_values)
    predictions = [list(preds) for preds in predictions]
    references = [list(refs) for refs in references]
    relevance = None if relevance is None else list(relevance)
    _check_lengths(predictions, references, relevance)

    scores: Dict[str, List[float]] = {}
    for name in ("rp", "recall", "ndcg"):
        for k in k_values:
            scores[f"{name}@{k}"] = []
    scores["mrr"] = []
    scores["map"] = []

    n_skipped = 0
    for i, (preds, refs) in enumerate(zip(predictions, references)):
        if not refs:
            n_skipped += 1
            continue
        grades = None if relevance is None else relevance[i]
        # Validate the grades even when they end up unused for binary metrics.
        gold_gains(refs, grades)
        for k in k_values:
            scores[f"rp@{k}"].append(r_precision_at_k(preds, refs, k))
            scores[f"recall@{k}"].append(recall_at_k(preds, refs, k))
            scores[f"ndcg@{k}"].append(ndcg_at_k(preds, refs, k, relevance=grades))
        scores["mrr"].append(reciprocal_rank(preds, refs))
        scores["map"].append(average_precision(preds, refs))

    result: Dict[str, Union[float, int]] = {name: _mean(values) for name, values in scores.items()}
    result["n_queries"] = len(predictions) - n_skipped
    result["n_skipped"] = n_skipped
    return result


# ---------------------------------------------------------------------------
# evaluate module
# ---------------------------------------------------------------------------


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SkillRanking(evaluate.Metric):
    """Skill ranking metrics: rp@K, recall@K, ndcg@K, mrr, map."""

    # The pure functions, reachable from the object returned by evaluate.load(...).
    deduplicate_ranking = staticmethod(deduplicate_ranking)
    gold_gains = staticmethod(gold_gains)
    normalize_k_values = staticmethod(normalize_k_values)
    r_precision_at_k = staticmethod(r_precision_at_k)
    recall_at_k = staticmethod(recall_at_k)
    reciprocal_rank = staticmethod(reciprocal_rank)
    average_precision = staticmethod(average_precision)
    dcg_at_k = staticmethod(dcg_at_k)
    ndcg_at_k = staticmethod(ndcg_at_k)
    mean_reciprocal_rank = staticmethod(mean_reciprocal_rank)
    mean_average_precision = staticmethod(mean_average_precision)
    ranking_metrics = staticmethod(ranking_metrics)

    def _info(self):
        return evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": _ListFeature(datasets.Value("string")),
                    "references": _ListFeature(datasets.Value("string")),
                }
            ),
        )

    def _compute(self, predictions, references, relevance=None, k_values=DEFAULT_K_VALUES):
        return ranking_metrics(predictions, references, relevance=relevance, k_values=k_values)
