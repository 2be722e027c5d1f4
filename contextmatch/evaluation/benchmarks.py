"""Skill-extraction benchmarks: the named ones shipped here (TECH, HOUSE, Skill-XL) and any CSV in their formats.

Gold per sentence (DESIGN.md §4, as WorkRB): the annotated ESCO preferred labels, with ``LABEL NOT PRESENT`` and
``UNDERSPECIFIED`` removed and duplicates merged; Skill-XL keeps ``relevant == True`` rows only. Sentences left with
no gold are dropped and counted.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from ..inputs import InputError

PACKAGE_DIR = Path(__file__).resolve().parents[1]
BENCHMARK_DIR = PACKAGE_DIR / "data" / "benchmarks"
SKILL_XL_DIR = PACKAGE_DIR.parent / "skill_xl"
NOT_A_SKILL = {"LABEL NOT PRESENT", "UNDERSPECIFIED"}
NAMED = {
    "tech": {"validation": BENCHMARK_DIR / "tech_validation_annotations.csv",
             "test": BENCHMARK_DIR / "tech_test_annotations.csv"},
    "house": {"validation": BENCHMARK_DIR / "house_validation_annotations.csv",
              "test": BENCHMARK_DIR / "house_test_annotations.csv"},
    "skill-xl": {"validation": SKILL_XL_DIR / "raw" / "development.csv"},
}
SPAN_COLUMNS = {"sentence", "label"}  # TECH/HOUSE (with span, sub_span) and sentence,label pair files
SKILL_XL_COLUMNS = {"ID", "sentence", "relevant", "skill"}


@dataclass
class Benchmark:
    """Queries (sentences) with their gold ESCO labels, and how many sentences were dropped and why."""

    name: str
    split: str
    sentences: list[str] = field(default_factory=list)
    gold: list[list[str]] = field(default_factory=list)
    n_rows: int = 0
    n_sentences: int = 0  # distinct sentences before filtering
    n_dropped: int = 0  # sentences without any gold label left
    unknown_labels: dict[str, int] = field(default_factory=dict)  # gold labels that are not ESCO preferred labels

    @property
    def n_queries(self) -> int:
        return len(self.sentences)


def benchmark_names() -> list[str]:
    return sorted(NAMED)


def load_benchmark(name_or_path: str, split: str | None = None, known_labels: set[str] | None = None) -> Benchmark:
    """A named benchmark (``tech``, ``house``, ``skill-xl``; split ``validation`` or ``test``) or a CSV path.

    ``known_labels``, when given, is the label space: gold labels outside it are counted and removed.
    """
    key = name_or_path.lower().replace("_", "-")
    if key in NAMED:
        splits = NAMED[key]
        split = split or "test" if "test" in splits else split or "validation"
        if split not in splits:
            raise InputError(f"benchmark {key!r} has no split {split!r}; available: {', '.join(splits)}")
        return read_benchmark_csv(splits[split], key, split, known_labels)
    if not Path(name_or_path).suffix.lower() == ".csv":
        raise InputError(
            f"unknown benchmark {name_or_path!r}: use one of {', '.join(benchmark_names())} or a CSV file path"
        )
    return read_benchmark_csv(Path(name_or_path), Path(name_or_path).stem, split or "file", known_labels)


def read_benchmark_csv(path: Path, name: str, split: str, known_labels: set[str] | None = None) -> Benchmark:
    """Read a CSV in one of the upstream formats: ``sentence,span,sub_span,label`` (TECH/HOUSE),
    ``sentence,label`` (one row per sentence-skill pair) or the Skill-XL columns."""
    try:
        handle = open(path, encoding="utf-8-sig", newline="")
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from None
    with handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        if SKILL_XL_COLUMNS <= columns:
            key_of, label_of = (lambda r: (r["ID"], r["sentence"])), _skill_xl_label
        elif SPAN_COLUMNS <= columns:
            key_of, label_of = (lambda r: r["sentence"]), (lambda r: r["label"])
        else:
            raise InputError(
                f"{path}: columns {sorted(columns)} match no benchmark format; expected sentence,label "
                f"(optionally with span,sub_span) or the Skill-XL columns ID,subset,title,sentence,relevant,cluster,skill"
            )
        grouped: dict = {}
        benchmark = Benchmark(name, split)
        try:
            for row in reader:
                benchmark.n_rows += 1
                labels = grouped.setdefault(key_of(row), {})  # insertion-ordered set
                label = (label_of(row) or "").strip()
                if not label or label in NOT_A_SKILL:
                    continue
                if known_labels is not None and label not in known_labels:
                    benchmark.unknown_labels[label] = benchmark.unknown_labels.get(label, 0) + 1
                    continue
                labels[label] = None
        except (csv.Error, UnicodeDecodeError) as err:
            raise InputError(f"{path}: not a readable UTF-8 CSV file ({err})") from None
    benchmark.n_sentences = len(grouped)
    for key, labels in grouped.items():
        if labels:
            benchmark.sentences.append(key[1] if isinstance(key, tuple) else key)
            benchmark.gold.append(list(labels))
        else:
            benchmark.n_dropped += 1
    return benchmark


def _skill_xl_label(row: dict) -> str:
    return row["skill"] if str(row["relevant"]).strip().lower() == "true" else ""
