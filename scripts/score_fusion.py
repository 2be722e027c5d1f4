"""Does the trained model's sentence-level cosine add to its ConTeXT score? A measurement on the pooled selection
queries (TECH and HOUSE validation, the Skill-XL ``select`` half), with a paired bootstrap over queries.

Each skill's fused score is ``(1 - L) * ConTeXT score + L * cosine`` of the mean-pooled sentence and skill vectors of
the same model (``contextmatch.evaluation.ranking.cosine_scores``, the baseline's scoring), for each weight ``L`` of
``--weights``; ``L = 0`` is today's ranking.

    python scripts/score_fusion.py [--model M] [--out results/ranking/score_fusion.json]
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
sys.path.insert(0, str(ROOT / "scripts"))

from contextmatch.esco import load_esco  # noqa: E402
from contextmatch.evaluation.extraction import selection_benchmarks  # noqa: E402
from contextmatch.evaluation.ranking import cosine_scores, load_metric  # noqa: E402
from contextmatch.skills.extractor import SkillExtractor  # noqa: E402
from select_label_aggregation import bootstrap, interval, per_query_rp  # noqa: E402

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model folder or name (default: the shipped default model)")
    parser.add_argument("--weights", type=float, nargs="+", default=WEIGHTS)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "ranking" / "score_fusion.json")
    args = parser.parse_args(argv)

    labels = load_esco().skill_labels
    metric = load_metric()
    extractor = SkillExtractor(args.model)
    per_query: dict[str, list[torch.Tensor]] = {f"{w:g}": [] for w in args.weights}
    parts: dict[str, dict[str, float]] = {f"{w:g}": {} for w in args.weights}
    benchmarks = selection_benchmarks(set(labels))
    for name, benchmark in benchmarks.items():
        context = extractor.score_sentences(benchmark.sentences, progress=True)
        cosine = cosine_scores(extractor, benchmark.sentences)
        for weight in args.weights:
            rp = torch.tensor(per_query_rp((1 - weight) * context + weight * cosine, benchmark.gold, labels, metric))
            per_query[f"{weight:g}"].append(rp)
            parts[f"{weight:g}"][name] = round(100 * float(rp.mean()), 2)
    resampled = bootstrap(per_query, 2000, 0)
    reference = f"{args.weights[0]:g}"
    rows = [{"cosine_weight": float(spec), "pooled_rp@5": round(100 * float(torch.cat(values).mean()), 2),
             **parts[spec], "minus_first_ci95": interval(resampled[spec] - resampled[reference])}
            for spec, values in per_query.items()]
    result = {"command": "python scripts/score_fusion.py" + (f" --model {args.model}" if args.model else ""),
              "date": datetime.date.today().isoformat(), "model": args.model or "contextmatch-default",
              "queries": {name: b.n_queries for name, b in benchmarks.items()},
              "noise": "paired bootstrap over queries, 2000 resamples, seed 0", "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for row in rows:
        print(f"cosine weight {row['cosine_weight']:.1f}: pooled RP@5 {row['pooled_rp@5']:.2f} "
              f"{row['minus_first_ci95']}  " + "  ".join(f"{n} {row[n]:.2f}" for n in benchmarks))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
