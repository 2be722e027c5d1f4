"""Choose the threshold and margin of SkillSpan span linking (``build-training-data --link-spans``) on the TECH and
HOUSE *validation* spans, whose ESCO labels are annotated; and count what linking adds to the SkillSpan train data.

    python scripts/calibrate_span_linking.py      # writes results/training/span_linking.json

For each (threshold, margin): how many validation spans get linked, and the share linked to their annotated label
(spans annotated "LABEL NOT PRESENT" count as wrong when linked; "UNDERSPECIFIED" spans are left out).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from contextmatch.evaluation.benchmarks import NAMED  # noqa: E402
from contextmatch.esco import load_esco  # noqa: E402
from contextmatch.training.skill_data import LINK_MARGIN, LINK_THRESHOLD, SpanLinker  # noqa: E402

GRID = [(t, m) for t in (0.6, 0.7, 0.75, 0.8, 0.85, 0.9) for m in (0.0, 0.05)]


def validation_spans() -> list[dict]:
    rows = []
    for name in ("tech", "house"):
        with open(NAMED[name]["validation"], encoding="utf-8") as handle:
            rows += [r for r in csv.DictReader(handle) if r["label"] != "UNDERSPECIFIED" and r["span"].strip()]
    return rows


def main() -> int:
    esco = load_esco("1.1.0")
    linker = SpanLinker(esco)
    rows = validation_spans()
    values, indices = linker.best_two([r["span"] for r in rows])
    grid = []
    for threshold, margin in GRID:
        linked = [i for i, (first, second) in enumerate(values.tolist())
                  if first >= threshold and first - second >= margin]
        correct = sum(esco.skills[int(indices[i, 0])].label == rows[i]["label"] for i in linked)
        grid.append({"threshold": threshold, "margin": margin, "linked": len(linked),
                     "precision": round(correct / len(linked), 3) if linked else None})
    stats = json.loads((REPO / "training_data" / "v1-linked" / "stats.json").read_text()) \
        if (REPO / "training_data" / "v1-linked" / "stats.json").exists() else None
    result = {"validation_spans": len(rows), "chosen": {"threshold": LINK_THRESHOLD, "margin": LINK_MARGIN},
              "grid": grid, "training_data_v1_linked": stats and stats["by_source"],
              "command": "python scripts/calibrate_span_linking.py"}
    out = REPO / "results" / "training" / "span_linking" / "calibration.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for row in grid:
        print(f"threshold {row['threshold']:.2f} margin {row['margin']:.2f}: {row['linked']:4d} of {len(rows)} "
              f"spans linked, precision {row['precision']}")
    print(f"wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
