"""Tests for the skill_ranking evaluate module, loaded offline from its folder.

Run: HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 python -m pytest metrics/skill_ranking -q
"""

import doctest
import math
import sys
from pathlib import Path

import evaluate
import pytest


MODULE_DIR = Path(__file__).resolve().parents[1]

LOG2_3 = math.log2(3)  # 1.5849625...


@pytest.fixture(scope="module")
def metric():
    return evaluate.load(str(MODULE_DIR), keep_in_memory=True)


@pytest.fixture(scope="module")
def module(metric):
    """The Python module evaluate imported, holding the pure functions."""
    return sys.modules[type(metric).__module__]


def approx(value):
    return pytest.approx(value, abs=1e-12)


# ---------------------------------------------------------------------------
# Loading and doctests
# ---------------------------------------------------------------------------


def test_loads_from_folder_with_expected_features(metric):
    assert metric.name == "skill_ranking"
    # relevance is not an input feature, so it can be left out
    assert set(metric.features) == {"predictions", "references"}


def test_doctests_of_module(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_pure_functions_importable(metric, module):
    for name in (
        "deduplicate_ranking",
        "gold_gains",
        "normalize_k_values",
        "r_precision_at_k",
        "recall_at_k",
        "reciprocal_rank",
        "average_precision",
        "dcg_at_k",
        "ndcg_at_k",
        "mean_reciprocal_rank",
        "mean_average_precision",
        "ranking_metrics",
    ):
        assert callable(getattr(module, name))
        # also reachable on the loaded metric object
        assert getattr(metric, name) is getattr(module, name)


# ---------------------------------------------------------------------------
# Hand-computed example through compute()
#
# Query 1: ranking [a, b, c, d, e], gold {a, c, f} (|gold| = 3), gold at ranks 1 and 3.
# Query 2: ranking [x, y, b],       gold {b}       (|gold| = 1), gold at rank 3.
# ---------------------------------------------------------------------------

PREDICTIONS = [["a", "b", "c", "d", "e"], ["x", "y", "b"]]
REFERENCES = [["a", "c", "f"], ["b"]]


def test_compute_hand_computed(metric):
    result = metric.compute(predictions=PREDICTIONS, references=REFERENCES)

    assert list(result) == [
        "rp@1", "rp@5", "rp@10",
        "recall@1", "recall@5", "recall@10",
        "ndcg@1", "ndcg@5", "ndcg@10",
        "mrr", "map", "n_queries", "n_skipped",
    ]  # fmt: skip

    # RP@1:  q1 1/min(1,3) = 1;   q2 0/min(1,1) = 0    -> (1 + 0) / 2 = 0.5
    assert result["rp@1"] == approx(0.5)
    # RP@5:  q1 2/min(5,3) = 2/3; q2 1/min(5,1) = 1    -> (2/3 + 1) / 2 = 5/6
    assert result["rp@5"] == approx(5 / 6)
    # RP@10: same hits as @5 (rankings are shorter)    -> 5/6
    assert result["rp@10"] == approx(5 / 6)

    # Recall@1: q1 1/3; q2 0/1 -> (1/3 + 0) / 2 = 1/6
    assert result["recall@1"] == approx(1 / 6)
    # Recall@5: q1 2/3; q2 1/1 -> 5/6
    assert result["recall@5"] == approx(5 / 6)
    assert result["recall@10"] == approx(5 / 6)

    # nDCG@1: q1 DCG = 1/log2(2) = 1, IDCG = 1 -> 1;  q2 DCG = 0 -> 0.  Mean 0.5
    assert result["ndcg@1"] == approx(0.5)
    # nDCG@5, q1: DCG = 1/log2(2) + 1/log2(4) = 1 + 0.5 = 1.5
    #             IDCG (3 gold) = 1/log2(2) + 1/log2(3) + 1/log2(4) = 1 + 0.63093 + 0.5 = 2.13093
    #             nDCG = 1.5 / 2.13093 = 0.70392
    #          q2: DCG = 1/log2(4) = 0.5, IDCG = 1 -> 0.5
    q1_ndcg5 = 1.5 / (1 + 1 / LOG2_3 + 0.5)
    assert q1_ndcg5 == pytest.approx(0.70392, abs=1e-5)
    assert result["ndcg@5"] == approx((q1_ndcg5 + 0.5) / 2)
    assert result["ndcg@10"] == approx((q1_ndcg5 + 0.5) / 2)

    # MRR: q1 first gold at rank 1 -> 1; q2 at rank 3 -> 1/3.  (1 + 1/3) / 2 = 2/3
    assert result["mrr"] == approx(2 / 3)
    # MAP: q1 AP = (P@1 + P@3) / 3 = (1/1 + 2/3) / 3 = 5/9; q2 AP = (1/3) / 1 = 1/3
    #      (5/9 + 3/9) / 2 = 4/9
    assert result["map"] == approx(4 / 9)

    assert result["n_queries"] == 2
    assert result["n_skipped"] == 0


def test_compute_matches_pure_function(metric, module):
    result = metric.compute(predictions=PREDICTIONS, references=REFERENCES, k_values=[2, 3])
    assert result == module.ranking_metrics(PREDICTIONS, REFERENCES, k_values=[2, 3])


def test_k_values_custom_and_int(metric):
    result = metric.compute(predictions=PREDICTIONS, references=REFERENCES, k_values=3)
    assert {k for k in result if "@" in k} == {"rp@3", "recall@3", "ndcg@3"}
    # RP@3: q1 2/min(3,3) = 2/3; q2 1/min(3,1) = 1 -> 5/6
    assert result["rp@3"] == approx(5 / 6)


def test_add_batch_then_compute(metric):
    for preds, refs in zip(PREDICTIONS, REFERENCES):
        metric.add_batch(predictions=[preds], references=[refs])
    result = metric.compute(k_values=[1])
    assert result["rp@1"] == approx(0.5)
    assert result["map"] == approx(4 / 9)
    assert result["n_queries"] == 2


# ---------------------------------------------------------------------------
# Per-query functions, hand-computed
# ---------------------------------------------------------------------------


def test_r_precision_and_recall_per_query(module):
    preds, refs = ["a", "x", "b", "y"], ["a", "b", "c"]
    # top-2 = [a, x]: 1 hit; RP = 1/min(2,3) = 1/2; recall = 1/3
    assert module.r_precision_at_k(preds, refs, 2) == approx(1 / 2)
    assert module.recall_at_k(preds, refs, 2) == approx(1 / 3)
    # top-3 = [a, x, b]: 2 hits; RP = 2/min(3,3) = 2/3; recall = 2/3
    assert module.r_precision_at_k(preds, refs, 3) == approx(2 / 3)
    assert module.recall_at_k(preds, refs, 3) == approx(2 / 3)
    # |gold| = 1 < K: RP@5 = 1/min(5,1) = 1 while plain precision@5 would be 1/5
    assert module.r_precision_at_k(["x", "b", "y", "z", "w"], ["b"], 5) == approx(1.0)


def test_reciprocal_rank_and_average_precision_per_query(module):
    # gold {c} at rank 2 -> RR = 1/2, AP = (1/2) / 1
    assert module.reciprocal_rank(["a", "c"], ["c"]) == approx(1 / 2)
    assert module.average_precision(["a", "c"], ["c"]) == approx(1 / 2)
    # gold {a, b} at ranks 2 and 4: AP = (1/2 + 2/4) / 2 = 1/2; RR = 1/2
    assert module.average_precision(["x", "a", "y", "b"], ["a", "b"]) == approx(1 / 2)
    assert module.reciprocal_rank(["x", "a", "y", "b"], ["a", "b"]) == approx(1 / 2)


def test_dcg_at_k(module):
    # gains [3, 2, 0, 1]: 3/log2(2) + 2/log2(3) + 0/log2(4) + 1/log2(5)
    expected = 3 + 2 / LOG2_3 + 0 + 1 / math.log2(5)
    assert module.dcg_at_k([3, 2, 0, 1], 4) == approx(expected)
    # K = 2 keeps the first two gains only
    assert module.dcg_at_k([3, 2, 0, 1], 2) == approx(3 + 2 / LOG2_3)


# ---------------------------------------------------------------------------
# Edge cases
# ---------------------------------------------------------------------------


def test_query_without_gold_is_skipped_and_counted(metric):
    result = metric.compute(
        predictions=[["a", "b"], ["a"], ["z"]],
        references=[["b"], [], []],
        k_values=[1],
    )
    # only query 1 is scored: gold {b} at rank 2 -> RP@1 = 0, RR = 1/2, AP = 1/2
    assert result["n_queries"] == 1
    assert result["n_skipped"] == 2
    assert result["rp@1"] == approx(0.0)
    assert result["mrr"] == approx(0.5)
    assert result["map"] == approx(0.5)


def test_all_queries_without_gold(metric):
    result = metric.compute(predictions=[["a"]], references=[[]], k_values=[1])
    assert result["n_queries"] == 0
    assert result["n_skipped"] == 1
    assert math.isnan(result["mrr"]) and math.isnan(result["rp@1"])


def test_per_query_function_rejects_empty_gold(module):
    with pytest.raises(ValueError):
        module.r_precision_at_k(["a"], [], 1)
    with pytest.raises(ValueError):
        module.reciprocal_rank(["a"], [])


def test_duplicate_predictions_keep_first_occurrence(metric):
    # [x, x, x, a] is scored as [x, a]: gold {a} at rank 2, not rank 4.
    result = metric.compute(predictions=[["x", "x", "x", "a"]], references=[["a"]], k_values=[2])
    # RP@2 = 1/min(2,1) = 1 (would be 0 without de-duplication)
    assert result["rp@2"] == approx(1.0)
    # RR = 1/2 (would be 1/4); AP = (1/2) / 1
    assert result["mrr"] == approx(1 / 2)
    assert result["map"] == approx(1 / 2)
    # nDCG@2 = (1/log2(3)) / (1/log2(2)) = 0.63093
    assert result["ndcg@2"] == approx(1 / LOG2_3)


def test_duplicate_gold_labels_are_merged(metric):
    # gold [a, a, b] -> {a, b}, |gold| = 2. Ranking [a]: recall@1 = 1/2 (not 1/3 or 2/3)
    result = metric.compute(predictions=[["a"]], references=[["a", "a", "b"]], k_values=[1])
    assert result["recall@1"] == approx(1 / 2)
    # AP = (1/1) / 2 = 1/2
    assert result["map"] == approx(1 / 2)


def test_k_larger_than_ranking(metric):
    # ranking [a] (length 1), gold {a, b}, K = 10
    result = metric.compute(predictions=[["a"]], references=[["a", "b"]], k_values=[10])
    # RP@10 = 1/min(10,2) = 1/2; recall@10 = 1/2
    assert result["rp@10"] == approx(1 / 2)
    assert result["recall@10"] == approx(1 / 2)
    # nDCG@10: DCG = 1/log2(2) = 1; IDCG = 1 + 1/log2(3) = 1.63093 -> 0.61315
    assert result["ndcg@10"] == approx(1 / (1 + 1 / LOG2_3))


def test_empty_ranking(metric):
    result = metric.compute(predictions=[[]], references=[["a"]], k_values=[1])
    assert result["rp@1"] == 0.0 and result["ndcg@1"] == 0.0 and result["mrr"] == 0.0
    assert result["n_queries"] == 1


def test_gold_not_retrieved(metric):
    result = metric.compute(predictions=[["x", "y", "z"]], references=[["a", "b"]], k_values=[1, 3])
    # no gold label anywhere in the ranking: every metric is 0, MRR included
    for key in ("rp@1", "rp@3", "recall@1", "recall@3", "ndcg@1", "ndcg@3", "mrr", "map"):
        assert result[key] == 0.0, key
    assert result["n_queries"] == 1


def test_graded_ndcg_differs_from_binary(metric):
    predictions = [["b", "a"]]
    references = [["a", "b"]]
    binary = metric.compute(predictions=predictions, references=references, k_values=[2])
    graded = metric.compute(predictions=predictions, references=references, relevance=[[3, 1]], k_values=[2])
    # binary: both gold at ranks 1 and 2 -> DCG = IDCG -> 1
    assert binary["ndcg@2"] == approx(1.0)
    # graded (a = 3, b = 1), ranking [b, a]:
    #   DCG  = 1/log2(2) + 3/log2(3) = 1 + 1.89279 = 2.89279
    #   IDCG = 3/log2(2) + 1/log2(3) = 3 + 0.63093 = 3.63093  -> 0.79671
    expected = (1 + 3 / LOG2_3) / (3 + 1 / LOG2_3)
    assert expected == pytest.approx(0.79671, abs=1e-5)
    assert graded["ndcg@2"] == approx(expected)
    # grades only affect nDCG
    for key in ("rp@2", "recall@2", "mrr", "map"):
        assert graded[key] == binary[key]


def test_graded_ndcg_with_non_gold_prediction_and_cutoff(module):
    # grades a = 2, b = 1, c = 0.5; ranking [x, b, a], K = 2
    #   DCG@2  = 0/log2(2) + 1/log2(3) = 0.63093
    #   IDCG@2 = 2/log2(2) + 1/log2(3) = 2.63093 -> 0.23981
    value = module.ndcg_at_k(["x", "b", "a"], ["a", "b", "c"], 2, relevance=[2, 1, 0.5])
    assert value == approx((1 / LOG2_3) / (2 + 1 / LOG2_3))


def test_graded_all_zero_grades_give_zero(module):
    assert module.ndcg_at_k(["a"], ["a"], 1, relevance=[0]) == 0.0


def test_relevance_per_query_none_and_skipped_query(metric):
    # relevance stays aligned with all queries, skipped ones included; None = binary
    result = metric.compute(
        predictions=[["b", "a"], ["q"], ["b", "a"]],
        references=[["a", "b"], [], ["a", "b"]],
        relevance=[[3, 1], [], None],
        k_values=[2],
    )
    graded = (1 + 3 / LOG2_3) / (3 + 1 / LOG2_3)
    assert result["ndcg@2"] == approx((graded + 1.0) / 2)
    assert result["n_queries"] == 2 and result["n_skipped"] == 1


# ---------------------------------------------------------------------------
# Input validation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("k_values", [[0], [-1], [1.5], [True], []])
def test_invalid_k_values(metric, k_values):
    with pytest.raises(ValueError):
        metric.compute(predictions=PREDICTIONS, references=REFERENCES, k_values=k_values)


def test_misaligned_relevance(metric):
    with pytest.raises(ValueError):  # one grade for two gold labels
        metric.compute(predictions=[["a"]], references=[["a", "b"]], relevance=[[1]])
    with pytest.raises(ValueError):  # relevance for one query, two queries given
        metric.compute(predictions=PREDICTIONS, references=REFERENCES, relevance=[[1, 1, 1]])
    with pytest.raises(ValueError):  # negative grade
        metric.compute(predictions=[["a"]], references=[["a"]], relevance=[[-1]])


def test_mismatched_number_of_queries(module):
    with pytest.raises(ValueError):
        module.ranking_metrics([["a"]], [["a"], ["b"]])
