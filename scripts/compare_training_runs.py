"""Compare trained models on the pooled selection queries: TECH and HOUSE validation and the Skill-XL ``select``
half (the ``report`` half stays unseen by every choice), with a paired bootstrap over queries against the first.

    python scripts/compare_training_runs.py runs/base-s0/best runs/lexical-s0/best ... \\
        --out results/training/lexical_negatives.json

Each model ranks every ESCO skill by its preferred label (what ``extract`` ranks by default, float32, the harness's
windows), or with ``--label-pool N`` by every label of its N best skills (``--skill-labels all --label-pool N``, the
default aggregation), for a model trained for that scoring. A query's RP@5 is from the harness's metric; the pooled
figure is the mean over all queries, so Skill-XL's
``select`` queries weigh as many as they are. The ``ci95`` of a model is that of its pooled RP@5 minus the first
model's, over 2,000 resamples of the queries of each benchmark (seed 0).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contextmatch.esco import load_esco  # noqa: E402
from contextmatch.evaluation.extraction import selection_benchmarks  # noqa: E402
from contextmatch.evaluation.ranking import System, load_metric, score_matrix  # noqa: E402
from select_label_aggregation import bootstrap, interval, per_query_rp  # noqa: E402  (scripts/, beside this one)

ROUNDS = 2000


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="model folders; the first is the reference")
    parser.add_argument("--out", type=Path, required=True, help="results JSON")
    parser.add_argument("--label-pool", type=int, help="rank by every label of the N best skills (default: preferred)")
    args = parser.parse_args(argv)
    scoring = dict(skill_labels="all", label_pool=args.label_pool) if args.label_pool else {}
    labels = load_esco().skill_labels
    benchmarks = selection_benchmarks(set(labels))
    metric = load_metric()
    per_query = {m: [torch.tensor(per_query_rp(score_matrix(System("contextmatch", m, **scoring), b.sentences),
                                               b.gold, labels, metric)) for b in benchmarks.values()]
                 for m in args.models}
    pooled = bootstrap(per_query, ROUNDS, seed=0)  # the same resamples for every model: paired differences
    reference = args.models[0]
    rows = []
    for model in args.models:
        low, high = interval(pooled[model] - pooled[reference])
        rows.append({"model": model,
                     "pooled_rp@5": round(100 * float(torch.cat(per_query[model]).mean()), 2),
                     **{name: round(100 * float(v.mean()), 2) for name, v in zip(benchmarks, per_query[model])},
                     "minus_reference_ci95": [low, high]})
        print(f"{model:<40} pooled {rows[-1]['pooled_rp@5']:6.2f}  " +
              "  ".join(f"{name} {rows[-1][name]:6.2f}" for name in benchmarks) +
              f"  minus reference 95% [{low:+.2f}, {high:+.2f}]")
    pool = f" --label-pool {args.label_pool}" if args.label_pool else ""
    result = {"command": f"python scripts/compare_training_runs.py {' '.join(args.models)} --out {args.out}{pool}",
              "skill_labels": f"all, pool {args.label_pool}" if args.label_pool else "preferred",
              "date": datetime.date.today().isoformat(), "queries": {n: len(b.sentences) for n, b in benchmarks.items()},
              "reference": reference, "noise": f"paired bootstrap over queries, {ROUNDS} resamples, seed 0",
              "models": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
