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

import itertools
import json
import shutil
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..inputs import RECORD_FORMATS, InputError, count_records, guess_format, read_records
from .extract import ERROR_SCHEMA, SENTENCE_SCHEMA, extract_batch, summarise_sentences
from .files import Progress, changed_options, fingerprint, shard_name, write_atomic, write_json_atomic


MANIFEST_FORMAT = "contextmatch-batch/1"
DEFAULT_CHUNK_SIZE = 1000
DUPLICATE_POLICIES = ("keep", "skip")


class BatchError(ValueError):
    """An output folder that cannot be used as asked; the message says what to do."""


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
        bar = Progress(self.manifest["records"], sum(lengths), progress)
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
