"""Comparison tables of every system's results files (README, model cards), and the ablation table."""

from __future__ import annotations

import json
from pathlib import Path

from .ranking import RESULTS_DIR

ABLATION_README = RESULTS_DIR.parent / "ablation" / "README.md"
TRAINING_RUNS_README = RESULTS_DIR.parent / "training" / "README.md"  # scripts/training_runs_table.py
COLUMNS = [("tech", "test"), ("house", "test"), ("skill-xl", "validation")]
VALIDATION = [("tech", "validation"), ("house", "validation")]
REPORTED = [  # (system, {column: "RP@5 / RP@10 / MRR"}), as reported by their authors (DESIGN.md §4)
    ("ConTeXT-match, all-mpnet-base-v2 (Decorte et al. 2025)", {("tech", "test"): "63.98 / 73.99 / 0.632"}),
    ("IReRa: Llama-2 + GPT-4 reranking (D'Oosterlinck et al. 2024)",
     {("tech", "test"): "63.13 / 71.98 / –", ("house", "test"): "55.57 / 61.71 / –"}),
    ("curriculum bi-encoder (Bielinski & Brazier 2025)",
     {("tech", "test"): "59.40 / 69.93 / 0.573", ("house", "test"): "49.14 / 59.61 / –"}),
]


def load_results(results_dir: Path = RESULTS_DIR) -> dict[tuple[str, str, str], dict]:
    """Every results file, keyed by (system, benchmark, split)."""
    results = {}
    for path in sorted(Path(results_dir).glob("*.json")):
        result = json.loads(path.read_text())
        results[(result["system"], result["benchmark"], result["split"])] = result
    return results


def cell(result: dict | None) -> str:
    """
    >>> cell({"rp@5": 55.1, "rp@10": 67.29, "mrr": 0.5441}), cell(None)
    ('55.10 / 67.29 / 0.544', '–')
    """
    return f"{result['rp@5']:.2f} / {result['rp@10']:.2f} / {result['mrr']:.3f}" if result else "–"


def table(results: dict, columns: list[tuple[str, str]], reported: bool) -> str:
    """One row per system with RP@5 / RP@10 / MRR per (benchmark, split) column; the systems reported by their
    authors at the end when ``reported``."""
    systems = sorted({key[0] for key in results if (key[1], key[2]) in columns},
                     key=lambda s: (not s.startswith("ConTeXT"), s))
    names = [f"{b.upper() if b != 'skill-xl' else 'Skill-XL'} {s}" for b, s in columns]
    lines = ["| system | " + " | ".join(names) + " |", "|---" * (len(columns) + 1) + "|"]
    for system in systems:
        lines.append(f"| {system} | " + " | ".join(cell(results.get((system, b, s))) for b, s in columns) + " |")
    if reported:
        for system, cells in REPORTED:
            lines.append(f"| *reported by their authors:* {system} | "
                         + " | ".join(cells.get(c, "–") for c in columns) + " |")
    return "\n".join(lines)


def comparison_markdown(results_dir: Path = RESULTS_DIR) -> str | None:
    """The test and validation tables of every system, for model cards; None without results files."""
    results = load_results(results_dir)
    if not results:
        return None
    return "\n".join([
        "RP@5 / RP@10 / MRR of every system (test splits; Skill-XL: its validation split, the only one public):", "",
        table(results, COLUMNS, reported=True), "", "Validation splits (used for model and threshold selection):", "",
        table(results, VALIDATION, reported=False)])


def markdown_table(path: Path) -> str | None:
    """The table lines of a results README (``ABLATION_README``, ``TRAINING_RUNS_README``); None when it has not
    been written."""
    if not Path(path).exists():
        return None
    return "\n".join(line for line in Path(path).read_text(encoding="utf-8").splitlines() if line.startswith("|"))
