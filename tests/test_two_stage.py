"""Two-stage scoring for large label spaces: equal to exact scoring when M covers all labels, ANN indexes, recall,
and the large-label benchmark on a tiny setting."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from contextmatch.skills.topk import contextmatch_topk, unit_rows
from contextmatch.skills.two_stage import LabelIndex, exact_candidates, pooled_queries, recall_at_k, two_stage_topk
from modeling_contextmatch import contextmatch_scores

ROOT = Path(__file__).resolve().parent.parent
HAS_FAISS = importlib.util.find_spec("faiss") is not None


@pytest.fixture(scope="module")
def data():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(5, 8, 32, generator=gen)
    mask = torch.ones(5, 8, dtype=torch.long)
    mask[2, 5:] = 0
    mask[4, 2:] = 0
    labels = torch.randn(2000, 32, generator=gen) * 3
    return x, mask, labels


def test_two_stage_with_all_labels_is_exact(data):
    x, mask, labels = data
    values, indices, alpha = two_stage_topk(x, mask, labels, k=10, m=len(labels), temperature=0.7)
    full = contextmatch_scores(x, mask, labels, 0.7).topk(10)
    assert torch.equal(indices, full.indices)
    assert torch.allclose(values, full.values, atol=1e-6)
    assert torch.allclose(alpha.sum(dim=1), torch.ones(5, 10), atol=1e-6)


def test_fewer_candidates_never_beat_exact_and_recall_grows_with_m(data):
    x, mask, labels = data
    exact = contextmatch_scores(x, mask, labels).topk(10)
    recalls = []
    for m in (10, 100, 1000, 2000):
        values, indices, _ = two_stage_topk(x, mask, labels, k=10, m=m)
        assert (values <= exact.values + 1e-6).all()  # a filtered top k is never better than the exact one
        recalls.append(recall_at_k(indices, exact.indices))
    assert recalls == sorted(recalls) and recalls[-1] == 1.0


def test_chunked_candidate_search_equals_one_product(data):
    x, mask, labels = data
    queries, unit = pooled_queries(x, mask), unit_rows(labels)
    whole = (queries @ unit.T).topk(50).indices
    for chunk in (7, 300, 5000):
        assert torch.equal(exact_candidates(queries, unit, 50, chunk=chunk), whole)


def test_recall():
    assert recall_at_k(torch.tensor([[1, 2, 3]]), torch.tensor([[1, 2, 3]])) == 1.0
    assert recall_at_k(torch.tensor([[4, 5, 6, 7]]), torch.tensor([[1, 2]])) == 0.0
    assert recall_at_k(torch.tensor([[2, 9, 1, 8]]), torch.tensor([[1, 2, 3, 4]])) == 0.5


def test_unknown_index_kind_is_refused(data):
    with pytest.raises(ValueError, match="index kind"):
        LabelIndex(unit_rows(data[2]), "annoy")


@pytest.mark.skipif(not HAS_FAISS, reason="the ann extra (faiss) is not installed")
@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_ann_index_finds_the_nearest_labels(data, kind):
    x, mask, labels = data
    unit = unit_rows(labels)
    index = LabelIndex(unit, kind, probes=64)
    queries = pooled_queries(x, mask)
    assert recall_at_k(index.search(queries, 20), exact_candidates(queries, unit, 20)) >= 0.9
    _, indices, _ = two_stage_topk(x, mask, labels, k=5, m=200, index=index)
    exact_filter = two_stage_topk(x, mask, labels, k=5, m=200)[1]
    assert recall_at_k(indices, exact_filter) >= 0.9  # the index finds (nearly) the candidates an exact search does


def test_bound_top_k_on_a_large_label_space():
    gen = torch.Generator().manual_seed(5)
    x, mask = torch.randn(3, 6, 16, generator=gen), torch.ones(3, 6, dtype=torch.long)
    labels = torch.randn(120_000, 16, generator=gen)
    _, indices, _ = contextmatch_topk(x, mask, labels, 10, unit_skills=unit_rows(labels).bfloat16())
    assert torch.equal(indices, contextmatch_scores(x, mask, labels, skill_chunk=8192).topk(10).indices)


@pytest.mark.slow
def test_large_label_benchmark_runs_on_a_tiny_setting(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import large_labels

    out = tmp_path / "large_labels.json"
    indexes = ["exact", "hnsw"] if HAS_FAISS else ["exact"]
    assert large_labels.main(["--synthetic", "3000", "--sentences", "12", "--candidates", "50", "16891",
                              "--rounds", "1", "--indexes", *indexes, "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["n_labels"] == 16_891
    rows = {(r["method"], r["candidates"]): r for r in result["rows"]}
    assert rows[("exact top-k by cosine bound", None)]["recall_at_10"] == 1.0
    assert rows[("two-stage, pooled top-M, exact search", 16_891)]["recall_at_10"] == 1.0
    assert 0 < rows[("two-stage, pooled top-M, exact search", 50)]["recall_at_10"] <= 1.0
