"""Tests for the Skill-XL dataset folder (skill_xl/) and its builder (skill_xl/build_skill_xl.py)."""

import csv
import importlib.util
import os
import sys
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest  # noqa: E402

datasets = pytest.importorskip("datasets")

REPO = Path(__file__).resolve().parents[1]
FOLDER = REPO / "skill_xl"
RAW_DEV = FOLDER / "raw" / "development.csv"
HEADER = ["ID", "subset", "title", "sentence", "relevant", "cluster", "skill"]


def _load_builder_module():
    spec = importlib.util.spec_from_file_location("skill_xl_build_for_tests", FOLDER / "build_skill_xl.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bx = _load_builder_module()


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory):
    return tmp_path_factory.mktemp("hf_cache")


@pytest.fixture(scope="module")
def sentences(cache_root):
    return datasets.load_dataset(str(FOLDER), "sentences", split="validation", cache_dir=str(cache_root))


@pytest.fixture(scope="module")
def pairs(cache_root):
    return datasets.load_dataset(str(FOLDER), "pairs", split="validation", cache_dir=str(cache_root))


# ------------------------------------------------------------------------------------------------
# The committed folder
# ------------------------------------------------------------------------------------------------


def test_sentences_counts(sentences):
    assert sentences.num_rows == 2281
    assert len(set(sentences["ad_id"])) == 55
    ads = {}
    for ad, subset in zip(sentences["ad_id"], sentences["subset"]):
        ads[ad] = subset
    assert Counter(ads.values()) == {"RANDOM": 28, "UNIQUE": 27}
    skills = sentences["skills"]
    assert sum(1 for s in skills if s) == 799  # sentences with >= 1 gold skill (evaluation queries)
    assert sum(sentences["relevant"]) == 1062  # upstream flag; 263 flagged sentences carry no skill label
    assert sum(len(s) for s in skills) == 3862  # gold pairs, duplicates merged
    assert len({k for s in skills for k in s}) == 1662


def test_sentences_features_and_alignment(sentences):
    f = sentences.features
    assert f["skills"] == datasets.List(datasets.Value("string"))
    assert f["skill_uris"] == datasets.List(datasets.Value("string"))
    assert f["clusters"] == datasets.List(datasets.Value("int32"))
    assert f["relevant"] == datasets.Value("bool")
    assert f["sentence_index"] == datasets.Value("int32")
    for ex in sentences:
        assert len(ex["skills"]) == len(ex["skill_uris"]) == len(ex["clusters"]) == len(set(ex["skills"]))
        assert all(u.startswith("http://data.europa.eu/esco/skill/") for u in ex["skill_uris"])
        assert all(c >= 1 for c in ex["clusters"])
        if ex["skills"]:
            assert ex["relevant"]
    # sentence_index runs 0..n-1 within each ad, in order
    per_ad = {}
    for ad, idx in zip(sentences["ad_id"], sentences["sentence_index"]):
        assert idx == per_ad.get(ad, 0)
        per_ad[ad] = idx + 1


def test_sentences_match_raw_csv(sentences):
    """Independent recomputation of the gold sets from the raw upstream file."""
    gold = {}
    keys = []
    with open(RAW_DEV, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            key = (row["ID"], row["sentence"])
            if key not in gold:
                gold[key] = {}
                keys.append(key)
            if row["relevant"] == "True" and row["skill"]:
                c = int(row["cluster"])
                gold[key][row["skill"]] = min(c, gold[key].get(row["skill"], c))
    with open(FOLDER / "raw" / "esco_v1.1.0_skill_uris.csv", encoding="utf-8", newline="") as handle:
        uris = {row["preferredLabel"]: row["conceptUri"] for row in csv.DictReader(handle)}
    assert "plan " in uris  # ESCO v1.1.0 labels are kept verbatim, trailing spaces included
    assert [(ex["ad_id"], ex["sentence"]) for ex in sentences] == keys
    for ex in sentences:
        assert dict(zip(ex["skills"], ex["clusters"])) == gold[(ex["ad_id"], ex["sentence"])]
        assert ex["skill_uris"] == [uris[k] for k in ex["skills"]]


def test_pairs_config(pairs, sentences):
    assert pairs.num_rows == 5847
    assert pairs.features["cluster"] == datasets.Value("int32")
    assert pairs.features["skill"] == datasets.Value("string")
    with_skill = [r for r in pairs if r["relevant"] and r["skill"] is not None]
    assert len(with_skill) == 3957  # upstream rows, before merging duplicates
    assert len({(r["ad_id"], r["sentence"], r["skill"]) for r in with_skill}) == 3862
    assert all(r["skill_uri"] and r["cluster"] is not None for r in with_skill)
    assert all(r["skill"] is None and r["cluster"] is None for r in pairs if not r["relevant"])
    index = {(ex["ad_id"], ex["sentence_index"]): ex["sentence"] for ex in sentences}
    assert all(index[(r["ad_id"], r["sentence_index"])] == r["sentence"] for r in pairs)


def test_card_yaml_parses():
    from huggingface_hub import DatasetCard, DatasetCardData

    card = DatasetCard.load(FOLDER / "README.md")
    data = card.data
    assert isinstance(data, DatasetCardData)
    assert data.license == "cc-by-4.0"
    configs = {c["config_name"]: c for c in data.configs}
    assert set(configs) == {"sentences", "pairs"}
    assert configs["sentences"]["data_files"] == [
        {"split": "validation", "path": "data/sentences/validation-00000-of-00001.parquet"}
    ]
    for c in configs.values():
        for df in c["data_files"]:
            assert (FOLDER / df["path"]).is_file()
    infos = {i["config_name"]: i for i in data.dataset_info}
    assert {f["name"]: f.get("list") for f in infos["sentences"]["features"]}["skills"] == "string"
    assert infos["sentences"]["splits"] == [
        {"name": "validation", "num_bytes": infos["sentences"]["splits"][0]["num_bytes"], "num_examples": 2281}
    ]
    assert infos["pairs"]["splits"][0]["num_examples"] == 5847
    text = card.text
    assert "This service uses the ESCO classification of the European Commission." in text
    assert "2505.24640" in text and "@article" in text
    for needle in ("RP@K", "MRR", "13,891", "| sentences | 2,281 |"):
        assert needle in text


# ------------------------------------------------------------------------------------------------
# The builder
# ------------------------------------------------------------------------------------------------

FIXTURE_ROWS = [
    # ad a1: 4 distinct sentences ("Duties" repeats), 3 gold skills incl. one duplicate row
    ["a1", "RANDOM", "Developer", "Duties", "False", "", ""],
    ["a1", "RANDOM", "Developer", "Write C++ and ABAP code.", "True", "1", "C++"],
    ["a1", "RANDOM", "Developer", "Write C++ and ABAP code.", "True", "2", "ABAP"],
    ["a1", "RANDOM", "Developer", "Write C++ and ABAP code.", "True", "3", "C++"],
    ["a1", "RANDOM", "Developer", "Nice office.", "True", "", ""],
    ["a1", "RANDOM", "Developer", "Duties", "False", "", ""],
    ["a1", "RANDOM", "Developer", "Use Python.", "True", "1", "an unlisted skill label"],
    # ad b2: one sentence without skills
    ["b2", "UNIQUE", "Baker", "We bake bread, sometimes.", "False", "", ""],
]


def _write_csv(path, rows, header=HEADER):
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _load(folder, config, cache):
    return datasets.load_dataset(str(folder), config, cache_dir=str(cache))


def test_build_with_test_split(tmp_path):
    csv_path = _write_csv(tmp_path / "fixture.csv", FIXTURE_ROWS)
    out = tmp_path / "out"
    summary = bx.build(csv_path, out, test_csv=csv_path)
    for split in ("validation", "test"):
        stats = summary["statistics"][split]["all"]
        assert (stats["ads"], stats["sentences"], stats["gold_sentences"], stats["gold_pairs"]) == (2, 5, 2, 3)
        assert (stats["relevant_sentences"], stats["gold_rows"], stats["upstream_rows"]) == (3, 4, 8)
        for config in ("sentences", "pairs"):
            assert (out / "data" / config / f"{split}-00000-of-00001.parquet").is_file()

    sent = _load(out, "sentences", tmp_path / "cache")
    prs = _load(out, "pairs", tmp_path / "cache")
    assert set(sent) == set(prs) == {"validation", "test"}
    for split in ("validation", "test"):
        s = sent[split]
        assert s.num_rows == 5 and prs[split].num_rows == 8
        assert s["sentence_index"] == [0, 1, 2, 3, 0]
        row = s[1]
        assert row["skills"] == ["C++", "ABAP"] and row["clusters"] == [1, 2]
        assert row["skill_uris"][0].startswith("http://data.europa.eu/esco/skill/")
        # a label missing from the URI map is kept, with a null URI
        assert s[3]["skills"] == ["an unlisted skill label"] and s[3]["skill_uris"] == [None]
        assert sum(len(k) for k in s["skills"]) == 3
        assert s[2]["relevant"] and s[2]["skills"] == []

    from huggingface_hub import DatasetCard

    card = DatasetCard.load(out / "README.md")
    configs = {c["config_name"]: c for c in card.data.configs}
    assert [d["split"] for d in configs["pairs"]["data_files"]] == ["validation", "test"]

    # rebuilding without the test CSV removes the stale test files
    bx.build(csv_path, out)
    assert not (out / "data" / "sentences" / "test-00000-of-00001.parquet").exists()
    assert set(_load(out, "sentences", tmp_path / "cache2")) == {"validation"}


def test_all_empty_list_column_is_typed(tmp_path):
    rows = [r for r in FIXTURE_ROWS if r[4] == "False"]
    csv_path = _write_csv(tmp_path / "no_skills.csv", rows)
    out = tmp_path / "out"
    bx.build(csv_path, out, test_csv=csv_path)
    ds = datasets.load_dataset(str(out), "sentences", split="test", cache_dir=str(tmp_path / "cache"))
    assert ds.num_rows == 2
    assert ds.features["skills"] == datasets.List(datasets.Value("string"))
    assert ds.features["clusters"] == datasets.List(datasets.Value("int32"))
    assert str(ds.data.schema.field("skills").type) == "list<item: string>"
    prs = datasets.load_dataset(str(out), "pairs", split="test", cache_dir=str(tmp_path / "cache"))
    assert prs.features["cluster"] == datasets.Value("int32") and prs["skill"] == [None, None, None]


def test_missing_column_is_a_clear_error(tmp_path):
    header = [h for h in HEADER if h != "relevant"]
    rows = [[v for h, v in zip(HEADER, r) if h != "relevant"] for r in FIXTURE_ROWS]
    csv_path = _write_csv(tmp_path / "bad.csv", rows, header=header)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="'relevant'"):
        bx.build(csv_path, out)
    assert not out.exists()  # nothing written for a bad input
    with pytest.raises(ValueError, match="missing required column"):
        bx.read_upstream_csv(csv_path)


def test_bad_value_is_a_clear_error(tmp_path):
    rows = [list(r) for r in FIXTURE_ROWS]
    rows[1][5] = "first"
    csv_path = _write_csv(tmp_path / "bad_cluster.csv", rows)
    with pytest.raises(ValueError, match=r"line 3: column 'cluster'"):
        bx.read_upstream_csv(csv_path)


def test_cli(tmp_path, capsys):
    csv_path = _write_csv(tmp_path / "fixture.csv", FIXTURE_ROWS)
    assert bx.main(["--dev", str(csv_path), "--out", str(tmp_path / "out")]) == 0
    assert "5 sentences" in capsys.readouterr().out
    assert (tmp_path / "out" / "README.md").is_file()
    assert bx.main(["--dev", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o2"), "-q"]) == 2
