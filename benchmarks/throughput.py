"""End-to-end speed of skill extraction: sentences per second, single-sentence latency and peak memory.

Each pipeline (``benchmarks/pipelines.py``) runs in its own worker process, so peak memory is its own; the workers
take turns, one at a time, for ``--rounds`` rounds, and each number is the best round (the least disturbed by other
work on the machine). Ratios are to the mean-pooled cosine baseline of the same run.

    python benchmarks/throughput.py                   # all pipelines, writes results/speed/throughput.json
    python benchmarks/throughput.py --configs baseline default --rounds 1 --latency 10 --ads 2
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = ROOT / "benchmarks" / "data" / "sentences.txt"
RESULTS = ROOT / "results" / "speed" / "throughput.json"


def load_ads(path: Path = SENTENCES, limit: int | None = None) -> list[str]:
    """The shipped job ads: blocks of sentences (one per line) separated by blank lines."""
    ads = [block.strip() for block in path.read_text(encoding="utf-8").split("\n\n") if block.strip()]
    return ads[:limit] if limit else ads


def _worker(conn, key: str, threads: int | None) -> None:
    """Build pipeline ``key`` (on ``threads`` threads, if given), then answer the driver's requests until it says
    stop."""
    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from pipelines import CONFIG_BY_KEY

    if threads:
        torch.set_num_threads(threads)  # before the pipeline is built: ONNX Runtime sessions take it then
    started = time.perf_counter()
    pipeline = CONFIG_BY_KEY[key].make()
    conn.send({"load_s": time.perf_counter() - started, "threads": torch.get_num_threads()})
    while (request := conn.recv())[0] != "stop":
        kind, payload = request
        if kind == "throughput":
            started = time.perf_counter()
            pipeline.extract_many(payload)
            conn.send(time.perf_counter() - started)
        elif kind == "latency":
            times = []
            for sentence in payload:
                started = time.perf_counter()
                pipeline.extract_many([sentence])
                times.append(time.perf_counter() - started)
            conn.send(times)
    conn.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # peak resident memory, MB
    conn.close()


def _load_average() -> float | None:
    """The machine's 1-minute load average: above the core count, other jobs shared the cores."""
    try:
        return round(os.getloadavg()[0], 1)
    except OSError:
        return None


def machine() -> dict:
    import torch

    from contextmatch.runtime import available_cores
    from contextmatch.topk import bound_dtype

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = None
    return {"cpu": model, "cores": available_cores(), "logical_cpus": os.cpu_count(),
            "torch": torch.__version__, "onnxruntime": ort_version, "bf16_bound": str(bound_dtype("cpu")),
            "python": platform.python_version()}


def run(keys: list[str], ads: list[str], rounds: int, latency_sentences: int,
        threads: int | None = None) -> list[dict]:
    """Time each pipeline (each on ``threads`` threads when given, else its own setting); rows in ``keys`` order."""
    from contextmatch.text import clean_text, split_sentences

    sentences = [line for ad in ads for line in ad.splitlines()][:latency_sentences]
    n_sentences = sum(len(split_sentences(clean_text(ad))) for ad in ads)
    context = multiprocessing.get_context("spawn")
    workers = {}
    for key in keys:  # start one at a time: loading (and a first ONNX export) is timed alone
        parent, child = context.Pipe()
        process = context.Process(target=_worker, args=(child, key, threads), daemon=True)
        process.start()
        workers[key] = (process, parent, parent.recv())
        parent.send(("throughput", ads))  # warm-up: first calls build kernels for each shape
        parent.recv()
        print(f"  loaded {key} in {workers[key][2]['load_s']:.1f} s", file=sys.stderr)
    best = {key: float("inf") for key in keys}
    latencies = {key: [float("inf")] * len(sentences) for key in keys}
    for round_ in range(rounds):
        for key, (_, conn, _) in workers.items():
            conn.send(("throughput", ads))
            best[key] = min(best[key], conn.recv())
            if sentences:
                conn.send(("latency", sentences))
                latencies[key] = [min(a, b) for a, b in zip(latencies[key], conn.recv())]
        print(f"  round {round_ + 1}/{rounds} done", file=sys.stderr)
    rows = []
    for key, (process, conn, info) in workers.items():
        conn.send(("stop", None))
        peak = conn.recv()
        process.join(timeout=60)
        rows.append(_row(key, n_sentences / best[key], latencies[key], peak, info))
    baseline = next((r for r in rows if r["baseline"]), None)
    for row in rows:
        row["vs_baseline"] = round(row["sentences_per_s"] / baseline["sentences_per_s"], 2) if baseline else None
    return rows


def _row(key: str, rate: float, latencies: list[float], peak_mb: float, info: dict) -> dict:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from pipelines import CONFIG_BY_KEY

    config = CONFIG_BY_KEY[key]
    ms = sorted(1000 * t for t in latencies)
    return {
        "key": key, "name": config.name, "baseline": config.baseline,
        "sentences_per_s": round(rate, 1),
        "p50_ms": round(statistics.median(ms), 1) if ms else None,
        "p95_ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 1) if ms else None,
        "peak_rss_mb": round(peak_mb), "load_s": round(info["load_s"], 1), "threads": info["threads"],
    }


def format_rows(rows: list[dict]) -> str:
    """An aligned text table of the rows."""
    lines = [f"{'pipeline':<78} {'sent/s':>7} {'x base':>6} {'p50 ms':>7} {'p95 ms':>7} {'peak MB':>7}"]
    for r in rows:
        ratio = f"{r['vs_baseline']:.2f}" if r["vs_baseline"] is not None else "-"
        lines.append(f"{r['name'][:78]:<78} {r['sentences_per_s']:7.1f} {ratio:>6} {r['p50_ms'] or 0:7.1f} "
                     f"{r['p95_ms'] or 0:7.1f} {r['peak_rss_mb']:7d}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from pipelines import CONFIGS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", choices=[c.key for c in CONFIGS],
                        help="pipelines to time (default: all but mpnet, which needs the all-mpnet-base-v2 PyPI "
                             "parts; with --threads, also all but default-1-thread)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each number is the best (default: 3)")
    parser.add_argument("--latency", type=int, default=100,
                        help="single-sentence calls per round for the latency columns (default: 100)")
    parser.add_argument("--ads", type=int, help="use only the first N ads of the shipped set")
    parser.add_argument("--threads", type=int,
                        help="run every pipeline on N threads (default: each pipeline's own setting, all cores); "
                             "1 gives steadier ratios on a machine shared with other jobs")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default: {RESULTS.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.configs is None:
        args.configs = [c.key for c in CONFIGS
                        if not c.optional and not (args.threads and c.key == "default-1-thread")]
    ads = load_ads(limit=args.ads)
    from contextmatch.text import clean_text, split_sentences

    n_sentences = sum(len(split_sentences(clean_text(ad))) for ad in ads)
    print(f"timing {len(args.configs)} pipelines on {len(ads)} ads ({n_sentences} sentences), "
          f"{args.rounds} rounds", file=sys.stderr)
    load_before = _load_average()
    rows = run(args.configs, ads, args.rounds, args.latency, args.threads)
    command = "python benchmarks/throughput.py " + " ".join(argv if argv is not None else sys.argv[1:])
    result = {
        "benchmark": "throughput", "date": datetime.date.today().isoformat(), "command": command.strip(),
        "machine": machine(), "n_ads": len(ads), "n_sentences": n_sentences, "rounds": args.rounds,
        "latency_sentences": args.latency, "top_k": 5, "threads": args.threads or "each pipeline's own",
        "load_average": [load_before, _load_average()],
        "method": "end to end (clean, split, encode, score all ESCO skills, top 5 with evidence); sentences/s of "
                  "the best round; latency: one sentence per call, best of the rounds per sentence, then p50/p95; "
                  "peak: the worker process's peak resident memory",
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(format_rows(rows))
    print(f"\nwritten to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
