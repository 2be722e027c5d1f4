"""What the decision layer (gate, calibrated selection, grouping) costs in the default pipeline.

    python benchmarks/decision_layer.py            # writes results/speed/decision_layer.json

The same extractor object runs the shipped ads (``benchmarks/data/sentences.txt``) with its decision layer and with
it switched off (one threshold, no gate, no grouping), alternating, ``--rounds`` times; each figure is the best
round. Both runs rank the same number of candidates per sentence and compute the gate's first step (one dot product
per window), so the difference is the gate's second step's, the selection's and the grouping's own work.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from throughput import load_ads  # noqa: E402

RESULTS = ROOT / "results" / "speed" / "decision_layer.json"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    from contextmatch.skills.extractor import SkillExtractor

    extractor = SkillExtractor(None, quantize="auto", threads=args.threads)
    ads = load_ads()
    extractor.extract_many(ads[:2])  # warm-up: caches, the redundancy index
    depth = 2 * extractor.top_k  # the candidates the layer ranks (with grouping): the plain run ranks as many
    config = extractor.model.config
    gate, context = config.gate_threshold is not None, config.gate_context
    best = {"with decision layer": float("inf"), "without (one threshold)": float("inf")}
    for _ in range(args.rounds):
        extractor.gate, extractor.grouping, config.gate_context = gate, True, context
        start = time.perf_counter()
        extractor.extract_many(ads)
        best["with decision layer"] = min(best["with decision layer"], time.perf_counter() - start)
        extractor.gate, extractor.grouping, config.gate_context = False, False, None  # the gate's 2nd step off too
        start = time.perf_counter()
        extractor.extract_many(ads, top_k=depth, threshold=extractor.model.config.score_threshold)
        best["without (one threshold)"] = min(best["without (one threshold)"], time.perf_counter() - start)
    sentences = sum(len([line for line in ad.splitlines() if line.strip()]) for ad in ads)
    with_layer, without = best["with decision layer"], best["without (one threshold)"]
    result = {
        "machine": platform.processor() or platform.machine(), "threads": args.threads, "rounds": args.rounds,
        "ads": len(ads), "sentences": sentences, "quantize": "auto",
        "seconds": {k: round(v, 3) for k, v in best.items()},
        "layer_share_of_pipeline": round((with_layer - without) / with_layer, 4),
        "command": "python benchmarks/decision_layer.py",
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"with the decision layer {with_layer:.2f} s, without {without:.2f} s: the layer is "
          f"{100 * result['layer_share_of_pipeline']:.1f}% of the pipeline -> {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
