"""Corpus jobs: `contextmatch batch` shards, resuming after SIGKILL, bad records, duplicates, formats, Ray."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import ROOT

from contextmatch.corpus.batch import BatchError, run_batch
from contextmatch.corpus.extract import extract_json
from contextmatch.inputs import InputError, read_documents, read_records

PHRASES = ["Experience with PostgreSQL.", "You speak German and English.", "Knowledge of Python and SQL.",
           "You mentor junior developers.", "Driving licence required.", "Strong communication skills.",
           "Familiar with Docker and Kubernetes.", "You will manage a small team.", "Good Excel skills."]
CHUNK = 2  # records per shard in the kill test: 22 shards, so a kill lands mid-run


def _ads(n: int = 40) -> list[dict]:
    return [{"id": f"ad{i:03d}", "text": f"{PHRASES[i % 9]} {PHRASES[(i * 4 + 1) % 9]}"} for i in range(n)]


def _write_jsonl(path, records) -> None:
    path.write_bytes(b"".join(r if isinstance(r, bytes) else json.dumps(r).encode() + b"\n" for r in records))


def _corpus() -> list:
    """40 ads with bad records among them: 43 records (a blank line is none)."""
    ads = _ads()
    ads[5]["text"] = "   "
    del ads[9]["id"]
    ads[13]["text"] = "<p></p><br>"
    ads[17]["id"] = "ad003"  # a duplicate id
    ads[30]["text"] = "\u0000\u0001\u0002 PK"
    ads[33]["text"] = None
    records = list(ads)
    records.insert(21, b'{"id": "broken", "text": \n')
    records.insert(26, b'{"id": "latin", "text": "caf\xe9"}\n')
    records.insert(30, b"\n")
    records.insert(35, b'["not", "an", "object"]\n')
    return records


EXPECTED_ERRORS = {  # row -> (id, error)
    6: ("ad005", "empty text"), 10: (None, "line 10: no field 'id'"),
    14: ("ad013", "no text left after cleaning (markup or bullets only)"),
    22: (None, "line 22: not valid JSON (Expecting value)"), 27: (None, "line 27: not valid UTF-8"),
    33: ("ad030", "binary data, not text"), 35: (None, "line 36: expected a JSON object, got list"),
    37: ("ad033", "no text"),
}


FP32 = ("--quantize", "fp32")  # the CLI runs int8 by default; the reference runs compare with the fp32 `extractor`


def _batch(*args) -> subprocess.Popen:
    with open(f"{args[args.index('--out') + 1]}.log", "ab") as log:  # the child keeps its own copy open
        return subprocess.Popen([sys.executable, "-m", "contextmatch.cli.main", "batch", *map(str, args)], cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=log)


def _shards(out) -> int:
    return len(list((out / "sentences").glob("part-*.parquet")))


def _rows(out, kind: str) -> list[dict]:
    table = pq.read_table(out / kind)
    keys = [("row", "ascending")] + ([("sentence_index", "ascending")] if kind == "sentences" else [])
    return table.sort_by(keys).to_pylist()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "ads.jsonl"
    _write_jsonl(path, _corpus())
    return path


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    """An uninterrupted CLI run over the corpus."""
    out = tmp_path_factory.mktemp("reference") / "out"
    done = _batch(corpus, "--out", out, "--id-column", "id", "--chunk-size", CHUNK, *FP32)
    assert done.wait(timeout=600) == 0, (out.parent / "out.log").read_text()[-3000:]
    return out


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_gives_every_record_once(corpus, reference, tmp_path):
    out = tmp_path / "out"
    args = (corpus, "--out", out, "--id-column", "id", "--chunk-size", CHUNK, *FP32)
    run = _batch(*args)
    deadline = time.monotonic() + 300
    while (not out.exists() or _shards(out) < 1) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    run.send_signal(signal.SIGKILL)  # a chunk is done, the next one is being scored or written
    assert run.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    assert 0 < _shards(out) < -(-43 // CHUNK)
    assert json.loads((out / "manifest.json").read_text())["status"] == "running"
    first = (out / "sentences" / "part-00000.parquet").stat().st_mtime_ns
    done = _batch(*args)
    assert done.wait(timeout=600) == 0, (tmp_path / "out.log").read_text()[-3000:]
    assert (out / "sentences" / "part-00000.parquet").stat().st_mtime_ns == first  # kept, not redone
    for kind in ("sentences", "ads", "errors"):
        assert _rows(out, kind) == _rows(reference, kind), kind
    assert not list(out.rglob(".*.tmp"))
    rows = [r["row"] for r in _rows(out, "ads") + _rows(out, "errors")]
    assert sorted(rows) == list(range(1, 44))  # every record exactly once
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"] == json.loads(
        (reference / "manifest.json").read_text())["counts"]


def test_bad_records_and_duplicates_are_reported(reference):
    errors = {r["row"]: (r["id"], r["error"]) for r in _rows(reference, "errors")}
    assert errors == EXPECTED_ERRORS
    assert pq.read_table(reference / "duplicate_ids.parquet").to_pylist() == [{"id": "ad003", "rows": [4, 18]}]
    manifest = json.loads((reference / "manifest.json").read_text())
    assert manifest["counts"] == {"records": 43, "ads": 35, "errors": 8, "sentences": 70, "duplicate_ids": 1}
    sentence = _rows(reference, "sentences")[0]
    assert (sentence["row"], sentence["id"], sentence["sentence"]) == (1, "ad000", "Experience with PostgreSQL.")
    assert sentence["skills"] and 0 <= sentence["relevance"] <= 1
    assert [s["score"] for s in sentence["skills"]] == sorted((s["score"] for s in sentence["skills"]), reverse=True)
    for skill in sentence["skills"]:
        assert skill["uri"].startswith("http://data.europa.eu/esco/skill/")
        for ev in skill["evidence"]:
            assert sentence["sentence"][ev["start"] : ev["end"]] == ev["text"]


def test_ad_summary_matches_the_extractor(reference, extractor):
    texts = {ad["id"]: ad["text"] for ad in _ads()}
    for ad in _rows(reference, "ads")[:4]:
        expected = extractor.extract(texts[ad["id"]])
        assert ad["sentences"] == len(expected.sentences)
        assert [(s["uri"], s["skill_type"], s["sentences"]) for s in ad["skills"]] == [
            (s.uri, s.skill_type, s.sentences) for s in expected.skills]
        assert [s["score"] for s in ad["skills"]] == pytest.approx([s.score for s in expected.skills], abs=1e-4)


def test_resume_refuses_other_options_or_input(reference, corpus, tmp_path, extractor):
    with pytest.raises(BatchError, match="--chunk-size 2 there, 3 now.*same options"):
        run_batch(corpus, reference, extractor=extractor, id_column="id", chunk_size=3)
    with pytest.raises(BatchError, match="not empty and holds no batch run"):
        (tmp_path / "full").mkdir()
        (tmp_path / "full" / "notes.txt").write_text("x")
        run_batch(corpus, tmp_path / "full", extractor=extractor)
    small = tmp_path / "small.jsonl"
    _write_jsonl(small, _ads(3))
    with pytest.raises(InputError, match="no column 'body'"):  # before any manifest: a fixed rerun may start
        run_batch(small, tmp_path / "run", extractor=extractor, text_column="body")
    assert run_batch(small, tmp_path / "run", extractor=extractor, chunk_size=2)["counts"]["ads"] == 3
    with small.open("a") as handle:
        handle.write(json.dumps({"text": "Experience with Go."}) + "\n")
    with pytest.raises(BatchError, match="changed since the run"):
        run_batch(small, tmp_path / "run", extractor=extractor, chunk_size=2)


def test_partial_shards_are_redone_and_the_summary_rebuilt(reference, tmp_path, extractor, corpus, monkeypatch):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    (out / "sentences" / "part-00003.parquet").rename(out / "sentences" / ".part-00003.parquet.tmp")
    (out / "sentences" / ".part-00003.parquet.tmp").write_bytes(b"PAR1 half written")
    shutil.rmtree(out / "ads")
    run_batch(corpus, out, extractor=extractor, id_column="id", chunk_size=CHUNK, progress=False)
    assert not list(out.rglob(".*.tmp"))
    for kind in ("sentences", "ads", "errors"):
        assert [r["row"] for r in _rows(out, kind)] == [r["row"] for r in _rows(reference, kind)], kind

    shutil.rmtree(out / "ads")  # only the summary left to do: the model is not needed

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr("contextmatch.skills.extractor.SkillExtractor", no_model)
    manifest = run_batch(corpus, out, id_column="id", chunk_size=CHUNK, progress=False)
    assert manifest["status"] == "complete" and _rows(out, "ads") == _rows(reference, "ads")


def test_lock_refuses_a_second_writer(tmp_path, extractor):
    import fcntl

    small = tmp_path / "small.jsonl"
    _write_jsonl(small, _ads(1))
    (tmp_path / "out").mkdir()
    with open(tmp_path / "out" / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(BatchError, match="another contextmatch batch is writing"):
            run_batch(small, tmp_path / "out", extractor=extractor)


def test_skip_duplicate_ids(tmp_path, extractor):
    path = tmp_path / "ads.jsonl"
    _write_jsonl(path, [{"id": "a", "text": PHRASES[0]}, {"id": "b", "text": PHRASES[1]},
                        {"id": "a", "text": PHRASES[2]}, {"id": 7, "text": PHRASES[3]}])
    manifest = run_batch(path, tmp_path / "out", extractor=extractor, id_column="id", duplicate_ids="skip",
                         chunk_size=2, progress=False)
    assert manifest["counts"]["ads"] == 3
    assert _rows(tmp_path / "out", "errors") == [{"row": 3, "id": "a", "error": "duplicate id (first at row 1)"}]
    assert [a["id"] for a in _rows(tmp_path / "out", "ads")] == ["a", "b", "7"]


def test_jsonl_csv_and_parquet_give_the_same_rows(tmp_path, extractor):
    ads = _ads(6)
    _write_jsonl(tmp_path / "ads.jsonl", ads)
    with open(tmp_path / "ads.csv", "w", encoding="utf-8", newline="") as handle:
        handle.write("id,text\n" + "".join(f'{a["id"]},"{a["text"]}"\n' for a in ads))
    pq.write_table(pa.Table.from_pylist(ads), tmp_path / "ads.parquet", row_group_size=4)
    outputs = {}
    for fmt in ("jsonl", "csv", "parquet"):
        out = tmp_path / f"out-{fmt}"
        run_batch(tmp_path / f"ads.{fmt}", out, extractor=extractor, id_column="id", chunk_size=4, progress=False)
        outputs[fmt] = _rows(out, "sentences")
    assert outputs["jsonl"] == outputs["csv"] == outputs["parquet"] and len(outputs["csv"]) == 12


def test_streaming_reader_reports_bad_records(tmp_path):
    path = tmp_path / "ads.csv"
    path.write_bytes(b"id,text\n1,Fine text\n2,caf\xe9\n,no id here\n")
    records = list(read_records(str(path), id_column="id"))
    assert [(r.row, r.id, r.error) for r in records] == [
        (1, "1", None), (2, None, "row 2: text field 'text' is not valid UTF-8"), (3, "", None)]
    pq.write_table(pa.table({"body": ["a"]}), tmp_path / "ads.parquet")
    with pytest.raises(InputError, match="no column 'text'.*--text-column"):
        list(read_records(str(tmp_path / "ads.parquet")))
    assert list(read_documents(str(tmp_path / "ads.parquet"), text_column="body")) == [("1", "a")]
    with pytest.raises(InputError, match="not text"):
        list(read_records(str(tmp_path / "ads.txt")))


def test_extract_json_is_one_document_per_ad(extractor):
    docs = [json.loads(d) for d in extract_json(extractor, ["Experience with PostgreSQL.", "", None], ["a", "b", "c"])]
    assert [(d["id"], d["error"]) for d in docs] == [("a", None), ("b", "empty text"), ("c", "no text")]
    assert docs[0]["sentences"][0]["sentence"] == "Experience with PostgreSQL."
    assert docs[0]["skills"][0]["label"] == "PostgreSQL" and docs[0]["skills"][0]["skill_type"] == "knowledge"


def test_batch_help_explains_output_and_resuming(capsys):
    from contextmatch.cli.main import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["batch", "--help"])
    text = capsys.readouterr().out
    assert "sentences/part-*.parquet" in text and "resuming" in text and "--duplicate-ids" in text


@pytest.mark.slow
def test_ray_data_gives_the_rows_of_a_local_run(reference, corpus):
    ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")
    from contextmatch.corpus.ray_data import extract_dataset

    records = [r._asdict() for r in read_records(str(corpus), id_column="id") if not r.error]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        dataset = ray.data.from_items([{"row": r["row"], "id": r["id"], "text": r["text"]} for r in records])
        rows = extract_dataset(dataset, id_column="id", row_column="row", ads_per_batch=4, workers=2,
                               cpus_per_worker=0.5).take_all()
    finally:
        ray.shutdown()
    got = sorted(rows, key=lambda r: (r["row"], r["sentence_index"] or 0))
    local = sorted(_rows(reference, "sentences") + [{**e, "sentence_index": None} for e in _rows(reference, "errors")
                                                     if e["row"] in {r["row"] for r in records}],
                   key=lambda r: (r["row"], r["sentence_index"] or 0))
    assert [(r["row"], r["id"], r["sentence_index"], r.get("sentence"), r["error"]) for r in got] == [
        (r["row"], r["id"], r["sentence_index"], r.get("sentence"), r.get("error")) for r in local]
    for mine, theirs in zip(got, local):
        if theirs.get("skills") is not None:
            assert [s["uri"] for s in mine["skills"]] == [s["uri"] for s in theirs["skills"]]
            assert [s["score"] for s in mine["skills"]] == pytest.approx([s["score"] for s in theirs["skills"]],
                                                                         abs=1e-4)


def test_default_batch_runs_the_auto_encoder_matches_that_extractor_and_resumes_only_so(tmp_path):
    from contextmatch.skills.extractor import SkillExtractor
    from contextmatch.skills.quantize import encoder_name, resolve_quantize

    mode = resolve_quantize("auto")  # bf16 on a CPU with AMX, else int8

    small = tmp_path / "small.jsonl"
    _write_jsonl(small, _ads(4))
    out = tmp_path / "int8"
    done = _batch(small, "--out", out, "--id-column", "id", "--quiet")  # --quantize auto
    assert done.wait(timeout=600) == 0, (tmp_path / "int8.log").read_text()[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["options"]["quantize"], manifest["encoder"]) == (mode, encoder_name(mode))
    quantized = SkillExtractor(quantize=mode, batch_size=32)
    expected = [[s.label for s in sentence.skills] for ad in quantized.extract_many([a["text"] for a in _ads(4)])
                for sentence in ad.sentences]
    assert [[s["label"] for s in row["skills"]] for row in _rows(out, "sentences")] == expected
    with pytest.raises(BatchError, match=f"--quantize {mode} there, None now"):
        run_batch(small, out, id_column="id")
