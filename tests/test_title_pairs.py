"""Learning from labelled vacancy titles: the fixed split, training with --pairs and the occupation prior."""

import csv
import gzip
import json
import math

import pytest
import torch

from conftest import run_cli
from contextmatch.esco import load_esco
from contextmatch.evaluation.title_benchmarks import (JOBBERT_SPLIT, JOBBERT_TITLES, _open_csv, read_title_benchmark,
                                                      split_by_title, title_key)
from contextmatch.titles.prior import count_uris, log_counts, read_prior
from contextmatch.titles.model import TitleModel
from contextmatch.titles.normalizer import TitleNormalizer

ESCO = load_esco()
BY_LABEL = {o.label: o for o in ESCO.occupations}
NURSE, COOK = BY_LABEL["nurse responsible for general care"].uri, BY_LABEL["cook"].uri
SUBSET = [NURSE, COOK] + [o.uri for o in ESCO.occupations[:30]]


def test_the_stored_split_is_the_rule_and_keeps_titles_on_one_side():
    with _open_csv(JOBBERT_TITLES) as handle:
        rows = list(csv.DictReader(handle))
    with _open_csv(JOBBERT_SPLIT) as handle:
        stored = [row["split"] for row in csv.DictReader(handle)]
    assert stored == split_by_title([row["vacancyTitle"] for row in rows])
    sides = {side: {title_key(r["vacancyTitle"]) for r, s in zip(rows, stored) if s == side} for side in set(stored)}
    assert set(sides) == {"train", "select"} and not sides["train"] & sides["select"]
    assert 0.19 < stored.count("select") / len(stored) < 0.21
    train, select = (read_title_benchmark(split=side) for side in ("train", "select"))
    assert train.n_rows + select.n_rows == read_title_benchmark().n_rows == len(rows)


def test_other_files_are_split_by_the_same_rule(tmp_path):
    path = tmp_path / "board.csv"
    titles = [f"title {i % 40}" for i in range(100)]
    path.write_text("job,uri\n" + "".join(f"{t},{NURSE}\n" for t in titles), encoding="utf-8")
    select = read_title_benchmark(path, "job", "uri", "select")
    train = read_title_benchmark(path, "job", "uri", "train")
    assert select.titles == [t for t, side in zip(titles, split_by_title(titles)) if side == "select"]
    assert not {title_key(t) for t in select.titles} & {title_key(t) for t in train.titles}
    assert len(select.titles) + len(train.titles) == 100


def test_pairs_become_anchors_and_never_the_held_out_titles(tmp_path):
    from contextmatch.training.title_data import add_pairs, build_title_data

    path = tmp_path / "pairs.csv.gz"
    rows = [(f"Night Nurse {i}", NURSE) for i in range(30)] + [(f"Line Cook {i}", COOK) for i in range(30)]
    rows += [("Wizard", "http://data.europa.eu/esco/occupation/not-a-uri")] * 3
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["title", "code"])
        writer.writerows(rows)
    data = build_title_data(ESCO, set(), val_fraction=0.0, seed=1)
    n_esco = len(data.labels)
    add_pairs(data, ESCO, str(path), "title", "code", exclude={"line cook 3"})
    anchors = data.labels[n_esco:]
    held = set(data.pair_queries)
    assert anchors and held and not {title_key(a) for a in anchors} & {title_key(t) for t in held}
    assert "Line Cook 3" not in anchors and "Wizard" not in anchors + data.pair_queries
    owners = dict(zip(anchors, data.owners[n_esco:]))
    assert all(ESCO.occupations[owner].uri == (NURSE if title.startswith("Night") else COOK)
               for title, owner in owners.items())
    assert data.counts["pair_rows_dropped_uri"] >= 1


def test_training_with_pairs_writes_a_prior_and_validates_on_select(tmp_path):
    from contextmatch.training.titles import TrainConfig, train_titles

    path = tmp_path / "pairs.csv"
    path.write_text("title,uri\n" + "".join(f"staff nurse {i},{NURSE}\nsous chef {i},{COOK}\n" for i in range(40)),
                    encoding="utf-8")
    config = TrainConfig(out=str(tmp_path / "model"), batch_size=8, max_steps=2, val_fraction=0.002,
                         val_labels_per_occupation=1, checkpoint_every=1, device="cpu", seed=1, pairs=str(path),
                         pairs_title_column="title", pairs_uri_column="uri")
    folder = train_titles(config, progress=False, log=lambda message: None)
    info = json.loads((folder / "training_info.json").read_text())
    assert info["data"]["pair_anchors"] > 0 and "pairs_mrr" in info["selected"]
    prior = read_prior(folder)
    assert prior["counts"] and set(prior["counts"]) <= {NURSE, COOK} and prior["weight"] >= 0
    assert sum(prior["counts"].values()) == info["data"]["pair_anchors"]
    assert "labelled vacancy titles" in (folder / "README.md").read_text()


@pytest.fixture(scope="module")
def plain_model():
    return TitleModel.from_pretrained("all-MiniLM-L6-v2", device="cpu")


def test_the_prior_adds_weight_times_log_counts(plain_model):
    plain = TitleNormalizer(plain_model, occupations=SUBSET, prior_weight=0.0)
    counts = {COOK: 99}
    boosted = TitleNormalizer(plain_model, occupations=SUBSET, prior_weight=0.1, prior_counts=counts)
    titles = ["registered nurse", "kitchen helper"]
    difference = boosted.score_occupations(titles) - plain.score_occupations(titles)
    expected = 0.1 * log_counts(counts, SUBSET)
    assert torch.allclose(difference, expected.expand_as(difference), atol=1e-5)
    top = boosted.normalize(["kitchen helper"], top_k=3)[0]
    assert top[0].uri == COOK and math.isclose(top[0].score - top[0].similarity, 0.1 * math.log(100), abs_tol=1e-3)
    assert all(-1 <= m.similarity <= 1 for m in top)
    with pytest.raises(ValueError, match="no occupation prior"):
        TitleNormalizer(plain_model, occupations=SUBSET, prior_weight=0.1)


def test_count_uris_skips_unknown_codes():
    counts, dropped = count_uris([NURSE, NURSE, "x"], set(ESCO.occupation_by_uri))
    assert counts == {NURSE: 2} and dropped == 1


def _cli(*args):
    done = run_cli(*args)
    done.stdout, done.stderr = done.stdout.decode(), done.stderr.decode()
    return done


def test_cli_prior_flags_and_their_errors(tmp_path):
    codes = tmp_path / "codes.csv"
    codes.write_text("conceptUri\n" + f"{COOK}\n" * 50 + "junk\n", encoding="utf-8")
    out = _cli(*["normalize", "--model", "all-MiniLM-L6-v2", "kitchen helper", "--format", "json", "--top-k", "1",
                   "--prior", str(codes), "--prior-weight", "0.2"])
    assert out.returncode == 0, out.stderr
    match = json.loads(out.stdout)[0]["occupations"][0]
    assert match["uri"] == COOK and match["score"] > match["similarity"]
    assert "1 row(s)" in out.stderr
    bad = _cli(*["normalize", "--model", "all-MiniLM-L6-v2", "nurse", "--prior", str(codes), "--prior-column", "x",
                   "--prior-weight", "0.1"])
    assert bad.returncode != 0 and "no column 'x'" in bad.stderr and "Traceback" not in bad.stderr
    both = _cli(*["normalize", "nurse", "--no-prior", "--prior-weight", "0.1"])
    assert both.returncode != 0 and "--no-prior" in both.stderr
    none = _cli(*["normalize", "--model", "all-MiniLM-L6-v2", "nurse", "--prior", str(codes)])
    assert none.returncode != 0 and "--prior-weight" in none.stderr and "Traceback" not in none.stderr


def test_train_titles_rejects_a_pairs_file_without_occupations(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("vacancyTitle,conceptUri\nnurse,not-a-uri\n", encoding="utf-8")
    done = _cli(*["train-titles", "--pairs", str(path), "--out", str(tmp_path / "m"), "--max-steps", "1"])
    assert done.returncode != 0 and "no (title, ESCO occupation URI) row" in done.stderr
    missing = _cli(*["train-titles", "--pairs", str(path), "--title-column", "t", "--out", str(tmp_path / "m")])
    assert missing.returncode != 0 and "no column 't'" in missing.stderr


def test_shipped_title_model_has_its_prior_and_reads_it():
    from contextmatch.titles.model import default_title_model

    folder = default_title_model()
    prior = read_prior(folder)
    if prior is None:
        pytest.skip("the shipped title model has no occupation prior")
    assert prior["source"]["split"] == "train" and prior["weight"] > 0
    with _open_csv(JOBBERT_SPLIT) as handle:
        n_train = sum(row["split"] == "train" for row in csv.DictReader(handle))
    assert prior["n_titles"] == n_train  # every train row counts, no select row does
    normalizer = TitleNormalizer(folder, occupations=SUBSET)
    assert normalizer.prior_weight == prior["weight"]
    assert TitleNormalizer(folder, occupations=SUBSET, prior_weight=0).prior is None
