"""Compare trained models on the pooled selection queries: TECH and HOUSE validation and the Skill-XL ``select``
half (the ``report`` half stays unseen by every choice), with a paired bootstrap over queries against the first.

    python scripts/compare_training_runs.py runs/base-s0/best runs/lexical-s0/best ... \\
        --out results/training/lexical_negatives.json

Each model ranks every ESCO skill by its preferred label (what ``extract`` ranks by default, float32, the harness's
windows). A query's RP@5 is from the harness's metric; the pooled figure is the mean over all queries, so Skill-XL's
``select`` queries weigh as many as they are. The ``ci95`` of a model is that of its pooled RP@5 minus the first
model's, over 2,000 resamples of the queries of each benchmark (seed 0).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contextmatch.esco import load_esco  # noqa: E402
from contextmatch.evaluation.benchmarks import NAMED, load_benchmark  # noqa: E402
from contextmatch.evaluation.extraction import skill_xl_halves  # noqa: E402
from contextmatch.evaluation.ranking import System, score_matrix  # noqa: E402

ROUNDS = 2000


def select_half_csv(folder: Path) -> Path:
    """The Skill-XL validation rows of the ``select`` ads, as a CSV the harness reads."""
    half = skill_xl_halves()
    path = folder / "skill-xl-select.csv"
    with open(NAMED["skill-xl"]["validation"], encoding="utf-8", newline="") as source, \
            open(path, "w", encoding="utf-8", newline="") as target:
        reader = csv.DictReader(source)
        writer = csv.DictWriter(target, reader.fieldnames)
        writer.writeheader()
        writer.writerows(row for row in reader if half.get(row["ID"]) == "select")
    return path


def per_query_rp5(model: str, benchmark, labels: list[str]) -> list[float]:
    """Each query's RP@5: gold skills in the top five over min(5, gold skills), as the harness's metric."""
    scores = score_matrix(System("contextmatch", model), benchmark.sentences)
    out = []
    for row, gold in zip(scores, benchmark.gold):
        top = {labels[i] for i in row.topk(5).indices.tolist()}
        out.append(len(top & set(gold)) / min(5, len(gold)))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="model folders; the first is the reference")
    parser.add_argument("--out", type=Path, required=True, help="results JSON")
    args = parser.parse_args(argv)
    labels = load_esco().skill_labels
    with tempfile.TemporaryDirectory() as tmp:
        benchmarks = {"tech validation": load_benchmark("tech", "validation", set(labels)),
                      "house validation": load_benchmark("house", "validation", set(labels)),
                      "skill-xl select": load_benchmark(str(select_half_csv(Path(tmp))), "select", set(labels))}
    per_query = {m: {name: torch.tensor(per_query_rp5(m, b, labels)) for name, b in benchmarks.items()}
                 for m in args.models}
    generator = torch.Generator().manual_seed(0)
    draws = {name: torch.randint(len(b.sentences), (ROUNDS, len(b.sentences)), generator=generator)
             for name, b in benchmarks.items()}

    def pooled(values: dict) -> torch.Tensor:  # (ROUNDS,) pooled RP@5 of each resample, in percent
        total = sum(values[name][draws[name]].sum(dim=1) for name in benchmarks)
        return 100 * total / sum(len(b.sentences) for b in benchmarks.values())

    reference = args.models[0]
    rows = []
    for model in args.models:
        values = per_query[model]
        difference = pooled(values) - pooled(per_query[reference])
        low, high = torch.quantile(difference, torch.tensor([0.025, 0.975])).tolist()
        rows.append({"model": model,
                     "pooled_rp@5": round(100 * float(torch.cat(list(values.values())).mean()), 2),
                     **{name: round(100 * float(v.mean()), 2) for name, v in values.items()},
                     "minus_reference_ci95": [round(low, 2), round(high, 2)]})
        print(f"{model:<40} pooled {rows[-1]['pooled_rp@5']:6.2f}  " +
              "  ".join(f"{name} {rows[-1][name]:6.2f}" for name in benchmarks) +
              f"  minus reference 95% [{low:+.2f}, {high:+.2f}]")
    result = {"command": "python scripts/compare_training_runs.py " + " ".join(args.models) + f" --out {args.out}",
              "date": datetime.date.today().isoformat(), "queries": {n: len(b.sentences) for n, b in benchmarks.items()},
              "reference": reference, "noise": f"paired bootstrap over queries, {ROUNDS} resamples, seed 0",
              "models": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
