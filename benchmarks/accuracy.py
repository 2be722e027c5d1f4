"""Accuracy cost of the faster encoders: RP@K and MRR of each precision and backend on the validation splits (TECH,
HOUSE and Skill-XL; the pooled RP@5, weighted by queries, decides the default encoder).

Same protocol and results-file format as ``contextmatch evaluate`` (all 13,891 ESCO skills ranked per sentence,
DESIGN.md §4); the skill matrix is the float32 model's in every variant, only the sentence encoder changes.

    python benchmarks/accuracy.py                 # writes results/speed/accuracy/<benchmark>__<split>__<system>.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contextmatch.evaluation.benchmarks import load_benchmark  # noqa: E402
from contextmatch.esco import DEFAULT_ESCO_VERSION, load_esco  # noqa: E402
from contextmatch.evaluation.ranking import System, load_metric, ranking_metrics, write_result  # noqa: E402

RESULTS_DIR = ROOT / "results" / "speed" / "accuracy"
VARIANTS = {  # name: (quantize, backend)
    "torch fp32": (None, "torch"),
    "torch int8": ("int8", "torch"),
    "torch bf16": ("bf16", "torch"),
    "ONNX Runtime fp32": (None, "onnx"),
    "ONNX Runtime int8": ("int8", "onnx"),
}


def pooled_rp5(records: list[dict]) -> float:
    """RP@5 over the queries of several benchmarks: their RP@5 weighted by query count.

    >>> pooled_rp5([{"rp@5": 50.0, "n_queries": 1}, {"rp@5": 80.0, "n_queries": 3}])
    72.5
    """
    return round(sum(r["rp@5"] * r["n_queries"] for r in records) / sum(r["n_queries"] for r in records), 2)


def evaluate_variant(extractor, variant: str, benchmark, labels: list[str], metric) -> dict:
    """One results record, as ``evaluation.evaluate_system`` writes them, for ``extractor`` on ``benchmark``."""
    raw = ranking_metrics(extractor.score_sentences(benchmark.sentences), benchmark.gold, labels, metric)
    metrics = {key: round(100 * value, 2) for key, value in raw.items() if "@" in key}
    return {
        "system": f"{System('contextmatch', None).name}, {variant}", "kind": "contextmatch", "model": None,
        "variant": variant, "benchmark": benchmark.name, "split": benchmark.split, **metrics,
        "mrr": round(raw["mrr"], 4), "map": round(raw["map"], 4), "n_queries": benchmark.n_queries,
        "n_dropped": benchmark.n_dropped, "n_sentences": benchmark.n_sentences,
        "n_unknown_labels": sum(benchmark.unknown_labels.values()), "esco_version": DEFAULT_ESCO_VERSION,
        "units": "rp@K, recall@K, ndcg@K in percent; mrr and map as fractions",
        "date": datetime.date.today().isoformat(),
    }


def main(argv: list[str] | None = None) -> int:
    from contextmatch.skills.extractor import SkillExtractor
    from contextmatch.models import load_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", nargs="+", default=["tech", "house", "skill-xl"],
                        help="default: tech house skill-xl")
    parser.add_argument("--split", default="validation", help="default: validation")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    pair = load_model(None, "cpu")
    esco = load_esco(DEFAULT_ESCO_VERSION)
    metric = load_metric()
    benchmarks = [load_benchmark(name, args.split, set(esco.skill_by_label)) for name in args.benchmark]
    results = []
    for variant in args.variants:
        quantize, backend = VARIANTS[variant]
        extractor = SkillExtractor(pair, quantize=quantize, backend=backend)
        for benchmark in benchmarks:
            result = evaluate_variant(extractor, variant, benchmark, esco.skill_labels, metric)
            write_result(result, args.results_dir)
            results.append(result)
            print(f"{variant:<20} {benchmark.name:<6} {benchmark.split:<10} RP@5 {result['rp@5']:6.2f} "
                  f"RP@10 {result['rp@10']:6.2f} MRR {result['mrr']:.3f}", flush=True)
    for variant in args.variants:
        mine = [r for r in results if r["variant"] == variant]
        print(f"{variant:<20} pooled ({sum(r['n_queries'] for r in mine)} queries) RP@5 {pooled_rp5(mine):6.2f}")
    print(json.dumps({"written": str(args.results_dir)}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
