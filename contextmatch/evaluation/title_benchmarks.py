"""Title benchmark files: any CSV (optionally gzip-compressed) with a title column and an ESCO occupation URI
column, the JobBERT evaluation titles shipped by default, and their fixed train / select split by title."""

from __future__ import annotations

import collections
import csv
import gzip
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..esco import DEFAULT_ESCO_VERSION, load_esco
from ..inputs import InputError


PACKAGE_DIR = Path(__file__).resolve().parents[1]
JOBBERT_TITLES = PACKAGE_DIR / "data" / "benchmarks" / "jobbert_titles.csv.gz"
JOBBERT_SPLIT = PACKAGE_DIR / "data" / "benchmarks" / "jobbert_titles_split.csv.gz"  # row -> train / select
SPLITS = ("all", "even", "odd", "train", "select")
SELECT_FRACTION, SPLIT_SEED = 0.2, "jobbert-titles-2026"


# -- benchmark files ---------------------------------------------------------------------------------------------
@dataclass
class TitleBenchmark:
    name: str
    titles: list[str]
    uris: list[str]
    n_rows: int
    dropped_uris: dict[str, int] = field(default_factory=dict)  # URI -> rows dropped (not in the ESCO version)
    split: str = "all"

    @property
    def n_queries(self) -> int:
        return len(self.titles)

    @property
    def n_dropped(self) -> int:
        return sum(self.dropped_uris.values())


def title_key(title: str) -> str:
    """The form under which two titles count as the same title: lower-cased, whitespace collapsed.

    >>> title_key("  Sales   EXECUTIVE ")
    'sales executive'
    """
    return " ".join(title.lower().split())


def split_by_title(titles: list[str], select_fraction: float = SELECT_FRACTION, seed: str = SPLIT_SEED) -> list[str]:
    """``"train"`` or ``"select"`` for each title: every row of one title (see :func:`title_key`) on one side, and
    ``select`` holding the first titles in a seeded hash order until it has ``select_fraction`` of the rows.

    >>> split_by_title(["Nurse", "nurse ", "Cook", "Driver", "Welder"], 0.4)
    ['train', 'train', 'select', 'select', 'train']
    """
    import hashlib

    keys = [title_key(title) for title in titles]
    rows = collections.Counter(keys)
    order = sorted(rows, key=lambda key: hashlib.sha256(f"{seed}\n{key}".encode()).hexdigest())
    chosen, total = set(), 0
    for key in order:
        if total >= select_fraction * len(titles):
            break
        chosen.add(key)
        total += rows[key]
    return ["select" if key in chosen else "train" for key in keys]


def stored_split(csv_path: Path, n_rows: int) -> list[str] | None:
    """The split stored in the repository for the JobBERT file (``None`` for any other file)."""
    if csv_path.resolve() != JOBBERT_TITLES.resolve() or not JOBBERT_SPLIT.is_file():
        return None
    with _open_csv(JOBBERT_SPLIT) as handle:
        sides = [row["split"] for row in csv.DictReader(handle)]
    if len(sides) != n_rows:
        raise InputError(f"{JOBBERT_SPLIT.name} has {len(sides)} rows but {csv_path.name} has {n_rows}: rebuild it "
                         f"with python scripts/split_jobbert_titles.py")
    return sides


def _open_csv(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def read_title_benchmark(csv_path: str | Path = JOBBERT_TITLES, title_column: str = "vacancyTitle",
                         uri_column: str = "conceptUri", split: str = "all",
                         esco_version: str = DEFAULT_ESCO_VERSION) -> TitleBenchmark:
    """Read (title, occupation URI) rows; ``split`` keeps ``all`` rows, those at ``even`` / ``odd`` positions
    (two stratified halves: the JobBERT file is sorted by occupation), or the ``train`` / ``select`` side of the
    split by title (:func:`split_by_title`; for the JobBERT file the one stored in the repository). Empty titles
    are skipped; URIs that are not occupations of ``esco_version`` are counted in ``dropped_uris``."""
    path = Path(csv_path)
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    if not path.is_file():
        raise InputError(f"benchmark file not found: {path}")
    known = load_esco(esco_version).occupation_by_uri
    titles, uris, dropped, n_rows = [], [], {}, 0
    try:
        with _open_csv(path) as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in (title_column, uri_column) if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(
                    f"{path.name} has no column {' or '.join(map(repr, missing))} (its columns: "
                    f"{', '.join(map(repr, reader.fieldnames or [])) or 'none'}); name them with --title-column and "
                    f"--uri-column")
            rows = [((row[title_column] or "").strip(), (row[uri_column] or "").strip()) for row in reader]
    except (UnicodeDecodeError, csv.Error, OSError, EOFError) as err:
        raise InputError(f"cannot read {path} as a UTF-8 CSV file: {err}") from None
    if split in ("train", "select"):
        sides = stored_split(path, len(rows)) or split_by_title([title for title, _ in rows])
    for position, (title, uri) in enumerate(rows):
        if split in ("even", "odd") and position % 2 != (split == "odd"):
            continue
        if split in ("train", "select") and sides[position] != split:
            continue
        if not title:
            continue
        n_rows += 1
        if uri not in known:
            dropped[uri] = dropped.get(uri, 0) + 1
            continue
        titles.append(title)
        uris.append(uri)
    name = "jobbert-titles" if path.resolve() == JOBBERT_TITLES.resolve() else re.sub(r"\.csv(\.gz)?$", "", path.name)
    return TitleBenchmark(name, titles, uris, n_rows, dropped, split)


def benchmark_titles(csv_path: str | Path = JOBBERT_TITLES, title_column: str = "vacancyTitle") -> set[str]:
    """The lower-cased titles of a benchmark file (all rows), for filtering them out of training data."""
    with _open_csv(Path(csv_path)) as handle:
        return {(row.get(title_column) or "").strip().lower() for row in csv.DictReader(handle)} - {""}
