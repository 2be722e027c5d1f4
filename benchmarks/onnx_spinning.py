"""Why ONNX Runtime lost at two threads: its intra-op threads spin between runs by default, on the cores that
torch's threads need for the ConTeXT scoring that follows each encoder call. Times the ONNX Runtime pipeline with
spinning threads (ONNX Runtime's default) and with sleeping ones (``contextmatch.skills.onnx_runtime``'s setting) in one
process, alternating, best of ``--rounds``.

    python benchmarks/onnx_spinning.py --threads 2      # writes results/speed/onnx_spinning.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results" / "speed" / "onnx_spinning.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="threads of torch and ONNX Runtime (default: 2)")
    parser.add_argument("--quantize", choices=("fp32", "int8"), default="fp32", help="encoder (default: fp32)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each number is the best (default: 3)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(args.threads)
    import onnxruntime as ort

    from contextmatch.skills.extractor import SkillExtractor
    from contextmatch.text import clean_text, split_sentences
    from throughput import load_ads, machine

    extractor = SkillExtractor(backend="onnx", quantize=args.quantize)
    ours = extractor.encoder.session

    def spinning():
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        return ort.InferenceSession(str(extractor.encoder.path), options, providers=["CPUExecutionProvider"])

    sessions = {"spinning (ONNX Runtime's default)": spinning(), "sleeping (contextmatch's setting)": ours}
    ads = load_ads()
    n_sentences = sum(len(split_sentences(clean_text(ad))) for ad in ads)
    best = dict.fromkeys(sessions, float("inf"))
    load_before = round(os.getloadavg()[0], 1)
    for _ in range(args.rounds):
        for name, session in sessions.items():
            extractor.encoder.session = session
            extractor.extract_many(ads[:1])  # warm-up of this session
            started = time.perf_counter()
            extractor.extract_many(ads)
            best[name] = min(best[name], time.perf_counter() - started)
    rows = [{"threads_between_runs": name, "sentences_per_s": round(n_sentences / t, 1)} for name, t in best.items()]
    command = "python benchmarks/onnx_spinning.py " + " ".join(argv if argv is not None else sys.argv[1:])
    result = {"benchmark": "onnx_spinning", "date": datetime.date.today().isoformat(), "command": command.strip(),
              "machine": machine(), "threads": args.threads, "encoder": f"ONNX Runtime {args.quantize}",
              "rounds": args.rounds, "n_sentences": n_sentences,
              "load_average": [load_before, round(os.getloadavg()[0], 1)], "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
