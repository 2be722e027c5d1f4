"""Resumable title normalization of a file: ``contextmatch normalize --file titles.txt --out occupations.jsonl``.

The output is JSON Lines, one record per non-blank input line, in input order: ``line`` (its 1-based line number in
the input), ``title``, ``occupations`` (and ``implied_skills`` with ``--skills``). Beside it,
``<out>.manifest.json`` holds the input's fingerprint, the options and ``status`` (``running``, then ``complete``).

Each chunk of titles is appended in one write and flushed to disk. A run killed at any moment leaves whole records
plus at most one cut line; run again with the same input and options, it drops the cut line, skips the titles
already written and goes on, so every title ends up in the output exactly once. Another input or other options
are refused, with the flags that differ.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from ..inputs import InputError
from .files import changed_options, fingerprint, write_json_atomic

MANIFEST_FORMAT = "contextmatch-normalize/1"


def manifest_path(out: Path) -> Path:
    return out.with_name(out.name + ".manifest.json")


def title_record(title: str, matches, skills=None) -> dict:
    """The output record of one title: its occupations and, when given, the skills it implies."""
    record = {"title": title, "occupations": [asdict(m) for m in matches]}
    if skills is not None:
        record["implied_skills"] = [asdict(s) for s in skills]
    return record


def read_title_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, title) of every non-blank line of a UTF-8 text file."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            return [(number, line.strip()) for number, line in enumerate(handle, 1) if line.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read {path} as UTF-8 text: {getattr(err, 'strerror', None) or err}") from None


def complete_records(out: Path) -> tuple[int, int]:
    """(records, bytes) of the whole records at the start of ``out``: a cut last line is not counted."""
    if not out.exists():
        return 0, 0
    count = size = 0
    with open(out, "rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break
            try:
                json.loads(line)
            except ValueError:
                break
            count, size = count + 1, size + len(line)
    return count, size


def normalize_file(path: str | Path, out: str | Path, normalizer, options: dict, top_k: int = 5,
                   skills_k: int | None = None, chunk_size: int = 256,
                   progress: Callable[[int, int], None] | None = None) -> dict:
    """Normalize every title of ``path`` into ``out`` (JSON Lines), resuming a run that was stopped.

    ``options`` are the settings that change the output (model, top k...); a resumed run must have the same.
    ``skills_k`` adds each title's implied skills. ``progress(done, total)`` is called after each chunk. Returns
    the manifest.
    """
    path, out = Path(path), Path(out)
    titles = read_title_lines(path)
    manifest_file = manifest_path(out)
    source = fingerprint(str(path))
    if manifest_file.exists():
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        if manifest.get("input") != source:
            raise InputError(f"{out} was written from another input ({manifest.get('input', {}).get('path')}, or "
                             f"that file has changed): give another --out, or delete {out} and {manifest_file.name}")
        differing = changed_options(manifest.get("options", {}), options)
        if differing:
            raise InputError(f"{out} was started with other options ({'; '.join(differing)}): run again with the "
                             f"same ones, or give another --out")
    elif out.exists() and out.stat().st_size:
        raise InputError(f"{out} exists and was not written by `contextmatch normalize --out`: give another --out")
    else:
        manifest = {"format": MANIFEST_FORMAT, "input": source, "options": options}
    done, size = complete_records(out)
    if done > len(titles):
        raise InputError(f"{out} holds {done} records but {path} has only {len(titles)} titles")
    manifest.update(status="running", titles=len(titles))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(manifest, manifest_file)
    with open(out, "ab") as handle:
        handle.truncate(size)  # drop a line cut by a kill
        if progress:
            progress(done, len(titles))
        for start in range(done, len(titles), chunk_size):
            chunk = titles[start:start + chunk_size]
            matches = normalizer.normalize([title for _, title in chunk], top_k=top_k)
            lines = []
            for (number, title), found in zip(chunk, matches):
                skills = normalizer.implied_skills(title, skills_k) if skills_k else None
                record = {"line": number, **title_record(title, found, skills)}
                lines.append(json.dumps(record, ensure_ascii=False) + "\n")
            handle.write("".join(lines).encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
            if progress:
                progress(min(start + chunk_size, len(titles)), len(titles))
    manifest["status"] = "complete"
    write_json_atomic(manifest, manifest_file)
    print(f"wrote {len(titles):,} titles to {out}" + (f" ({done:,} were already there)" if done else ""),
          file=sys.stderr)
    return manifest
