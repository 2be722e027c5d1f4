"""The set that ``extract`` reports: gate, selection, grouping, and the set-level benchmark that scores it."""

import csv
import json

import pytest
import torch

from conftest import ROOT, run_cli
from contextmatch.evaluation.extraction import (
    ExtractionBenchmark, GoldSentence, SKILL_XL_HALVES, extraction_metrics, load_extraction_benchmark,
)
from contextmatch.skills.selection import N_PAIR_FEATURES, SelectionRule, SkillFeatures

SKILL_XL_HEADER = ["ID", "subset", "title", "sentence", "relevant", "cluster", "skill"]


def test_sentence_and_ad_metrics_by_hand():
    # ad A: s1 gold clusters {Python, computer programming} and {SQL}; s2 no skill. ad B: s3 gold {teamwork}.
    benchmark = ExtractionBenchmark("tiny", "file", [
        GoldSentence("A", "s1", [frozenset({"Python (computer programming)", "computer programming"}),
                                 frozenset({"SQL"})]),
        GoldSentence("A", "s2", []),
        GoldSentence("B", "s3", [frozenset({"teamwork principles"})]),
    ], has_ads=True)
    reported = [["Python (computer programming)", "computer programming", "dock operations"], ["profile people"],
                ["SQL"]]
    m = extraction_metrics(benchmark, reported)
    s = m["sentence"]
    # 5 reported, 2 right (both labels of the Python cluster), 1 of 3 clusters found, 1 redundant, 1 on s2
    assert (s["reported"], s["right"], s["found"], s["gold_clusters"]) == (5, 2, 1, 3)
    assert (s["redundant"], s["on_no_skill"]) == (1, 1)
    assert s["precision"] == pytest.approx(0.4) and s["recall"] == pytest.approx(1 / 3)
    assert s["f1"] == pytest.approx(2 * 0.4 / 3 / (0.4 + 1 / 3))
    # per ad: A reports 4 distinct labels against its 2 clusters (SQL reported in ad B does not count for A)
    a = m["ad"]
    assert (a["reported"], a["right"], a["found"], a["gold_clusters"]) == (5, 2, 1, 3)


def test_skill_xl_csv_keeps_no_skill_sentences_and_clusters(tmp_path):
    path = tmp_path / "ads.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(SKILL_XL_HEADER)
        writer.writerow(["ad1", "RANDOM", "Data engineer", "We are a great team.", "False", "", ""])
        writer.writerow(["ad1", "RANDOM", "Data engineer", "You know Python and SQL.", "True", "1",
                         "Python (computer programming)"])
        writer.writerow(["ad1", "RANDOM", "Data engineer", "You know Python and SQL.", "True", "1",
                         "computer programming"])
        writer.writerow(["ad1", "RANDOM", "Data engineer", "You know Python and SQL.", "True", "2", "SQL"])
        writer.writerow(["ad2", "RANDOM", "Nurse", "Care for patients.", "True", "1", "LABEL NOT PRESENT"])
    benchmark = load_extraction_benchmark(str(path))
    assert benchmark.has_ads and [s.text for s in benchmark.sentences] == [
        "We are a great team.", "You know Python and SQL.", "Care for patients."]
    assert benchmark.sentences[0].clusters == [] and benchmark.sentences[2].clusters == []
    assert sorted(map(sorted, benchmark.sentences[1].clusters)) == [
        ["Python (computer programming)", "computer programming"], ["SQL"]]


def test_tech_file_is_label_level_without_ads():
    benchmark = load_extraction_benchmark("tech", "validation")
    assert not benchmark.has_ads and len(benchmark.sentences) == 75
    assert all(len(c) == 1 for s in benchmark.sentences for c in s.clusters)


def test_bad_benchmark_files_get_one_line_errors(tmp_path):
    from contextmatch.inputs import InputError

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError, match="match no benchmark format"):
        load_extraction_benchmark(str(wrong))
    with pytest.raises(InputError, match="select and report"):
        load_extraction_benchmark("skill-xl", "test")


def test_skill_xl_halves_are_fixed_disjoint_and_stratified():
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    from split_skill_xl import halves

    with open(ROOT / "skill_xl" / "raw" / "development.csv", encoding="utf-8", newline="") as handle:
        ads = {row["ID"]: row["subset"] for row in csv.DictReader(handle)}
    with open(SKILL_XL_HALVES, encoding="utf-8", newline="") as handle:
        stored = {row["ID"]: row["half"] for row in csv.DictReader(handle)}
    assert stored == halves(ads) and set(stored) == set(ads)
    for subset in set(ads.values()):
        sides = [stored[a] for a in ads if ads[a] == subset]
        assert abs(sides.count("select") - sides.count("report")) <= 1
    select, report = (load_extraction_benchmark("skill-xl", h) for h in ("select", "report"))
    assert not {s.ad for s in select.sentences} & {s.ad for s in report.sentences}


def test_selection_keeps_a_multi_skill_sentence_and_drops_the_tail():
    rule = SelectionRule(0.5, margin=0.08)
    assert rule.keeps([0.611, 0.558, 0.52, 0.40], None) == [0, 1]
    assert SelectionRule(0.64).keeps([0.611, 0.558], None) == []  # one global threshold loses both


def test_skill_features_tell_a_stated_label_from_a_shared_stem(extractor):
    features = SkillFeatures(extractor.esco)
    index = {skill.label: i for i, skill in enumerate(extractor.esco.skills)}
    sentence = "You deploy our services with Docker and write PostgreSQL queries."
    docked, stated = (dict(zip(SkillFeatures.NAMES, row)) for row in
                      features.rows(sentence, [index["dock operations"], index["PostgreSQL"]]))
    assert (docked["exact words"], docked["stem-only words"], docked["label stated"]) == (0.0, 0.5, 0.0)
    assert (stated["exact words"], stated["label stated"], stated["best label exact"]) == (1.0, 1.0, 1.0)
    assert len(docked) == len(SkillFeatures.NAMES)


def test_shipped_calibration_weighs_the_skill_features_it_is_given(extractor):
    rule = extractor.rule()
    assert rule.reads_skills
    with pytest.raises(ValueError, match="skill features"):
        rule.keeps([0.8, 0.7], 0.9)  # the rows are required, not silently zero
    # the same score at the same rank: a label the sentence states is more likely right than one it does not
    names = list(SkillFeatures.NAMES)
    plain = [0.0] * len(names)
    stated = [1.0 if name in ("exact words", "label stated", "best label exact", "best label covered") else 0.0
              for name in names]
    from contextmatch.skills.selection import pair_features, pair_probabilities

    def chance(rows):
        if rule.trees is not None:
            return rule.trees.probabilities([a + b for a, b in zip(pair_features([0.7, 0.6], 0.9), rows)])[0]
        return pair_probabilities([0.7, 0.6], 0.9, rule.calibration, rows)[0]

    assert chance([stated, plain]) > chance([plain, plain]) + 0.1


def test_selection_trees_equal_sklearn_and_survive_the_config(tmp_path):
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

    from contextmatch.skills.selection import Forest, pair_features

    rng = np.random.RandomState(0)
    x = rng.randn(3000, N_PAIR_FEATURES + 2)  # the pair features and two skill features
    y = (x[:, 0] + x[:, 1] * x[:, 2] + 0.3 * rng.randn(3000) > 0).astype(int)
    model = HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=7, min_samples_leaf=20, random_state=0).fit(x, y)
    stored = tmp_path / "trees.json"
    stored.write_text(json.dumps(Forest.from_sklearn(model).spec()))  # as the model config holds them
    forest = Forest(json.loads(stored.read_text()))
    probe = rng.randn(500, N_PAIR_FEATURES + 2)
    assert np.allclose(forest.probabilities(probe), model.predict_proba(probe)[:, 1], atol=1e-9)
    rule = SelectionRule(-1.0, trees=forest, cutoff=0.5)
    assert rule.calibrated and rule.reads_skills
    scores, rows = [0.8, 0.6, 0.5], [[0.5, -1.0], [2.0, 0.0], [-1.0, 1.0]]
    chances = forest.probabilities([a + b for a, b in zip(pair_features(scores, None), rows)])
    assert rule.keeps(scores, None, rows) == [i for i, p in enumerate(chances) if p >= 0.5]


def test_gate_relevance_is_the_remote_code_formula(extractor):
    from contextmatch.skills.gate import gate_probabilities, gate_vectors, top_scores

    config = extractor.model.config
    if not config.gate_weights:
        pytest.skip("the shipped model has no gate")
    sentences = ["Your profile", "You build data pipelines in Python and SQL.", "We offer 30 days of holiday."]
    result = extractor.extract_sentences([sentences], threshold=-1.0)[0]
    first = gate_probabilities(gate_vectors(extractor, sentences), config.gate_weights, config.gate_bias).tolist()
    expected = torch.tensor(extractor.model.ad_relevance(first, sentences, *top_scores(extractor, sentences)))
    got = torch.tensor([s.relevance for s in result.sentences])
    assert torch.allclose(got, expected, atol=1e-4)
    assert got[1] > got[0] and got[1] > got[2]
    if config.gate_context:  # the second step reads the neighbours: the same sentence alone scores otherwise
        alone = extractor.extract_sentences([[sentences[1]]], threshold=-1.0)[0].sentences[0].relevance
        assert abs(alone - float(got[1])) > 1e-4


def test_gated_sentences_report_nothing_and_no_gate_reports_them(model_and_tokenizer):
    from contextmatch.skills.extractor import SkillExtractor

    gated = SkillExtractor(model_and_tokenizer, threshold=-1.0)
    if not gated.gate:
        pytest.skip("the shipped model has no gate")
    ungated = SkillExtractor(model_and_tokenizer, threshold=-1.0, gate=False)
    sentences = ["Your profile", "We offer 30 days of holiday and a bike lease.", "You write Python and SQL."]
    with_gate = gated.extract_sentences([sentences])[0].sentences
    without = ungated.extract_sentences([sentences])[0].sentences
    rule = gated.rule()
    for a, b in zip(with_gate, without):
        assert a.relevance == pytest.approx(b.relevance)
        assert (not a.skills) == (a.relevance < rule.gate)
        assert b.skills
    assert with_gate[2].skills


def test_gate_context_is_the_same_across_decision_chunks_and_ads(model_and_tokenizer, monkeypatch):
    from contextmatch.skills import extractor as module

    extractor = module.SkillExtractor(model_and_tokenizer, threshold=-1.0)
    ads = [["Your profile", "You write Python and SQL.", "We offer a bike lease."], ["You speak German."]]
    whole = [s.relevance for r in extractor.extract_sentences(ads) for s in r.sentences]
    monkeypatch.setattr(module, "DECISION_CHUNK", 2)  # chunks end inside the first ad and at the ad boundary
    chunked = [s.relevance for r in extractor.extract_sentences(ads) for s in r.sentences]
    assert chunked == pytest.approx(whole, abs=1e-6)
    alone = extractor.extract_sentences([ads[1]])[0].sentences[0].relevance
    assert alone == pytest.approx(whole[3], abs=1e-6)  # the previous ad is not its context


def test_groups_fold_near_duplicates_and_ad_groups_are_consistent(model_and_tokenizer):
    from contextmatch.skills.extractor import SkillExtractor

    grouped = SkillExtractor(model_and_tokenizer, threshold=0.3, gate=False)
    plain = SkillExtractor(model_and_tokenizer, threshold=0.3, gate=False, grouping=False)
    text = "A degree in computer science.\nYou are fluent in English and German."
    result = grouped.extract(text, top_k=5)
    flat = plain.extract(text, top_k=10)
    for sentence, reference in zip(result.sentences, flat.sentences):
        heads = [grouped._skill_index[m.uri] for m in sentence.skills]
        assert not any(grouped.redundancy.same(a, b) for i, a in enumerate(heads) for b in heads[i + 1:])
        reported = {m.uri for m in sentence.skills} | {a.uri for m in sentence.skills for a in m.alternatives}
        kept = {m.uri for m in reference.skills}
        assert reported <= kept  # grouping only folds skills the rule kept
        for match in sentence.skills:
            assert result.skills[match.group].score >= match.score
            for alt in match.alternatives:
                assert alt.score <= match.score
    assert len({s.uri for s in result.skills}) == len(result.skills)
    record = json.loads(json.dumps(result.to_dict()))
    first = record["sentences"][0]
    assert {"relevance", "skills"} <= set(first) and {"group", "alternatives"} <= set(first["skills"][0])


def test_extract_sentences_equals_extract_on_clean_sentences(extractor):
    sentences = ["Experience with PostgreSQL.", "You speak English."]
    a = extractor.extract("\n".join(sentences))
    b = extractor.extract_sentences([sentences])[0]
    assert a.to_dict() == b.to_dict()


def test_shipped_rule_is_the_one_chosen_on_select():
    from contextmatch.evaluation import extraction as extraction_eval
    from contextmatch.models import SHIPPED_MODEL_DIR

    chosen = json.loads((ROOT / "results" / "extraction" / "selection.json").read_text())
    config = json.loads((SHIPPED_MODEL_DIR / "config.json").read_text())
    last = chosen["layers"][-1]["rule"]
    assert config["gate_threshold"] == last["gate"] and config["selection_cutoff"] == last["cutoff"]
    assert config["group_similarity"] == last["similarity"] and config["group_relations"] == last["relations"]
    assert (config["score_margin"] if config["score_margin"] < 2 else None) == last["margin"]
    assert config["score_threshold"] == chosen["layers"][1]["rule"]["threshold"]  # --threshold's rule with the gate
    assert len(config["selection_weights"]) == N_PAIR_FEATURES + len(SkillFeatures.NAMES) + 1
    trees = config.get("selection_trees")
    assert (len(trees["value"]) if trees else None) == last.get("trees") and chosen["trees_check"]["kept"] == bool(trees)
    assert extraction_eval.GLOBAL_THRESHOLD == chosen["layers"][0]["rule"]["threshold"]
    assert extraction_eval.COSINE_THRESHOLD == chosen["cosine_baseline"]["rule"]["threshold"]


@pytest.mark.slow
def test_evaluate_extraction_cli_on_a_csv(tmp_path):
    path = tmp_path / "ads.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(SKILL_XL_HEADER)
        writer.writerow(["ad1", "RANDOM", "Engineer", "Your profile", "False", "", ""])
        writer.writerow(["ad1", "RANDOM", "Engineer", "Experience with PostgreSQL.", "True", "1", "PostgreSQL"])
    done = run_cli("evaluate", "--task", "extraction", "--benchmark", path, "--no-baselines", "--format", "json",
                   "--results-dir", tmp_path / "out")
    assert done.returncode == 0, done.stderr.decode()
    [result] = json.loads(done.stdout)
    assert result["sentence"]["found"] == 1 and result["n_sentences"] == 2 and "ad" in result
    assert list((tmp_path / "out").glob("ads__file__*.json"))


def test_fast_grouping_equals_the_pairwise_rule(extractor):
    import random

    from contextmatch.skills.selection import Redundancy, group_ranked

    rng = random.Random(0)
    for similarity, relations in ((0.8, True), (0.85, False), (None, True)):
        redundancy = Redundancy(extractor.esco, extractor.unit_skills, similarity, relations)
        neighbours = redundancy.neighbours()
        seeds = rng.sample(sorted(neighbours), 60) + rng.sample(range(len(extractor.skills)), 200)
        skills = list(dict.fromkeys(seeds + [n for s in seeds[:60] for n in sorted(neighbours[s])]))
        rng.shuffle(skills)
        expected = group_ranked(range(len(skills)), lambda a, b: redundancy.same(skills[a], skills[b]))
        assert redundancy.group(skills) == expected
        assert any(len(g) > 1 for g in expected)
