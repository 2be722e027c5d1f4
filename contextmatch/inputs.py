"""Reading job ads from files: plain text, JSONL, CSV and Parquet, with one-line errors that say what to do.

:func:`read_documents` serves ``extract`` (the first bad record stops it); :func:`read_records` serves corpus jobs
(a bad record comes with its error and the stream goes on).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Iterator, NamedTuple

FORMATS = ("text", "jsonl", "csv", "parquet")
RECORD_FORMATS = ("jsonl", "csv", "parquet")  # one ad per record: what read_records streams
MAX_FIELD = 64 * 1024 * 1024  # CSV cells up to 64 MB


class InputError(ValueError):
    """Input that cannot be read as asked; the message names the problem and the fix."""


def guess_format(path: str) -> str:
    """The input format from a file name: ``.jsonl``/``.ndjson`` -> jsonl, ``.csv`` -> csv, ``.parquet`` -> parquet,
    else text.

    >>> guess_format("ads.jsonl"), guess_format("ads.CSV"), guess_format("-"), guess_format("ad.html")
    ('jsonl', 'csv', 'text', 'text')
    >>> guess_format("part-00000.parquet")
    'parquet'
    """
    suffix = Path(path).suffix.lower()
    return {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}.get(suffix, "text")


def _open_text(path: str, name: str, errors: str = "strict") -> io.TextIOWrapper:
    """A UTF-8 text stream (BOM dropped) over a file or standard input, refusing binary data up front."""
    return io.TextIOWrapper(_open_binary(path, name), encoding="utf-8-sig", errors=errors, newline="")


def _open_binary(path: str, name: str):
    """A buffered byte stream over a file or standard input, refusing binary (not text) data up front."""
    try:
        raw = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115 (closed by the caller)
        head = raw.peek(65536)[:65536] if hasattr(raw, "peek") else b""
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from None
    if b"\0" in head:
        raise InputError(f"{name} looks like a binary file, not text: give a UTF-8 text, JSONL or CSV file")
    return raw


def read_documents(path: str, fmt: str | None = None, text_column: str = "text",
                   id_column: str | None = None) -> Iterator[tuple[str, str]]:
    """Yield ``(id, text)`` job ads from ``path`` (``-`` is standard input), streaming JSONL, CSV and Parquet rows.

    ``text``: the whole file is one ad (id ``1``). ``jsonl``: one JSON object per line with ``text_column``.
    ``csv``: a header row with ``text_column``. ``parquet``: a ``text_column`` column. Ids come from ``id_column``
    when given, else the row number.
    Binary or non-UTF-8 data, missing columns and unreadable files raise :class:`InputError`.
    """
    fmt = fmt or guess_format(path)
    if fmt not in FORMATS:
        raise InputError(f"unknown input format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        for record in read_records(path, fmt, text_column, id_column):
            if record.error:
                raise InputError(f"{path}, {record.error}")
            yield record.id or str(record.row), record.text or ""
        return
    name = "standard input" if path == "-" else path
    handle = _open_text(path, name)
    try:
        if fmt == "text":
            yield "1", handle.read()
        elif fmt == "jsonl":
            yield from _jsonl(handle, name, text_column, id_column)
        else:
            yield from _csv(handle, name, text_column, id_column)
    except UnicodeDecodeError as err:
        raise InputError(
            f"{name} is not valid UTF-8 ({err.reason}): convert it first, e.g. iconv -f latin1 -t utf-8"
        ) from None
    finally:
        if path != "-":
            handle.close()


def _field(record: dict, column: str, where: str, columns) -> str:
    if column not in record:
        raise InputError(
            f"{where}: no column {column!r} (columns: {', '.join(map(str, columns)) or 'none'}); "
            f"choose one with --text-column / --id-column"
        )
    value = record[column]
    return "" if value is None else str(value)


def _jsonl(handle, name: str, text_column: str, id_column: str | None) -> Iterator[tuple[str, str]]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"{name}, line {number}: not valid JSON ({err.msg}); one JSON object per line") from None
        if not isinstance(record, dict):
            raise InputError(f"{name}, line {number}: expected a JSON object, got {type(record).__name__}")
        where = f"{name}, line {number}"
        ad_id = _field(record, id_column, where, record) if id_column else str(number)
        yield ad_id, _field(record, text_column, where, record)


def _csv(handle, name: str, text_column: str, id_column: str | None) -> Iterator[tuple[str, str]]:
    csv.field_size_limit(MAX_FIELD)
    reader = csv.DictReader(handle)
    columns = reader.fieldnames or []
    for column in filter(None, (text_column, id_column)):
        if column not in columns:
            raise InputError(
                f"{name}: no column {column!r} (columns: {', '.join(columns) or 'none'}); "
                f"choose one with --text-column / --id-column"
            )
    try:
        for number, row in enumerate(reader, start=1):
            yield (row[id_column] if id_column else str(number)), row[text_column] or ""
    except csv.Error as err:
        raise InputError(f"{name}, line {reader.line_num}: not valid CSV ({err})") from None


# ---- corpus records: one ad per record, bad records reported instead of stopping the stream -------------------------


class Record(NamedTuple):
    """One record of a corpus: ``row`` is its 1-based position among the records (blank JSONL lines are none);
    ``error`` says why it cannot be used (``text`` and ``id`` are then ``None``)."""

    row: int
    id: str | None
    text: str | None
    error: str | None = None


def read_records(path: str, fmt: str | None = None, text_column: str = "text",
                 id_column: str | None = None) -> Iterator[Record]:
    """Stream the records of a JSONL, CSV or Parquet corpus, one at a time, never holding the file.

    A bad record (not valid JSON or UTF-8, not an object, a field that is a list) comes with its ``error`` and the
    stream goes on. Null or empty fields are passed on as they are; the caller decides. Ids are ``id_column``
    values, else the row number. Whole-file problems raise :class:`InputError`: an unreadable or binary file, a
    CSV header or Parquet schema without the columns, or a JSONL file whose first object lacks them.
    """
    fmt = fmt or guess_format(path)
    if fmt not in RECORD_FORMATS:
        raise InputError(f"{path}: a corpus is JSONL, CSV or Parquet (one ad per record), not {fmt}; name the "
                         f"format with --input-format, or use 'contextmatch extract' for a single ad")
    if path == "-":
        raise InputError("a corpus is read from a file, not standard input: save it to a file first")
    reader = {"jsonl": _jsonl_records, "csv": _csv_records, "parquet": _parquet_records}[fmt]
    yield from reader(path, text_column, id_column)


def count_records(path: str, fmt: str | None = None) -> int:
    """The number of records :func:`read_records` will yield (one quick pass; Parquet: from its metadata)."""
    fmt = fmt or guess_format(path)
    if fmt == "parquet":
        return _parquet_file(path).metadata.num_rows
    if fmt == "jsonl":
        with _open_binary(path, path) as handle:
            return sum(1 for line in handle if line.strip())
    csv.field_size_limit(MAX_FIELD)
    with _open_text(path, path, errors="surrogateescape") as handle:
        try:
            return max(0, sum(1 for fields in csv.reader(handle) if fields) - 1)  # blank rows and the header
        except csv.Error as err:
            raise InputError(f"{path}: not valid CSV ({err})") from None


def field_text(value) -> tuple[str | None, str | None]:
    """A field value as ``(text, problem)``: strings as they are, numbers written out, bytes decoded as UTF-8.

    >>> field_text("Go"), field_text(7), field_text(b"SQL"), field_text(None)
    (('Go', None), ('7', None), ('SQL', None), (None, None))
    >>> field_text(["a"]), field_text(b"caf\\xe9"), field_text("caf\\udce9")
    ((None, 'a list, not text'), (None, 'not valid UTF-8'), (None, 'not valid UTF-8'))
    """
    if value is None or (isinstance(value, str) and not _has_surrogates(value)):
        return value, None
    if isinstance(value, str):  # undecodable bytes kept as lone surrogates by errors="surrogateescape"
        return None, "not valid UTF-8"
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8"), None
        except UnicodeDecodeError:
            return None, "not valid UTF-8"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value), None
    return None, f"a {type(value).__name__}, not text"


def _has_surrogates(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text) if not text.isascii() else False


def _record(row: int, where: str, fields: dict, text_column: str, id_column: str | None) -> Record:
    """A :class:`Record` from a row's raw fields; a missing field or one that is not text becomes its error."""
    values = {}
    for role, column in (("text", text_column), ("id", id_column)):
        if column is None:
            continue
        if column not in fields:
            return Record(row, None, None, f"{where}: no field {column!r}")
        values[role], problem = field_text(fields[column])
        if problem:
            return Record(row, None, None, f"{where}: {role} field {column!r} is {problem}")
    return Record(row, values["id"] if id_column else str(row), values["text"])


def _missing_columns(name: str, columns, wanted) -> None:
    for column in filter(None, wanted):
        if column not in columns:
            raise InputError(
                f"{name}: no column {column!r} (columns: {', '.join(map(str, columns)) or 'none'}); "
                f"choose one with --text-column / --id-column"
            )


def _jsonl_records(path: str, text_column: str, id_column: str | None) -> Iterator[Record]:
    row, checked = 0, False
    with _open_binary(path, path) as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            row += 1
            where = f"line {number}"
            try:
                record = json.loads(raw.decode("utf-8-sig" if number == 1 else "utf-8"))
            except UnicodeDecodeError:
                yield Record(row, None, None, f"{where}: not valid UTF-8")
                continue
            except json.JSONDecodeError as err:
                yield Record(row, None, None, f"{where}: not valid JSON ({err.msg})")
                continue
            if not isinstance(record, dict):
                yield Record(row, None, None, f"{where}: expected a JSON object, got {type(record).__name__}")
                continue
            if not checked:  # the first object names the fields: a missing one means the wrong column option
                _missing_columns(path, record, (text_column, id_column))
                checked = True
            yield _record(row, where, record, text_column, id_column)


def _csv_records(path: str, text_column: str, id_column: str | None) -> Iterator[Record]:
    csv.field_size_limit(MAX_FIELD)
    with _open_text(path, path, errors="surrogateescape") as handle:
        reader = csv.DictReader(handle)
        try:
            _missing_columns(path, reader.fieldnames or [], (text_column, id_column))
            for row, fields in enumerate(reader, start=1):
                yield _record(row, f"row {row}", fields, text_column, id_column)
        except csv.Error as err:
            raise InputError(f"{path}, line {reader.line_num}: not valid CSV ({err})") from None


def _parquet_file(path: str):
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read {path} as Parquet ({err}); check the file or name its format with "
                         f"--input-format") from None


def _parquet_records(path: str, text_column: str, id_column: str | None) -> Iterator[Record]:
    file = _parquet_file(path)
    _missing_columns(path, file.schema_arrow.names, (text_column, id_column))
    columns = list(dict.fromkeys(filter(None, (text_column, id_column))))
    row = 0
    for batch in file.iter_batches(batch_size=1024, columns=columns):
        values = {name: batch.column(name).to_pylist() for name in columns}
        for i in range(batch.num_rows):
            row += 1
            yield _record(row, f"row {row}", {name: values[name][i] for name in columns}, text_column, id_column)
