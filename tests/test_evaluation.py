"""The evaluation harness: benchmark loading, gold filtering, exact ranks, baselines, CLI and results files."""

import json

import pytest
import torch

from conftest import ROOT, run_cli
from contextmatch.evaluation.benchmarks import load_benchmark, read_benchmark_csv
from contextmatch.esco import load_esco
from contextmatch.evaluation.ranking import bm25_scores, ranking_metrics
from contextmatch.inputs import InputError

KNOWN = set(load_esco().skill_by_label)


@pytest.mark.parametrize("name, split, queries, dropped", [
    ("tech", "validation", 75, 26), ("tech", "test", 338, 87), ("house", "validation", 61, 16),
    ("house", "test", 262, 64), ("skill-xl", "validation", 799, 1482)])
def test_named_benchmarks_match_the_protocol_counts(name, split, queries, dropped):
    benchmark = load_benchmark(name, split, KNOWN)
    assert (benchmark.n_queries, benchmark.n_dropped) == (queries, dropped)
    assert not benchmark.unknown_labels
    for gold in benchmark.gold:
        assert gold and len(gold) == len(set(gold)) and not {"LABEL NOT PRESENT", "UNDERSPECIFIED"} & set(gold)


def test_the_three_csv_formats(tmp_path):
    spans = tmp_path / "spans.csv"
    spans.write_text("sentence,span,sub_span,label\nWe use SQL,SQL,,SQL\nWe use SQL,use,,UNDERSPECIFIED\n"
                     "We use SQL,SQL,,SQL\nHello,,,LABEL NOT PRESENT\n", encoding="utf-8")
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("sentence,label\nSpeak German,German\nSpeak German,Klingon cuisine\n", encoding="utf-8")
    xl = tmp_path / "xl.csv"
    xl.write_text("ID,subset,title,sentence,relevant,cluster,skill\n1,R,t,Lead people,True,1,manage a team\n"
                  "1,R,t,About us,False,,\n2,R,t,Lead people,True,2,lead a team\n", encoding="utf-8")
    a = read_benchmark_csv(spans, "spans", "file", KNOWN)
    assert (a.sentences, a.gold, a.n_dropped) == (["We use SQL"], [["SQL"]], 1)
    b = read_benchmark_csv(pairs, "pairs", "file", KNOWN)
    assert b.gold == [["German"]] and b.unknown_labels == {"Klingon cuisine": 1}
    c = read_benchmark_csv(xl, "xl", "file", KNOWN)  # the same sentence in two ads stays two queries
    assert c.gold == [["manage a team"], ["lead a team"]] and c.n_dropped == 1


def test_wrong_csv_columns_and_unknown_names(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,skill\na,b\n", encoding="utf-8")
    with pytest.raises(InputError, match="match no benchmark format"):
        load_benchmark(str(bad))
    with pytest.raises(InputError, match="unknown benchmark"):
        load_benchmark("jobs-2030")
    with pytest.raises(InputError, match="no split 'test'"):
        load_benchmark("skill-xl", "test")


def test_ranks_are_exact_beyond_the_cut_off():
    labels = [f"s{i}" for i in range(30)]
    scores = torch.linspace(1, 0, 30).unsqueeze(0).repeat(2, 1)  # ranking s0, s1, ..., s29
    result = ranking_metrics(scores, [["s2", "s20"], ["s25"]], labels)
    # query 1: first gold at rank 3, one of two gold in the top 5 -> RP@5 = 1/2; query 2: first gold at rank 26
    assert result["mrr"] == pytest.approx((1 / 3 + 1 / 26) / 2)
    assert result["rp@5"] == pytest.approx((1 / 2 + 0) / 2)
    assert result["rp@1"] == 0 and result["n_queries"] == 2


def test_bm25_prefers_the_named_skill():
    esco = load_esco()
    scores = bm25_scores(["We run PostgreSQL", "zzz qqq"], esco)
    assert esco.skills[int(scores[0].argmax())].label == "PostgreSQL"
    assert scores.shape == (2, len(esco.skills)) and float(scores[1].abs().max()) == 0.0  # no shared word


def test_cli_on_a_csv_prints_json_with_counts(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("sentence,label\nExperience with PostgreSQL.,PostgreSQL\nFluent in German.,German\n"
                    "Nothing here.,LABEL NOT PRESENT\n", encoding="utf-8")
    done = run_cli("evaluate", "--benchmark", path, "--no-baselines", "--format", "json",
                   "--results-dir", tmp_path / "results")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    [result] = json.loads(done.stdout)
    assert {"rp@1", "rp@5", "rp@10", "mrr", "n_queries", "n_dropped"} <= set(result)
    assert (result["n_queries"], result["n_dropped"]) == (2, 1)
    assert 0 <= result["rp@5"] <= 100 and 0 <= result["mrr"] <= 1
    saved = list((tmp_path / "results").glob("mine__file__*.json"))
    assert len(saved) == 1 and json.loads(saved[0].read_text())["rp@5"] == result["rp@5"]


@pytest.mark.slow
def test_harness_reproduces_the_zero_shot_reference_row():
    """DESIGN.md §4 measured all-MiniLM-L6-v2 with ConTeXT scoring on TECH test at 43.09 / 54.08 / 0.425."""
    done = run_cli("evaluate", "--model", "all-MiniLM-L6-v2", "--benchmark", "tech", "--split", "test",
                   "--no-baselines", "--format", "json", "--no-save")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    [result] = json.loads(done.stdout)
    assert (result["rp@5"], result["rp@10"], round(result["mrr"], 3)) == (43.09, 54.08, 0.425)
    assert result["n_queries"] == 338


def test_zero_shot_threshold_is_the_tuned_one():
    from contextmatch.evaluation.ranking import REPO_DIR
    from contextmatch.models import ZERO_SHOT_THRESHOLDS

    for name, threshold in ZERO_SHOT_THRESHOLDS.items():
        tuned = json.loads((REPO_DIR / "results" / "thresholds" / f"{name}.json").read_text())
        assert tuned["threshold"] == threshold and tuned["split"] == "validation"


def test_default_extractor_uses_the_tuned_threshold(extractor):
    from contextmatch.models import MINILM, ZERO_SHOT_THRESHOLDS, default_model

    if default_model() == MINILM:
        assert extractor.threshold == ZERO_SHOT_THRESHOLDS[MINILM]


def test_cli_evaluates_the_model_and_every_baseline_by_default(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("sentence,label\nExperience with PostgreSQL.,PostgreSQL\nFluent in German.,German\n",
                    encoding="utf-8")
    done = run_cli("evaluate", "--benchmark", path, "--no-save")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    out = done.stdout.decode()
    for system in ("ConTeXT-match, all-MiniLM-L6-v2 (zero-shot)", "BM25 over ESCO labels",
                   "mean-pooled cosine, all-MiniLM-L6-v2"):
        assert system in out
    assert "RP@1" in out and "MRR" in out


def test_cli_title_task_on_a_csv(tmp_path):
    import gzip

    from contextmatch.evaluation.title_benchmarks import JOBBERT_TITLES

    with gzip.open(JOBBERT_TITLES, "rt", encoding="utf-8") as handle:
        lines = handle.read().splitlines()[:6]
    path = tmp_path / "titles.csv"
    path.write_text("\n".join(lines + ["99,Astronaut,http://data.europa.eu/esco/occupation/not-in-esco"]) + "\n",
                    encoding="utf-8")
    done = run_cli("evaluate", "--task", "titles", "--benchmark", path, "--no-baselines", "--format", "json",
                   "--no-save")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    [result] = json.loads(done.stdout)
    assert {"mrr", "acc@1", "acc@5", "acc@10", "n_queries", "n_dropped"} <= set(result)
    assert (result["n_queries"], result["n_dropped"]) == (5, 1)


def test_all_label_systems_have_their_own_name_and_need_contextmatch():
    from contextmatch.evaluation.ranking import System, baseline_systems, score_matrix

    preferred, every = System("contextmatch", "all-MiniLM-L6-v2"), System("contextmatch", "all-MiniLM-L6-v2", "all",
                                                                          "mix:0.5")
    assert every.name == preferred.name + ", all labels mix:0.5"
    assert baseline_systems("all-MiniLM-L6-v2", "all", "max")[0] == System("contextmatch", "all-MiniLM-L6-v2", "all",
                                                                           "max")
    with pytest.raises(ValueError, match="needs a contextmatch system"):
        score_matrix(System("bm25", None, "all"), ["SQL"])


def test_skill_prior_features_count_occupations_and_rank_gold():
    import doctest
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    import skill_priors

    assert doctest.testmod(skill_priors).failed == 0
    esco = load_esco()
    counts = skill_priors.occupation_counts(esco)
    assert counts.shape == (len(esco.skills),) and counts.sum() > 0
    index = {skill.uri: i for i, skill in enumerate(esco.skills)}
    some = next(iter(esco.occupation_skills.values()))
    for uri in some["essential"] + some["optional"]:
        if uri in index:
            assert counts[index[uri]] >= 1  # every listed skill is counted at least once
