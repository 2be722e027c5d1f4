"""Job-title normalization: the title model, the normalizer, the evaluation maths, training and the CLI."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT, run_cli
from contextmatch.esco import load_esco
from contextmatch.inputs import InputError
from contextmatch.text import bm25_words
from contextmatch.evaluation.titles import BM25Scorer, evaluate_titles, rank_metrics
from contextmatch.evaluation.title_benchmarks import read_title_benchmark
from contextmatch.titles.model import TitleModel, default_title_model
from contextmatch.titles.normalizer import (OccupationMatch, SkillHit, TitleNormalizer, max_per_group,
                                           occupation_labels)

ESCO = load_esco()
BY_LABEL = {o.label: o for o in ESCO.occupations}
EXPECTED = {  # title -> an occupation it must rank in the top 3
    "senior java developer": "software developer",
    "registered nurse": "nurse responsible for general care",
    "head chef": "cook",
    "bus driver": "bus driver",
    "accounts assistant": "accountant",
}
SUBSET = [BY_LABEL[label].uri for label in (*EXPECTED.values(), "primary school teacher", "electrician")] + [
    o.uri for o in ESCO.occupations[:40]]


@pytest.fixture(scope="module")
def title_model():
    return TitleModel.from_pretrained(None, device="cpu")  # the shipped model, else zero-shot MiniLM


@pytest.fixture(scope="module")
def small_normalizer(title_model):
    return TitleNormalizer(title_model, occupations=list(dict.fromkeys(SUBSET)))


def test_encode_branches_are_explicit(title_model):
    titles = title_model.encode_titles(["sr. java dev", "nurse"])
    skills = title_model.encode_skills([["java", "sql"], "patient care, administer medication"])
    assert titles.shape == skills.shape == (2, title_model.dimension)
    assert torch.allclose(titles.norm(dim=1), torch.ones(2), atol=1e-4)
    if title_model.has_heads:  # the shipped model: two heads, wider than the encoder
        assert title_model.dimension == 512
        assert not torch.allclose(title_model.encode_titles(["java"]), title_model.encode_skills(["java"]))


def test_normalize_shape_and_order(small_normalizer):
    titles = list(EXPECTED)
    results = small_normalizer.normalize(titles, top_k=4)
    assert len(results) == len(titles)
    for title, matches in zip(titles, results):
        assert len(matches) == 4 and all(isinstance(m, OccupationMatch) for m in matches)
        scores = [m.score for m in matches]
        assert scores == sorted(scores, reverse=True) and all(-1 <= m.similarity <= 1.0001 for m in matches)
        assert all(m.score >= m.similarity - 1e-4 for m in matches)  # the prior only adds
        assert EXPECTED[title] in [m.label for m in matches[:3]], (title, matches)
        best = matches[0]
        assert best.isco_code == BY_LABEL[best.label].code and best.uri == BY_LABEL[best.label].uri
        occupation = BY_LABEL[best.label]
        assert best.matched_label in (occupation.label, *occupation.alt_labels, *occupation.hidden_labels)
    assert small_normalizer.normalize([], top_k=3) == []
    with pytest.raises(TypeError):
        small_normalizer.normalize("nurse")
    with pytest.raises(ValueError):
        small_normalizer.normalize(["nurse"], top_k=0)


def test_scores_combine_the_best_label_and_the_centroid(small_normalizer):
    plain = TitleNormalizer(small_normalizer.model, occupations=[o.uri for o in small_normalizer.occupations],
                            centroid_weight=0, prior_weight=0)
    query = small_normalizer.model.encode_titles(["registered nurse"])
    labels, owners = plain.label_matrix(), plain.label_owners
    best, combined = plain.score_occupations(["registered nurse"]), small_normalizer.score_occupations(["registered nurse"])
    weight = small_normalizer.centroid_weight
    for column in (0, 1, 5):
        mine = labels[owners == column]
        assert float(best[0, column]) == pytest.approx(float((query @ mine.T).max()), abs=1e-5)
        centroid = torch.nn.functional.normalize(mine.sum(0), dim=0)
        expected = (float((query @ mine.T).max()) + weight * float(query[0] @ centroid)) / (1 + weight)
        if small_normalizer.prior is not None:
            expected += small_normalizer.prior_weight * float(small_normalizer.prior[column])
        assert float(combined[0, column]) == pytest.approx(expected, abs=1e-5)


def test_normalize_ad_uses_the_skills(small_normalizer):
    plain = small_normalizer.normalize(["assistant"], top_k=3)[0]
    assert small_normalizer.normalize_ad("assistant", [], top_k=3) == plain
    with_skills = small_normalizer.normalize_ad("assistant", ["prepare financial statements", "bookkeeping",
                                                              "tax legislation"], top_k=3)
    assert len(with_skills) == 3 and isinstance(with_skills[0], OccupationMatch)
    assert "accountant" in [m.label for m in with_skills]


def test_max_per_occupation_aggregation():
    scores = torch.tensor([[0.2, 0.7, 0.1, 0.9, 0.3],
                           [0.8, 0.1, 0.6, 0.2, 0.3]])
    owners = torch.tensor([1, 0, 1, 2, 2])  # labels 0 and 2 -> occupation 1, label 1 -> 0, labels 3 and 4 -> 2
    values, best = max_per_group(scores, owners, 4)
    assert torch.equal(values[:, :3], torch.tensor([[0.7, 0.2, 0.9], [0.1, 0.8, 0.3]]))
    assert torch.isinf(values[:, 3]).all()  # an occupation without labels never wins
    assert best.tolist() == [[1, 0, 3, -1], [1, 0, 4, -1]]


def test_occupation_labels_cover_every_label_kind():
    labels, owners = occupation_labels(ESCO)
    assert len(labels) == len(owners) and set(owners.tolist()) == set(range(len(ESCO.occupations)))
    hidden = next(o for o in ESCO.occupations if o.hidden_labels)
    index = ESCO.occupations.index(hidden)
    mine = {labels[i] for i in (owners == index).nonzero().flatten().tolist()}
    assert hidden.label in mine and set(hidden.hidden_labels) <= mine


def test_metric_maths_by_hand():
    scores = torch.tensor([[0.9, 0.5, 0.1, 0.0],   # gold 1 at rank 2
                           [0.1, 0.2, 0.3, 0.4],   # gold 3 at rank 1
                           [0.5, 0.5, 0.1, 0.0],   # gold 0 tied with 1: rank 1 or 2
                           [0.4, 0.3, 0.2, 0.1]])  # gold 3 at rank 4
    gold = torch.tensor([1, 3, 0, 3])
    mean = rank_metrics(scores, gold, k_values=(1, 2, 3))
    assert mean["mrr"] == pytest.approx(round((1 / 2 + 1 + (1 + 1 / 2) / 2 + 1 / 4) / 4, 4))
    assert (mean["acc@1"], mean["acc@2"], mean["acc@3"]) == (37.5, 75.0, 75.0)
    optimistic = rank_metrics(scores, gold, k_values=(1,), ties="optimistic")
    pessimistic = rank_metrics(scores, gold, k_values=(1,), ties="pessimistic")
    assert optimistic["mrr"] == pytest.approx((1 / 2 + 1 + 1 + 1 / 4) / 4, abs=1e-4) and optimistic["acc@1"] == 50.0
    assert pessimistic["mrr"] == pytest.approx((1 / 2 + 1 + 1 / 2 + 1 / 4) / 4, abs=1e-4)
    assert pessimistic["acc@1"] == 25.0


def test_csv_without_the_columns_is_a_clear_error(tmp_path):
    path = tmp_path / "titles.csv"
    path.write_text("title,uri\nnurse,http://data.europa.eu/esco/occupation/x\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"no column 'vacancyTitle' or 'conceptUri'.*'title', 'uri'"):
        read_title_benchmark(path)
    benchmark = read_title_benchmark(path, title_column="title", uri_column="uri")
    assert benchmark.n_queries == 0 and benchmark.n_dropped == 1
    with pytest.raises(InputError, match="not found"):
        read_title_benchmark(tmp_path / "missing.csv")


def test_unknown_uris_are_counted_as_dropped(tmp_path):
    nurse, cook = BY_LABEL["nurse responsible for general care"], BY_LABEL["cook"]
    path = tmp_path / "titles.csv"
    path.write_text(f",vacancyTitle,conceptUri\n0,Staff Nurse,{nurse.uri}\n1,Chef,{cook.uri}\n"
                    "2,Astronaut,http://data.europa.eu/esco/occupation/not-in-v1.1.0\n3,,whatever\n", encoding="utf-8")
    column = {o.uri: i for i, o in enumerate(ESCO.occupations)}

    def oracle(titles):  # ranks the right occupation first for the nurse, third for the chef
        scores = torch.zeros((len(titles), len(ESCO.occupations)))
        scores[0, column[nurse.uri]] = 1.0
        scores[1, :2] = 2.0
        scores[1, column[cook.uri]] = 1.0
        return scores

    result = evaluate_titles(oracle, path)
    assert (result["n_queries"], result["n_dropped"]) == (2, 1)
    assert result["dropped_uris"] == {"http://data.europa.eu/esco/occupation/not-in-v1.1.0": 1}
    assert result["mrr"] == pytest.approx((1 + 1 / 3) / 2, abs=1e-4)
    assert (result["acc@1"], result["acc@5"], result["acc@10"]) == (50.0, 100.0, 100.0)
    halves = [read_title_benchmark(path, split=s) for s in ("even", "odd")]
    assert [h.n_queries + h.n_dropped for h in halves] == [2, 1]


def test_shipped_benchmark_is_complete():
    benchmark = read_title_benchmark()
    assert (benchmark.n_queries, benchmark.n_dropped, benchmark.name) == (15463, 0, "jobbert-titles")


def test_bm25_equals_rank_bm25():
    scorer = BM25Scorer()
    titles = ["Sr. Java Developer", "bus driver", "zzz"]
    expected = torch.tensor(np.array([scorer.index.get_scores(bm25_words(t)) for t in titles]), dtype=torch.float32)
    assert torch.allclose(scorer.label_scores(titles), expected, atol=1e-4)
    scores = scorer.score_occupations(titles)
    assert scores.shape == (3, len(ESCO.occupations)) and float(scores[2].abs().max()) == 0.0
    assert ESCO.occupations[int(scores[1].argmax())].label == "bus driver"


def _tiny_config(tmp_path, **overrides):
    from contextmatch.training.titles import TrainConfig

    values = dict(out=str(tmp_path / "model"), batch_size=8, max_steps=2, val_fraction=0.002,
                  val_labels_per_occupation=1, checkpoint_every=1, device="cpu", seed=1)
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture(scope="module")
def trained_folder(tmp_path_factory):
    from contextmatch.training.titles import train_titles

    tmp_path = tmp_path_factory.mktemp("title-train")
    return train_titles(_tiny_config(tmp_path), progress=False, log=lambda message: None)


def test_two_step_training_saves_and_reloads(trained_folder):
    info = json.loads((trained_folder / "training_info.json").read_text())
    assert info["steps"] == 2 and info["data"]["excluded_benchmark_titles"] > 0
    assert info["selected"]["mrr"] > 0 and not (trained_folder / "checkpoint").exists()
    model = TitleModel.from_pretrained(str(trained_folder), device="cpu")
    assert model.has_heads and model.encode_titles(["nurse"]).shape == (1, 512)
    assert next(model.st.parameters()).dtype == torch.float32  # float16 on disk, float32 in memory


def test_training_never_sees_benchmark_titles():
    from contextmatch.evaluation.title_benchmarks import benchmark_titles
    from contextmatch.training.title_data import build_title_data

    exclude = benchmark_titles()
    data = build_title_data(ESCO, exclude, val_fraction=0.05, seed=3)
    assert not {label.lower() for label in data.labels} & exclude
    labels = occupation_labels(ESCO)[0]
    assert data.counts["excluded_benchmark_titles"] == sum(label.lower() in exclude for label in labels) > 1000
    assert not set(zip(data.labels, data.owners)) & set(zip(data.val_queries, data.val_owners))


def test_batches_never_hold_two_labels_of_one_occupation():
    from contextmatch.training.title_data import build_title_data, plan_epoch

    data = build_title_data(ESCO, set(), val_fraction=0.0, seed=3)
    plan = plan_epoch(data, 64, seed=3, epoch=0)
    assert sorted(i for batch in plan for i in batch) == list(range(len(data.labels)))
    for batch in plan:
        assert len({data.owners[i] for i in batch}) == len(batch)
    assert plan == plan_epoch(data, 64, seed=3, epoch=0) != plan_epoch(data, 64, seed=3, epoch=1)


def test_the_model_folder_loads_with_the_one_liner_offline(trained_folder, title_model):
    folders = [trained_folder] + ([default_title_model()] if title_model.has_heads else [])
    code = ("import sys, json; from sentence_transformers import SentenceTransformer\n"
            "for folder in sys.argv[1:]:\n"
            "    model = SentenceTransformer(folder)\n"
            "    t = model.encode(['registered nurse'], task='title'); s = model.encode(['patient care'], task='skills')\n"
            "    print(json.dumps([t[0].tolist(), s[0].tolist(), str(t.dtype)]))")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code, *map(str, folders)], capture_output=True, text=True, env=env,
                          timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    for folder, line in zip(folders, done.stdout.strip().splitlines()):
        title, skills, dtype = json.loads(line)
        model = TitleModel.from_pretrained(str(folder), device="cpu")
        ours = model.encode_titles(["registered nurse"], normalize=False)[0]
        assert dtype == "float32" and torch.allclose(torch.tensor(title), ours, atol=1e-4)
        assert torch.allclose(torch.tensor(skills), model.encode_skills(["patient care"], normalize=False)[0],
                              atol=1e-4)
    # plain encode() without a task names the branches instead of returning un-projected vectors
    failing = subprocess.run([sys.executable, "-c", "import sys; from sentence_transformers import "
                              "SentenceTransformer; SentenceTransformer(sys.argv[1]).encode(['nurse'])",
                              str(trained_folder)], capture_output=True, text=True, env=env, timeout=300)
    assert failing.returncode != 0 and "task" in failing.stderr


@pytest.mark.slow
def test_training_resumes_after_an_interruption(tmp_path):
    from contextmatch.training.titles import train_titles

    def stop(step):
        if step == 2:
            raise KeyboardInterrupt

    config = _tiny_config(tmp_path, max_steps=3)
    with pytest.raises(KeyboardInterrupt):
        train_titles(config, progress=False, log=lambda message: None, on_step=stop)
    assert (tmp_path / "model" / "checkpoint" / "state.pt").exists()
    with pytest.raises(FileExistsError):
        train_titles(config, progress=False, log=lambda message: None)
    messages = []
    folder = train_titles(config, resume=True, progress=False, log=messages.append)
    assert any("resumed" in m and "step 2/3" in m for m in messages)
    assert json.loads((folder / "training_info.json").read_text())["steps"] == 3
    # the resumed run trained exactly as an uninterrupted one: same batches, same dropout
    straight = train_titles(_tiny_config(tmp_path, max_steps=3, out=str(tmp_path / "straight")), progress=False,
                            log=lambda message: None)
    texts = ["registered nurse", "sr. java dev"]
    a, b = (TitleModel.from_pretrained(str(f), device="cpu") for f in (folder, straight))
    assert torch.allclose(a.encode_titles(texts), b.encode_titles(texts), atol=1e-6)
    assert torch.allclose(a.encode_skills(texts), b.encode_skills(texts), atol=1e-6)


@pytest.mark.slow
def test_gpu_recipe_code_path_on_cpu(tmp_path):
    """The gpu recipe (all-mpnet-base-v2, 1024-d heads, full skill pairs) with a small base, a few steps on CPU."""
    from contextmatch.training.titles import TrainConfig, train_titles

    config = TrainConfig.from_recipe("gpu", base="all-MiniLM-L6-v2", out=str(tmp_path / "gpu"), batch_size=8,
                                     max_steps=3, val_fraction=0.002, val_labels_per_occupation=1, device="cpu")
    assert config.head_dim == 1024 and config.skill_fraction == 1.0 and not config.freeze_embeddings
    folder = train_titles(config, progress=False, log=lambda message: None)
    assert TitleModel.from_pretrained(str(folder), device="cpu").encode_skills(["sql"]).shape == (1, 1024)


@pytest.mark.slow
def test_implied_skills(title_model):
    normalizer = TitleNormalizer(title_model)
    hits = normalizer.implied_skills("registered nurse", top_k=10)
    assert len(hits) == 10 and all(isinstance(h, SkillHit) for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].uri in ESCO.skill_by_uri


@pytest.mark.slow
def test_cli_normalize_prints_occupations(tmp_path):
    done = run_cli("normalize", "registered nurse")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    out = done.stdout.decode()
    assert "registered nurse" in out and "nurse" in out.split("\n", 2)[2] and "European Commission" in out
    titles = tmp_path / "titles.txt"
    titles.write_text("registered nurse\n\nhead chef\n", encoding="utf-8")
    done = run_cli("normalize", "--file", titles, "--format", "jsonl", "--top-k", "2")
    rows = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [r["title"] for r in rows] == ["registered nurse", "head chef"]
    assert all(len(r["occupations"]) == 2 and {"uri", "label", "isco_code", "score", "matched_label"}
               <= set(r["occupations"][0]) for r in rows)
    done = run_cli("normalize")
    assert done.returncode == 1 and "give one or more job titles" in done.stderr.decode()


def _normalize_run(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "contextmatch.cli.main", "normalize", *map(str, args)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_normalize_to_file_resumes_after_sigkill_with_every_title_once(tmp_path):
    import signal
    import time

    words = ["registered nurse", "head chef", "bus driver", "sr. java dev", "accounts assistant", "electrician"]
    titles = tmp_path / "titles.txt"
    lines = [f"{words[i % 6]} {i}" if i % 50 else "" for i in range(1, 1201)]  # every 50th line blank
    titles.write_text("\n".join(lines) + "\n", encoding="utf-8")
    expected_lines = [i for i, line in enumerate(lines, 1) if line]
    reference, out = tmp_path / "reference.jsonl", tmp_path / "out.jsonl"
    args = ("--file", titles, "--top-k", "2", "--chunk-size", "8")
    done = _normalize_run(*args, "--out", reference)
    assert done.wait(timeout=600) == 0, done.stderr.read().decode()[-3000:]

    run = _normalize_run(*args, "--out", out)
    deadline = time.monotonic() + 300
    while (not out.exists() or out.stat().st_size == 0) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    run.send_signal(signal.SIGKILL)
    assert run.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    assert 0 < len(out.read_bytes().splitlines()) < len(expected_lines)
    assert json.loads((tmp_path / "out.jsonl.manifest.json").read_text())["status"] == "running"
    again = _normalize_run(*args, "--out", out)
    assert again.wait(timeout=600) == 0, again.stderr.read().decode()[-3000:]

    got, want = _records(out), _records(reference)
    assert [r["line"] for r in got] == [r["line"] for r in want] == expected_lines  # each title once, in order
    assert [r["title"] for r in got] == [lines[n - 1] for n in expected_lines]
    for a, b in zip(got, want):
        assert [m["uri"] for m in a["occupations"]] == [m["uri"] for m in b["occupations"]]
        assert [m["score"] for m in a["occupations"]] == pytest.approx([m["score"] for m in b["occupations"]],
                                                                       abs=1e-3)
    assert json.loads((tmp_path / "out.jsonl.manifest.json").read_text())["status"] == "complete"

    other = run_cli("normalize", *args[:-2], "--chunk-size", "8", "--top-k", "3", "--out", out)
    assert other.returncode == 1 and "--top-k 2 there, 3 now" in other.stderr.decode()
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text("not ours\n", encoding="utf-8")
    refused = run_cli("normalize", "--file", titles, "--out", foreign)
    assert refused.returncode == 1 and "not written by" in refused.stderr.decode()
    assert foreign.read_text() == "not ours\n"  # nothing lost


def test_titles_with_markup_are_cleaned(small_normalizer):
    plain = small_normalizer.normalize(["Sales & Marketing Executive"], top_k=3)[0]
    marked = small_normalizer.normalize(["<b>Sales &amp; Marketing</b>   Executive"], top_k=3)[0]
    assert [m.uri for m in marked] == [m.uri for m in plain]
    assert [m.score for m in marked] == pytest.approx([m.score for m in plain], abs=1e-5)
