"""Files of a resumable job: shard names, atomic writes, input fingerprints, changed options and progress."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from ..inputs import InputError


FULL_HASH_LIMIT = 1 << 30  # inputs up to 1 GiB are hashed whole; larger ones by 64 blocks of 1 MiB
# Options that change the output: a resumed run must use the same ones (the flag names the CLI gives them).
OPTION_FLAGS = {"input_format": "--input-format", "text_column": "--text-column", "id_column": "--id-column",
                "chunk_size": "--chunk-size", "duplicate_ids": "--duplicate-ids", "model": "--model",
                "top_k": "--top-k", "threshold": "--threshold", "esco_version": "ESCO version",
                "quantize": "--quantize", "backend": "--backend"}


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


class Progress:
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
