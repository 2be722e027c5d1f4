"""The contextmatch CLI end to end, in fresh processes, including bad input."""

import csv
import io
import json

import pytest

from conftest import ROOT, run_cli

EXAMPLE = ROOT / "examples" / "job_ad.txt"


def test_extract_example_ad_as_table():
    done = run_cli("extract", EXAMPLE)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    out = done.stdout.decode()
    assert out.startswith("Ad 1: 19 sentences") and "ESCO skill" in out
    assert "PostgreSQL" in out


def test_extract_json_has_uris_scores_and_evidence():
    done = run_cli("extract", EXAMPLE, "--format", "json", "--top-k", "2", "--threshold", "0", "--no-gate",
                   "--no-grouping")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    [ad] = json.loads(done.stdout)
    assert ad["id"] == "1" and len(ad["sentences"]) == 19
    for sentence in ad["sentences"]:
        assert len(sentence["skills"]) == 2 and 0 <= sentence["relevance"] <= 1
        for skill in sentence["skills"]:
            assert skill["uri"].startswith("http://data.europa.eu/esco/skill/")
            for ev in skill["evidence"]:
                assert sentence["text"][ev["start"] : ev["end"]] == ev["text"]
    assert {s["uri"] for s in ad["skills"]} == {m["uri"] for s in ad["sentences"] for m in s["skills"]}


def test_default_json_reports_groups_and_skips_gated_sentences():
    done = run_cli("extract", EXAMPLE, "--format", "json")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    [ad] = json.loads(done.stdout)
    heading = next(s for s in ad["sentences"] if s["text"] == "Your profile")
    assert heading["skills"] == [] and heading["relevance"] < 0.5  # a heading states no skill
    for sentence in ad["sentences"]:
        for skill in sentence["skills"]:
            group = ad["skills"][skill["group"]]
            assert sentence["index"] in group["sentences"] and group["score"] >= skill["score"]
    config = json.loads((ROOT / "contextmatch" / "models" / "contextmatch-default" / "config.json").read_text())
    if config.get("group_similarity") is not None:  # the rule chosen on select folds near-identical label vectors
        assert any(s["alternatives"] for s in ad["skills"])


def test_jsonl_in_jsonl_and_csv_out(tmp_path):
    ads = tmp_path / "ads.jsonl"
    ads.write_text("\n".join(json.dumps({"ad": f"a{i}", "body": t}) for i, t in enumerate(
        ["Experience with PostgreSQL.", "", "You speak German and English."])) + "\n", encoding="utf-8")
    done = run_cli("extract", ads, "--text-column", "body", "--id-column", "ad", "--format", "jsonl")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    lines = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [line["id"] for line in lines] == ["a0", "a1", "a2"]  # every record once, in order, empty ones too
    assert lines[1]["sentences"] == []
    done = run_cli("extract", ads, "--text-column", "body", "--format", "csv", "--threshold", "0", "--top-k", "1",
                   "--no-gate")
    rows = list(csv.DictReader(io.StringIO(done.stdout.decode())))
    assert [r["id"] for r in rows] == ["1", "3"] and rows[0]["skill_uri"].startswith("http")


def test_stdin_html():
    done = run_cli("extract", "-", "--format", "json", "--threshold", "0",
                   stdin="<ul><li>Experience with PostgreSQL</li></ul>".encode())
    assert done.returncode == 0
    assert json.loads(done.stdout)[0]["sentences"][0]["text"] == "Experience with PostgreSQL"


def test_csv_input(tmp_path):
    path = tmp_path / "ads.csv"
    path.write_text('id,text\n7,"Line one.\nExperience with PostgreSQL."\n', encoding="utf-8")
    done = run_cli("extract", path, "--id-column", "id", "--format", "jsonl")
    assert done.returncode == 0 and json.loads(done.stdout)["id"] == "7"


def _bad(tmp_path, name, data: bytes, *extra):
    path = tmp_path / name
    path.write_bytes(data)
    return run_cli("extract", path, *extra)


@pytest.mark.parametrize(
    "name, data, extra, message",
    [
        ("blob.bin", bytes(range(256)) * 10, (), "binary"),
        ("latin1.txt", "caf\xe9 and cr\xe8me".encode("latin-1"), (), "not valid UTF-8"),
        ("ads.jsonl", b'{"description": "x"}\n', (), "no column 'text'"),
        ("ads.csv", b"title,description\na,b\n", ("--text-column", "body"), "no column 'body'"),
        ("broken.jsonl", b'{"text": "fine"}\n{"text": \n', (), "line 2: not valid JSON"),
    ],
)
def test_bad_input_gives_one_line_error(tmp_path, name, data, extra, message):
    done = _bad(tmp_path, name, data, *extra)
    # (a first run may also print the one-off skill-encoding progress bar before a late error)
    errors = [line for line in done.stderr.decode().splitlines() if "error" in line.lower()]
    assert done.returncode == 1 and len(errors) == 1 and message in errors[0], done.stderr.decode()[-2000:]
    assert errors[0].startswith("contextmatch extract: error: ") and "Traceback" not in done.stderr.decode()


def test_unreadable_file(tmp_path):
    done = run_cli("extract", tmp_path / "missing.txt")
    assert done.returncode == 1 and b"cannot read" in done.stderr and b"Traceback" not in done.stderr


@pytest.mark.parametrize("args", [(), ("extract",), ("extract", "x.txt", "--top-k", "0"),
                                  ("extract", "x.txt", "--format", "xml"), ("frobnicate",)])
def test_wrong_usage_exits_2(args):
    done = run_cli(*args)
    assert done.returncode == 2 and b"usage:" in done.stderr


def test_help_explains_every_option():
    out = run_cli("extract", "--help").stdout.decode()
    for option in ("--format", "--top-k", "--threshold", "--text-column", "--id-column", "--model", "--input-format"):
        assert option in out


def test_label_pool_scores_alternative_labels_without_encoding_them_all():
    """``--skill-labels all --label-pool N`` on the full ESCO label table: it answers without encoding the 85,268
    alternative labels first, and a skill can match through one of them."""
    done = run_cli("extract", "-", "--format", "json", "--skill-labels", "all", "--label-pool", "20",
                   stdin=b"Experience with Postgres and Kubernetes is a plus. You will mentor junior developers.")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert "85268" not in done.stderr.decode()
    [ad] = json.loads(done.stdout)
    skills = [m for sentence in ad["sentences"] for m in sentence["skills"]]
    assert skills and any(m["matched_label"] for m in skills)
    refused = run_cli("extract", "-", "--label-pool", "20", stdin=b"Python.")
    assert refused.returncode != 0 and "needs skill_labels='all'" in refused.stderr.decode()
