"""Reading job ads from files: plain text, JSONL and CSV, with one-line errors that say what to do."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Iterator

FORMATS = ("text", "jsonl", "csv")
MAX_FIELD = 64 * 1024 * 1024  # CSV cells up to 64 MB


class InputError(ValueError):
    """Input that cannot be read as asked; the message names the problem and the fix."""


def guess_format(path: str) -> str:
    """The input format from a file name: ``.jsonl``/``.ndjson`` -> jsonl, ``.csv`` -> csv, else text.

    >>> guess_format("ads.jsonl"), guess_format("ads.CSV"), guess_format("-"), guess_format("ad.html")
    ('jsonl', 'csv', 'text', 'text')
    """
    suffix = Path(path).suffix.lower()
    return {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}.get(suffix, "text")


def _open_text(path: str, name: str) -> io.TextIOWrapper:
    """A UTF-8 text stream (BOM dropped) over a file or standard input, refusing binary data up front."""
    try:
        raw = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115 (closed by the caller)
        head = raw.peek(65536)[:65536] if hasattr(raw, "peek") else b""
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from None
    if b"\0" in head:
        raise InputError(f"{name} looks like a binary file, not text: give a UTF-8 text, JSONL or CSV file")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def read_documents(path: str, fmt: str | None = None, text_column: str = "text",
                   id_column: str | None = None) -> Iterator[tuple[str, str]]:
    """Yield ``(id, text)`` job ads from ``path`` (``-`` is standard input), streaming JSONL and CSV rows.

    ``text``: the whole file is one ad (id ``1``). ``jsonl``: one JSON object per line with ``text_column``.
    ``csv``: a header row with ``text_column``. Ids come from ``id_column`` when given, else the row number.
    Binary or non-UTF-8 data, missing columns and unreadable files raise :class:`InputError`.
    """
    fmt = fmt or guess_format(path)
    if fmt not in FORMATS:
        raise InputError(f"unknown input format {fmt!r}: choose one of {', '.join(FORMATS)}")
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
