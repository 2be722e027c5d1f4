"""How much the exact top-k step costs when every ESCO label is on the skill side, against the preferred labels only.

The windows of ``benchmarks/data/sentences.txt`` are encoded once; then each variant finds the exact top k of every
window, in the same length-bucketed batches, round after round (interleaved; best round kept): the preferred labels
(today's default), all labels (the bound reads every label vector) and all labels over a pool (the preferred-label
top ``--pool`` rescored with all their labels, ``SkillExtractor(label_pool=N)``). The encoder pass is timed too, for
scale.

    python scripts/label_bound_speed.py [--threads 1] [--rounds 3] [--pool 100] [--out results/labels/bound_speed.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contextmatch.skills.extractor import SkillExtractor  # noqa: E402
from contextmatch.skills.topk import label_topk, pooled_label_topk  # noqa: E402

SENTENCES = ROOT / "benchmarks" / "data" / "sentences.txt"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--k", type=int, default=10, help="skills per window (default 10: extraction's top 5, "
                                                          "doubled for grouping)")
    parser.add_argument("--pool", type=int, default=100,
                        help="label pool of the pooled variant (default 100, the one results/labels/aggregation.json "
                             "recommends)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "labels" / "bound_speed.json")
    args = parser.parse_args()

    extractor = SkillExtractor(skill_labels="all", threads=args.threads)
    torch.set_num_threads(args.threads)
    sentences = [line.strip() for line in SENTENCES.read_text(encoding="utf-8").splitlines() if line.strip()]
    start = time.perf_counter()
    batches = [(tokens, extractor._scoring_mask(mask)) for _, tokens, mask, _ in
               extractor._encoded_batches(sentences, progress=False)]
    encode_seconds = time.perf_counter() - start
    windows = sum(len(tokens) for tokens, _ in batches)
    skills = len(extractor.skills)
    temperature = extractor.model.config.attn_temperature
    weight, label_temperature = extractor.label_weight, extractor.label_temperature
    one_each = extractor.skill_labels[:, :1]

    variants = {
        "preferred": lambda t, m: label_topk(t, m, extractor.skill_embeddings, one_each, args.k, temperature,
                                                extractor.bound_skills),
        "all-labels-bound": lambda t, m: label_topk(t, m, extractor.label_embeddings, extractor.skill_labels,
                                                       args.k, temperature, extractor.bound_labels, None, weight,
                                                       label_temperature),
        f"all-labels-pool-{args.pool}": lambda t, m: pooled_label_topk(t, m, extractor.label_embeddings,
                                                                      extractor.skill_labels, args.k, args.pool,
                                                                      temperature, extractor.bound_skills, weight,
                                                                      label_temperature),
    }
    best = {name: float("inf") for name in variants}
    with torch.inference_mode():
        for _ in range(args.rounds):
            for name, run in variants.items():
                start = time.perf_counter()
                for tokens, mask in batches:
                    run(tokens, mask)
                best[name] = min(best[name], time.perf_counter() - start)
    extra_labels = len(extractor.labels) - skills
    per_window_ms = {name: round(1000 * seconds / windows, 3) for name, seconds in best.items()}
    result = {
        "command": f"python scripts/label_bound_speed.py --threads {args.threads} --rounds {args.rounds} "
                   f"--pool {args.pool}",
        "date": datetime.date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "threads": args.threads, "torch": torch.__version__,
                    "bound_dtype": str(extractor.bound_labels.dtype), "platform": platform.platform()},
        "load_average": [round(x, 1) for x in os.getloadavg()[:2]],
        "windows": windows,
        "k": args.k,
        "skills": skills,
        "labels": len(extractor.labels),
        "label_aggregation": extractor.label_aggregation,
        "encoder_ms_per_window": round(1000 * encode_seconds / windows, 3),
        "topk_ms_per_window": per_window_ms,
        "vs_preferred": {name: round(best[name] / best["preferred"], 2) for name in best},
        "bound_ns_per_label_vector_per_window": round(
            1e9 * (best["all-labels-bound"] - best["preferred"]) / windows / extra_labels, 3),
        "method": "exact top-k step only (tokens encoded beforehand), best of the rounds; encoder: one pass, "
                  "tokenization included; ns per label vector: the all-labels bound minus the preferred path, per "
                  "window and per alternative label",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
