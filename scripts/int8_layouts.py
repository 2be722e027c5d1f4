"""Which Linear layers torch int8 can quantize without losing ranking accuracy: pooled validation RP@5 of int8
layouts of the shipped model against float32 (the evidence behind ``contextmatch.skills.quantize.int8_layers``).

    python scripts/int8_layouts.py [--model M] [--out results/speed/int8_layouts.json]

Every layout runs on the same validation queries as ``benchmarks/accuracy.py`` (TECH, HOUSE, Skill-XL; the skill
matrix is float32 in all of them, only the sentence encoder changes): every Linear layer in int8 (the layout before
2026-12-04) and the feed-forward outputs in float32 (the layout until 2026-12-08), each with one activation scale per
batch of 32 windows and per ``INT8_WINDOWS`` windows (shipped); and the shipped layout on CPUs with native bfloat16,
the feed-forward outputs in bfloat16 (run on such a CPU); and, for comparison, the whole encoder under bfloat16
autocast (``--quantize bf16``, what ``auto`` runs on CPUs with AMX).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from accuracy import evaluate_variant, pooled_rp5  # noqa: E402  (benchmarks/)
from contextmatch.esco import load_esco  # noqa: E402
from contextmatch.evaluation.benchmarks import load_benchmark  # noqa: E402
from contextmatch.evaluation.ranking import load_metric  # noqa: E402
from contextmatch.models import load_model  # noqa: E402
from contextmatch.skills.extractor import SkillExtractor  # noqa: E402
from contextmatch.skills.quantize import (  # noqa: E402
    INT8_WINDOWS, SentenceEncoder, down_dtype, int8_layers, quantize_int8,
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the shipped default model)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "speed" / "int8_layouts.json")
    args = parser.parse_args(argv)
    pair = load_model(args.model, "cpu")
    model = pair[0]
    esco, metric = load_esco(), load_metric()
    known = set(esco.skill_by_label)
    benchmarks = [load_benchmark(name, "validation", known) for name in ("tech", "house", "skill-xl")]
    linear = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    native_bf16 = down_dtype() == torch.bfloat16

    shipped = int8_layers(model)

    def int8(names: list[str], windows: int, down: torch.dtype):
        """(encoder factory, int8 layers, windows per scale) of an int8 layout."""
        return (lambda: SentenceEncoder(quantize_int8(model, names, down), "int8", int8_windows=windows),
                len(names), windows)

    layouts = {"float32": (None, 0, None)}
    for windows in (32, INT8_WINDOWS):
        layouts[f"every Linear layer int8, scale per {windows} windows"] = int8(linear, windows, torch.float32)
        layouts[f"feed-forward outputs float32, scale per {windows} windows"] = int8(shipped, windows, torch.float32)
    if native_bf16:
        layouts[f"feed-forward outputs bfloat16, scale per {INT8_WINDOWS} windows"] = int8(shipped, INT8_WINDOWS,
                                                                                          torch.bfloat16)
    layouts["bf16 autocast, every layer (not int8)"] = (lambda: SentenceEncoder(model, "bf16"), 0, None)
    rows = []
    for layout, (encoder, int8_count, windows) in layouts.items():
        extractor = SkillExtractor(pair, quantize=None)  # batches of 32 windows, as by default
        if encoder is not None:
            extractor.encoder = encoder()
        records = [evaluate_variant(extractor, layout, b, esco.skill_labels, metric) for b in benchmarks]
        rows.append({"layout": layout, "int8_layers": int8_count, "windows_per_scale": windows,
                     "pooled_rp@5": pooled_rp5(records),
                     **{r["benchmark"]: r["rp@5"] for r in records}})
        rows[-1]["minus_float32"] = round(rows[-1]["pooled_rp@5"] - rows[0]["pooled_rp@5"], 2)
        print(f"{layout:<55} pooled RP@5 {rows[-1]['pooled_rp@5']:6.2f} ({rows[-1]['minus_float32']:+.2f})", flush=True)
    result = {"command": "python scripts/int8_layouts.py" + (f" --model {args.model}" if args.model else ""),
              "date": datetime.date.today().isoformat(), "cpu_native_bf16": native_bf16,
              "model": args.model or "contextmatch-default",
              "queries": {b.name: b.n_queries for b in benchmarks}, "threads": torch.get_num_threads(), "layouts": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
