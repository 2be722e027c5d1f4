"""How far each reduced-precision sentence encoder moves ranking accuracy: pooled validation RP@5 against float32
(the evidence behind ``contextmatch.skills.quantize``'s int8 encoder and ``auto``'s 0.5-point budget).

    python scripts/int8_layouts.py [--model M] [--out results/speed/int8_layouts.json]

Every layout runs on the same validation queries as ``benchmarks/accuracy.py`` (TECH, HOUSE, Skill-XL; the skill
matrix is float32 in all of them, only the sentence encoder changes): the shipped int8 encoder (every Linear layer,
an int8 scale per token: ``Int8Linear``); for comparison, torch's dynamic quantization of every Linear layer with one
activation scale per batch of 32 windows (the int8 layout before 2026-12-04, whose per-batch scale lost accuracy and
led to the layouts of 2026-12-04 to 2026-12-08); and the whole encoder under bfloat16 autocast (``--quantize bf16``,
what ``auto`` runs on CPUs with AMX).
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
from contextmatch.skills.quantize import SentenceEncoder, quantize_int8  # noqa: E402


def per_batch_int8(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with torch's dynamic int8 quantization of every Linear layer: int8 weights per output
    channel, one activation scale per call (the int8 layout before 2026-12-04)."""
    import copy
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():  # deprecated in torch; kept here as a comparison only
        warnings.simplefilter("ignore")
        return quantize_dynamic(copy.deepcopy(model).eval(), {nn.Linear: per_channel_dynamic_qconfig})


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
    layouts = {
        "float32": None,
        "int8, scale per token, every Linear layer (shipped)": lambda: SentenceEncoder(quantize_int8(model), "int8"),
        "int8, scale per batch of 32 windows, every Linear layer (torch dynamic quantization)":
            lambda: SentenceEncoder(per_batch_int8(model), "int8"),
        "bf16 autocast, every layer (not int8)": lambda: SentenceEncoder(model, "bf16"),
    }
    rows = []
    for layout, encoder in layouts.items():
        extractor = SkillExtractor(pair, quantize=None)  # batches of 32 windows, as by default
        if encoder is not None:
            extractor.encoder = encoder()
        records = [evaluate_variant(extractor, layout, b, esco.skill_labels, metric) for b in benchmarks]
        rows.append({"layout": layout, "pooled_rp@5": pooled_rp5(records),
                     **{r["benchmark"]: r["rp@5"] for r in records}})
        rows[-1]["minus_float32"] = round(rows[-1]["pooled_rp@5"] - rows[0]["pooled_rp@5"], 2)
        print(f"{layout:<85} pooled RP@5 {rows[-1]['pooled_rp@5']:6.2f} ({rows[-1]['minus_float32']:+.2f})", flush=True)
    result = {"command": "python scripts/int8_layouts.py" + (f" --model {args.model}" if args.model else ""),
              "date": datetime.date.today().isoformat(),
              "model": args.model or "contextmatch-default",
              "queries": {b.name: b.n_queries for b in benchmarks}, "threads": torch.get_num_threads(), "layouts": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
