"""Corpus jobs: JSONL/CSV/Parquet job ads -> resumable Parquet shards of sentence skills, errors and ad summaries.

An output folder holds::

    manifest.json                  input fingerprint, options, record and chunk counts; status "complete" at the end
    sentences/part-00000.parquet   one row per sentence: row, id, sentence_index, start, end, sentence, skills
    errors/part-00000.parquet      one row per bad record: row, id, error (only for chunks that have any)
    ads/part-00000.parquet         one row per ad: row, id, sentences, skills (each once, best score first)
    duplicate_ids.parquet          ids given to more than one record (with an id column)

Chunk ``k`` is the input records ``k * chunk_size + 1`` to ``(k + 1) * chunk_size`` (``row`` counts records from 1).
A shard is written under a hidden temporary name and renamed when complete, so a run killed at any moment leaves
only whole shards; run again, it skips them and redoes the rest. The ad shards are built from the sentence shards
at the end. Every input record ends up exactly once: in ``ads`` or in ``errors``.

:func:`extract_batch` is the one function that turns a batch of ads into sentence rows; the local runner, the Ray
adapter (:mod:`contextmatch.corpus.ray_data`) and the Spark and ``datasets`` recipes (docs/scale.md) all call it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..inputs import RECORD_FORMATS, InputError, count_records, field_text, guess_format, read_records

MANIFEST_FORMAT = "contextmatch-batch/1"
DEFAULT_CHUNK_SIZE = 1000
DUPLICATE_POLICIES = ("keep", "skip")
FULL_HASH_LIMIT = 1 << 30  # inputs up to 1 GiB are hashed whole; larger ones by 64 blocks of 1 MiB

EVIDENCE = pa.struct([("start", pa.int32()), ("end", pa.int32()), ("text", pa.string()), ("weight", pa.float32())])
ALTERNATIVE = pa.struct([("uri", pa.string()), ("label", pa.string()), ("score", pa.float32())])
SKILL = pa.struct([("uri", pa.string()), ("label", pa.string()), ("score", pa.float32()),
                   ("evidence", pa.list_(EVIDENCE)), ("alternatives", pa.list_(ALTERNATIVE))])
SENTENCE_SCHEMA = pa.schema([("row", pa.int64()), ("id", pa.string()), ("sentence_index", pa.int32()),
                             ("start", pa.int32()), ("end", pa.int32()), ("sentence", pa.string()),
                             ("relevance", pa.float32()), ("skills", pa.list_(SKILL))])
ROW_SCHEMA = SENTENCE_SCHEMA.append(pa.field("error", pa.string()))  # what extract_batch returns
ERROR_SCHEMA = pa.schema([("row", pa.int64()), ("id", pa.string()), ("error", pa.string())])
AD_SKILL = pa.struct([("uri", pa.string()), ("label", pa.string()), ("skill_type", pa.string()),
                      ("score", pa.float32()), ("sentences", pa.list_(pa.int32()))])
AD_SCHEMA = pa.schema([("row", pa.int64()), ("id", pa.string()), ("sentences", pa.int32()),
                       ("skills", pa.list_(AD_SKILL))])
NO_SENTENCES = "no text left after cleaning (markup or bullets only)"
# Options that change the output: a resumed run must use the same ones (the flag names the CLI gives them).
OPTION_FLAGS = {"input_format": "--input-format", "text_column": "--text-column", "id_column": "--id-column",
                "chunk_size": "--chunk-size", "duplicate_ids": "--duplicate-ids", "model": "--model",
                "top_k": "--top-k", "threshold": "--threshold", "esco_version": "ESCO version",
                "quantize": "--quantize", "backend": "--backend"}


class BatchError(ValueError):
    """An output folder that cannot be used as asked; the message says what to do."""


# ---- the batch function -----------------------------------------------------------------------------------------


def ad_text(value) -> tuple[str | None, str | None]:
    """A record's text field as ``(text, problem)``; the problem says why it cannot be read as a job ad.

    >>> ad_text("Experience with SQL."), ad_text(" \\n"), ad_text(None)
    (('Experience with SQL.', None), (None, 'empty text'), (None, 'no text'))
    >>> ad_text("PK\\x03\\x04\\x00\\x00 data"), ad_text(b"\\xff\\xfe")
    ((None, 'binary data, not text'), (None, 'text is not valid UTF-8'))
    """
    text, problem = field_text(value)
    if problem:
        return None, f"text is {problem}"
    if text is None:
        return None, "no text"
    if not text.strip():
        return None, "empty text"
    controls = sum(1 for ch in text if (ch < " " and ch not in "\t\n\r") or ch in "\x7f\ufffd")
    if "\x00" in text or controls > 0.1 * len(text):
        return None, "binary data, not text"
    return text, None


def ad_id(value) -> tuple[str | None, str | None]:
    """A record's id field as ``(id, problem)``.

    >>> ad_id("a-17"), ad_id(17), ad_id(""), ad_id(None), ad_id([1])
    (('a-17', None), ('17', None), (None, 'missing id'), (None, 'missing id'), (None, 'id is a list, not text'))
    """
    text, problem = field_text(value)
    if problem:
        return None, f"id is {problem}"
    if text is None or not text.strip():
        return None, "missing id"
    return text, None


def extract_batch(extractor, texts: Sequence, ids: Sequence | None = None, rows: Sequence[int] | None = None,
                  errors: Sequence[str | None] | None = None) -> pa.Table:
    """Sentence rows of a batch of job ads (:data:`ROW_SCHEMA`): the function behind every way to run a corpus.

    A usable ad gives one row per sentence with its skills (uri, label, score, evidence) and ``error`` null. A bad
    record gives one row with ``error`` set: no or empty text, binary data, a missing id (when ``ids`` are given),
    markup with no text, or the ``errors`` entry it came with (found while reading). Rows keep the input order;
    ``rows`` (input positions) and ``ids`` are copied into every row of their ad.
    """
    n = len(texts)
    problems = list(errors) if errors is not None else [None] * n
    clean: list[str | None] = [None] * n
    names: list[str | None] = [None] * n
    for i in range(n):
        if problems[i] is None:
            clean[i], problems[i] = ad_text(texts[i])
        if ids is not None:
            names[i], id_problem = ad_id(ids[i])
            problems[i] = problems[i] or id_problem
    good = [i for i in range(n) if problems[i] is None]
    results = dict(zip(good, extractor.extract_many([clean[i] for i in good]))) if good else {}
    columns: dict[str, list] = {name: [] for name in ROW_SCHEMA.names}
    for i in range(n):
        row = rows[i] if rows is not None else None
        result = results.get(i)
        sentences = result.sentences if result is not None else []
        if result is not None and not sentences:
            problems[i] = NO_SENTENCES
        if problems[i]:
            _add_row(columns, row=row, id=names[i], error=problems[i])
        for s in sentences:
            _add_row(columns, row=row, id=names[i], sentence_index=s.index, start=s.start, end=s.end,
                     sentence=s.text, relevance=s.relevance, skills=[asdict(m) for m in s.skills])
    return pa.Table.from_pydict(columns, schema=ROW_SCHEMA)


def _add_row(columns: dict[str, list], **values) -> None:
    for name, column in columns.items():
        column.append(values.get(name))


def summarise_sentences(sentences: pa.Table, skill_types: Mapping[str, str]) -> pa.Table:
    """One row per ad (:data:`AD_SCHEMA`) from its consecutive sentence rows: each skill once, with its best score
    and the sentences that name it, best first (the summary :class:`SkillExtractor` gives an ad).

    >>> rows = {"row": [1, 1], "id": ["a", "a"], "sentence_index": [0, 1], "start": [0, 9], "end": [8, 20],
    ...         "sentence": ["Use SQL.", "Know SQL, Go."], "relevance": [0.9, 0.8], "skills": [
    ...     [{"uri": "u:sql", "label": "SQL", "score": 0.5, "evidence": []}],
    ...     [{"uri": "u:go", "label": "Go", "score": 0.75, "evidence": []},
    ...      {"uri": "u:sql", "label": "SQL", "score": 0.625, "evidence": []}]]}
    >>> ad = summarise_sentences(pa.table(rows, schema=SENTENCE_SCHEMA), {"u:sql": "knowledge"}).to_pylist()[0]
    >>> ad["sentences"], [(s["label"], s["skill_type"], s["score"], s["sentences"]) for s in ad["skills"]]
    (2, [('Go', None, 0.75, [1]), ('SQL', 'knowledge', 0.625, [0, 1])])
    """
    ads: dict[str, list] = {name: [] for name in AD_SCHEMA.names}
    key, found, count = None, {}, 0
    for record in sentences.select(["row", "id", "sentence_index", "skills"]).to_pylist():
        if (record["row"], record["id"]) != key:
            if key is not None:
                _add_ad(ads, key, count, found)
            key, found, count = (record["row"], record["id"]), {}, 0
        count += 1
        for match in record["skills"]:
            entry = found.get(match["uri"])
            if entry is None:
                found[match["uri"]] = {"uri": match["uri"], "label": match["label"],
                                       "skill_type": skill_types.get(match["uri"]), "score": match["score"],
                                       "sentences": [record["sentence_index"]]}
            else:
                entry["score"] = max(entry["score"], match["score"])
                entry["sentences"].append(record["sentence_index"])
    if key is not None:
        _add_ad(ads, key, count, found)
    return pa.Table.from_pydict(ads, schema=AD_SCHEMA)


def _add_ad(ads: dict[str, list], key: tuple, count: int, found: dict) -> None:
    _add_row(ads, row=key[0], id=key[1], sentences=count, skills=sorted(found.values(), key=lambda s: -s["score"]))


def skill_types(extractor) -> dict[str, str]:
    """ESCO skill type by URI for the skills an extractor ranks."""
    return {skill.uri: skill.skill_type for skill in extractor.skills}


def extract_json(extractor, texts: Sequence, ids: Sequence | None = None) -> list[str]:
    """One JSON document per ad, in input order (for Spark's ``predict_batch_udf``, which wants one value per row):
    ``{"id", "error", "sentences": [sentence rows], "skills": [ad summary]}``."""
    table = extract_batch(extractor, texts, ids, rows=range(len(texts)))
    types = skill_types(extractor)
    docs = [{"id": None, "error": None, "sentences": [], "skills": []} for _ in texts]
    for record in table.to_pylist():
        doc = docs[record.pop("row")]
        doc["id"], doc["error"] = record.pop("id"), record.pop("error")
        if doc["error"] is None:
            doc["sentences"].append(record)
    for doc in docs:
        if doc["sentences"]:
            rows = [{"row": 0, "id": doc["id"], **s} for s in doc["sentences"]]
            doc["skills"] = summarise_sentences(pa.Table.from_pylist(rows, schema=SENTENCE_SCHEMA),
                                                types).to_pylist()[0]["skills"]
    return [json.dumps(doc, ensure_ascii=False) for doc in docs]


# ---- files --------------------------------------------------------------------------------------------------------


def shard_name(index: int) -> str:
    """The file name of chunk ``index``.

    >>> shard_name(0), shard_name(12345)
    ('part-00000.parquet', 'part-12345.parquet')
    """
    return f"part-{index:05d}.parquet"


def write_atomic(table: pa.Table, path: Path) -> None:
    """Write a Parquet file under a hidden temporary name, flush it to disk, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, partial, compression="zstd")
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, path)


def write_json_atomic(data: dict, path: Path) -> None:
    """Write JSON under a hidden temporary name, then rename it: a kill never leaves a half-written file."""
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(partial, path)


def file_digest(path: Path, size: int) -> str:
    """A blake2b digest of the file: all of it up to :data:`FULL_HASH_LIMIT`, else 64 evenly spread 1 MiB blocks."""
    digest = hashlib.blake2b(digest_size=16)
    block = 1 << 20
    with open(path, "rb") as handle:
        if size <= FULL_HASH_LIMIT:
            while data := handle.read(block):
                digest.update(data)
        else:
            for i in range(64):
                handle.seek((size - block) * i // 63)
                digest.update(handle.read(block))
    return ("" if size <= FULL_HASH_LIMIT else "sampled:") + digest.hexdigest()


def fingerprint(path: str) -> dict:
    """What identifies an input file: its absolute path, size, modification time and digest."""
    try:
        stat = os.stat(path)
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from None
    return {"path": str(Path(path).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "digest": file_digest(Path(path), stat.st_size)}


def changed_options(old: Mapping, new: Mapping) -> list[str]:
    """The options that differ between a started run and this one, as CLI flags with both values.

    >>> changed_options({"chunk_size": 1000, "top_k": 5}, {"chunk_size": 10, "top_k": 5})
    ['--chunk-size 1000 there, 10 now']
    """
    return [f"{OPTION_FLAGS.get(key, key)} {old.get(key)} there, {new.get(key)} now"
            for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]


def format_duration(seconds: float) -> str:
    """Seconds as ``H:MM:SS``.

    >>> format_duration(59.4), format_duration(3725)
    ('0:00:59', '1:02:05')
    """
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class _Progress:
    """Ads done and the time left: a tqdm bar on a terminal, else one line per shard (for logs)."""

    def __init__(self, total: int, done: int, mode: bool | None):
        from tqdm.auto import tqdm

        self.total, self.done, self.start_done, self.start = total, done, done, time.monotonic()
        self.log = mode is None and not sys.stderr.isatty()
        self.bar = tqdm(total=total, initial=done, desc="Job ads", unit="ad", file=sys.stderr, dynamic_ncols=True,
                        disable=mode is False or self.log)

    def update(self, count: int, name: str) -> None:
        self.done += count
        self.bar.update(count)
        if self.log:
            rate = (self.done - self.start_done) / max(time.monotonic() - self.start, 1e-9)
            eta = format_duration((self.total - self.done) / rate) if rate > 0 else "?"
            print(f"{name}: {self.done:,}/{self.total:,} ads ({100 * self.done / max(self.total, 1):.0f}%), "
                  f"{rate:.1f} ads/s, ETA {eta}", file=sys.stderr, flush=True)

    def close(self) -> None:
        self.bar.close()


# ---- the job ----------------------------------------------------------------------------------------------------


class BatchJob:
    """A resumable corpus job writing into ``out``; see the module docstring for the layout."""

    def __init__(self, path: str, out: str, options: dict, extractor=None, batch_size: int = 32,
                 device: str | None = None):
        self.input, self.out, self.options = str(path), Path(out), options
        self._extractor, self.batch_size, self.device = extractor, batch_size, device
        self.manifest: dict = {}

    @property
    def chunk_size(self) -> int:
        return self.options["chunk_size"]

    def path(self, kind: str, index: int) -> Path:
        return self.out / kind / shard_name(index)

    # ---- the run ----

    def run(self, progress: bool | None = None, on_chunk: Callable | None = None) -> dict:
        """Write every chunk not yet written, then the ad summaries and the duplicate report; the final manifest."""
        source = self._check_input()
        created = not self.out.exists()
        try:
            with _Lock(self.out):
                self._open(source)
                done = {k for k in range(self.manifest["chunks"]) if self.path("sentences", k).exists()}
                if len(done) < self.manifest["chunks"]:
                    self._extract(done, progress, on_chunk)
                self._summarise()
                return self._finish()
        except BaseException:
            if created and [p.name for p in self.out.iterdir()] == [".lock"]:  # leave no empty folder behind
                shutil.rmtree(self.out)
            raise

    def _check_input(self) -> dict:
        """The input's fingerprint, after checking that it is a corpus file."""
        fmt = self.options["input_format"]
        if self.input == "-":
            raise InputError("a corpus is read from a file, not standard input: save it to a file first")
        if fmt not in RECORD_FORMATS:
            raise InputError(f"{self.input}: a corpus is JSONL, CSV or Parquet (one ad per record), not {fmt}; name "
                             f"the format with --input-format, or use 'contextmatch extract' for a single ad")
        return fingerprint(self.input)

    def _open(self, source: dict) -> None:
        """Create the manifest, or check that the one there is for this input and these options."""
        manifest_path = self.out / "manifest.json"
        if manifest_path.exists():
            self.manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            if self.manifest.get("format") != MANIFEST_FORMAT:
                raise BatchError(f"{manifest_path} is not a {MANIFEST_FORMAT} manifest: choose another --out")
            if self._started():
                self._check_resume(source)
                return self._clean()
        elif any(p.name != ".lock" for p in self.out.iterdir()):
            raise BatchError(f"{self.out} is not empty and holds no batch run (no manifest.json): choose a new or "
                             f"empty --out")
        self._start(source)

    def _started(self) -> bool:
        """Whether any shard has been written (until then a run may start afresh with other options)."""
        return any(any((self.out / kind).glob("part-*.parquet")) for kind in ("sentences", "errors", "ads"))

    def _start(self, source: dict) -> None:
        fmt = self.options["input_format"]
        records = read_records(self.input, fmt, self.options["text_column"], self.options["id_column"])
        next(records, None)  # wrong columns or an unreadable file fail here, before the manifest is written
        records.close()
        records = count_records(self.input, fmt)
        self.manifest = {"format": MANIFEST_FORMAT, "status": "running", "input": source, "options": self.options,
                         "records": records, "chunks": -(-records // self.chunk_size), "model": None, "counts": None}
        self._save()
        self._clean()

    def _clean(self) -> None:
        for folder in ("", "sentences", "errors", "ads"):  # leftovers of a killed run: redone below
            for partial in (self.out / folder).glob(".*.tmp"):
                partial.unlink()

    def _check_resume(self, source: dict) -> None:
        old = self.manifest["input"]
        if old["path"] != source["path"]:
            raise BatchError(f"{self.out} holds a run over {old['path']}, not {source['path']}: resume it with that "
                             f"input, or choose another --out")
        if (old["size"], old["digest"]) != (source["size"], source["digest"]):
            raise BatchError(f"{source['path']} changed since the run in {self.out} started (size {old['size']:,} "
                             f"then, {source['size']:,} now; or its content): choose another --out to start afresh")
        changes = changed_options(self.manifest["options"], self.options)
        if changes:
            raise BatchError(f"{self.out} holds a run with other options ({'; '.join(changes)}): rerun with the same "
                             f"options to resume it, or choose another --out")

    def _save(self) -> None:
        write_json_atomic(self.manifest, self.out / "manifest.json")

    def _load_extractor(self):
        """The extractor (loaded here unless given); its weights, threshold and top-k must be the run's first."""
        if self._extractor is None:
            from ..skills.extractor import SkillExtractor

            self._extractor = SkillExtractor(self.options["model"], self.options["esco_version"],
                                             top_k=self.options["top_k"], threshold=self.options["threshold"],
                                             batch_size=self.batch_size, device=self.device,
                                             quantize=self.options.get("quantize"),
                                             backend=self.options.get("backend", "torch"))
        encoder = self._extractor.encoder_name
        if self.manifest.get("encoder", encoder) != encoder:
            raise BatchError(f"the run in {self.out} was started with the {self.manifest['encoder']} encoder, this "
                             f"one has {encoder}: resume with the same --quantize and --backend, or choose another "
                             f"--out")
        self.manifest["encoder"] = encoder
        identity = self._model_identity()
        if not self.manifest.get("model"):
            self.manifest["model"] = identity
            self._save()
        elif self.manifest["model"] != identity:
            raise BatchError(f"the model differs from the one that started the run in {self.out} (weights, "
                             f"threshold or top-k): resume with that model, or choose another --out")
        return self._extractor

    def _model_identity(self) -> dict:
        from ..cache import model_fingerprint

        return {"fingerprint": model_fingerprint(self._extractor.model), "threshold": self._extractor.threshold,
                "top_k": self._extractor.top_k}

    def _extract(self, done: set[int], progress: bool | None, on_chunk: Callable | None) -> None:
        """Stream the input chunk by chunk, writing the shards of the chunks not yet done."""
        extractor = self._load_extractor()  # before the progress clock starts
        lengths = [min(self.chunk_size, self.manifest["records"] - k * self.chunk_size) for k in done]
        bar = _Progress(self.manifest["records"], sum(lengths), progress)
        records = read_records(self.input, self.options["input_format"], self.options["text_column"],
                               self.options["id_column"])
        seen: dict[str, int] | None = {} if self.options["duplicate_ids"] == "skip" else None
        index = -1
        for index in itertools.count():
            chunk = list(itertools.islice(records, self.chunk_size))
            if not chunk:
                break
            errors = [r.error for r in chunk] if seen is None else _skip_duplicates(chunk, seen)
            if index in done:
                continue
            table = extract_batch(extractor, [r.text for r in chunk], [r.id for r in chunk], [r.row for r in chunk],
                                  errors)
            self._write_chunk(index, table)
            bar.update(len(chunk), shard_name(index))
            if on_chunk is not None:
                on_chunk(index, len(chunk), table)
        bar.close()
        if index != self.manifest["chunks"]:
            raise BatchError(f"{self.input} ended after {index} chunks, not {self.manifest['chunks']}: it changed "
                             f"while the run was going; choose another --out to start afresh")

    def _write_chunk(self, index: int, table: pa.Table) -> None:
        """Errors first, then the sentence shard, whose presence marks the chunk as done."""
        failed = pc.is_valid(table["error"])
        if pc.any(failed).as_py():
            write_atomic(table.filter(failed).select(ERROR_SCHEMA.names), self.path("errors", index))
        write_atomic(table.filter(pc.invert(failed)).select(SENTENCE_SCHEMA.names), self.path("sentences", index))

    def _summarise(self) -> None:
        """Build the ad shard of every chunk that has none, from its sentence shard."""
        types = None
        for index in range(self.manifest["chunks"]):
            target = self.path("ads", index)
            if target.exists():
                continue
            if types is None:
                from ..esco import load_esco

                types = {s.uri: s.skill_type for s in load_esco(self.options["esco_version"]).skills}
            write_atomic(summarise_sentences(pq.read_table(self.path("sentences", index)), types), target)

    def _duplicates(self) -> int:
        """Write ``duplicate_ids.parquet`` (id, rows) for ids that more than one record carries; their number."""
        parts = []
        for kind in ("ads", "errors"):
            for index in range(self.manifest["chunks"]):
                if self.path(kind, index).exists():
                    parts.append(pq.read_table(self.path(kind, index), columns=["row", "id"]))
        ids = pa.concat_tables(parts) if parts else pa.table({"row": [], "id": []}, schema=ERROR_SCHEMA.remove(2))
        ids = ids.filter(pc.is_valid(ids["id"]))
        grouped = ids.group_by("id").aggregate([("row", "list"), ("row", "count")])
        shared = grouped.filter(pc.greater(grouped["row_count"], 1)).sort_by("id").to_pylist()
        table = pa.table({"id": [d["id"] for d in shared], "rows": [sorted(d["row_list"]) for d in shared]},
                         schema=pa.schema([("id", pa.string()), ("rows", pa.list_(pa.int64()))]))
        write_atomic(table, self.out / "duplicate_ids.parquet")
        return table.num_rows

    def _finish(self) -> dict:
        """Count what was written, check that every record is there once, and mark the run complete."""
        def rows(kind: str) -> int:
            return sum(pq.read_metadata(p).num_rows for p in (self.out / kind).glob("part-*.parquet"))

        counts = {"records": self.manifest["records"], "ads": rows("ads"), "errors": rows("errors"),
                  "sentences": rows("sentences")}
        if counts["ads"] + counts["errors"] != counts["records"]:
            raise BatchError(f"{self.out}: {counts['ads']:,} ads and {counts['errors']:,} errors for "
                             f"{counts['records']:,} records; remove the folder and run again")
        if self.options["id_column"] and self.options["duplicate_ids"] == "keep":
            counts["duplicate_ids"] = self._duplicates()
        self.manifest.update(status="complete", counts=counts)
        self._save()
        return self.manifest


def _skip_duplicates(chunk: list, seen: dict[str, int]) -> list[str | None]:
    """Errors for a chunk under ``--duplicate-ids skip``: an id's first record keeps it, later ones are errors."""
    errors = []
    for record in chunk:
        first = seen.setdefault(record.id, record.row) if record.id is not None else record.row
        errors.append(record.error or (f"duplicate id (first at row {first})" if first != record.row else None))
    return errors


class _Lock:
    """An exclusive lock on an output folder (released by the system if the process dies)."""

    def __init__(self, out: Path):
        self.out = out

    def __enter__(self):
        self.out.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.out / ".lock", "w")  # noqa: SIM115 (closed in __exit__)
        try:
            import fcntl

            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # no fcntl (Windows): no lock
            pass
        except OSError:
            self.handle.close()
            raise BatchError(f"another contextmatch batch is writing {self.out}: wait for it to end, or choose "
                             f"another --out") from None
        return self

    def __exit__(self, *exc) -> None:
        self.handle.close()


def run_batch(path: str, out: str, *, model: str | None = None, extractor=None, input_format: str | None = None,
              text_column: str = "text", id_column: str | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE,
              top_k: int | None = None, threshold: float | None = None, esco_version: str | None = None,
              duplicate_ids: str = "keep", batch_size: int = 32, device: str | None = None,
              quantize: str | None = None, backend: str = "torch", progress: bool | None = None,
              on_chunk: Callable | None = None) -> dict:
    """Extract the skills of every ad of a JSONL, CSV or Parquet corpus into Parquet shards in ``out``; resumable.

    Run it again with the same arguments after a crash or a kill and it finishes the job; with other options or
    another input it refuses. ``extractor`` is an already loaded :class:`SkillExtractor` (its ``top_k`` and
    ``threshold`` apply); else ``model`` is loaded when a chunk needs it. ``model`` names it in the manifest either
    way; the manifest also keeps a digest of the weights, and a resumed run with other weights is refused.
    ``quantize`` and ``backend`` run the sentence encoder as in :class:`SkillExtractor` (``auto``, the CLI's
    default, is resolved here and recorded as what it chose); the manifest names the encoder that ran under
    ``encoder``. ``duplicate_ids``: ``keep``
    extracts every record and lists shared ids in ``duplicate_ids.parquet``; ``skip`` turns every record after the first
    with an id into an error (the ids seen stay in memory). ``progress``: ``None`` shows a bar on a terminal and a
    line per shard otherwise. ``on_chunk(index, records, table)`` is called after each chunk written. Returns the
    final manifest, with counts of records, ads, sentences and errors.
    """
    import torch

    from ..esco import DEFAULT_ESCO_VERSION
    from ..skills.extractor import DEFAULT_TOP_K
    from ..skills.quantize import resolve_quantize

    if extractor is not None:
        if top_k not in (None, extractor.top_k) or threshold not in (None, extractor.threshold):
            raise ValueError("give top_k and threshold to the SkillExtractor, not to run_batch")
        if quantize is not None or backend != "torch":
            raise ValueError("give quantize and backend to the SkillExtractor, not to run_batch")
        esco_version = esco_version or extractor.esco.version
    top_k = top_k or DEFAULT_TOP_K
    quantize = resolve_quantize(quantize, backend, device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if duplicate_ids not in DUPLICATE_POLICIES:
        raise ValueError(f"duplicate_ids must be one of {', '.join(DUPLICATE_POLICIES)}, got {duplicate_ids!r}")
    if chunk_size < 1 or top_k < 1:
        raise ValueError("chunk_size and top_k must be at least 1")
    options = {"input_format": input_format or guess_format(str(path)), "text_column": text_column,
               "id_column": id_column, "chunk_size": chunk_size, "duplicate_ids": duplicate_ids, "model": model,
               "top_k": top_k, "threshold": threshold, "esco_version": esco_version or DEFAULT_ESCO_VERSION}
    # recorded only when not the defaults, so runs started before these options existed still resume
    options.update({key: value for key, value in (("quantize", quantize), ("backend", backend))
                    if value not in (None, "torch")})
    job = BatchJob(path, out, options, extractor=extractor, batch_size=batch_size, device=device)
    return job.run(progress=progress, on_chunk=on_chunk)
