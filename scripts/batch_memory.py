"""Stream N synthetic sentences through ``contextmatch batch`` and record the process memory as it goes.

    python scripts/batch_memory.py                 # 1,000,000 sentences (100,000 ads of 10); hours on a CPU
    python scripts/batch_memory.py --n 2000 --out /tmp/batch_memory.json   # a quick check

Writes results/speed/batch_memory.json: resident memory (RSS) and its peak after every chunk, and the growth from the
first chunk to the last. The input is a JSONL file written to a temporary folder, read back in chunks by the same
``run_batch`` the CLI runs; a flat RSS curve shows that nothing accumulates with the corpus size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PHRASES = [
    "Experience with {} is required", "You have worked with {} for {} years", "Knowledge of {} is a plus",
    "You will use {} every day", "We expect a good command of {}", "Training in {} is provided",
]
TOPICS = ["PostgreSQL", "Python", "German", "English", "project management", "Excel", "Docker", "customer service",
          "accounting", "welding", "forklift driving", "SAP", "nursing care", "sales", "Java", "data analysis"]


def memory_mb() -> tuple[float, float]:
    """Current and peak resident memory of this process in MiB (peak only where /proc is missing)."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
    except (OSError, KeyError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return peak, peak


def write_corpus(path: Path, n: int, per_ad: int, seed: int = 0) -> int:
    """A JSONL corpus of ``n`` sentences, ``per_ad`` to an ad, one sentence a line; the number of ads."""
    rng = random.Random(seed)
    ads = 0
    with path.open("w", encoding="utf-8") as handle:
        while n > 0:
            count = min(per_ad, n)
            lines = [rng.choice(PHRASES).format(rng.choice(TOPICS), rng.randint(1, 9)) + "." for _ in range(count)]
            handle.write(json.dumps({"id": f"ad{ads}", "text": "\n".join(lines)}) + "\n")
            n -= count
            ads += 1
    return ads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="sentences to stream (default: 1,000,000)")
    parser.add_argument("--sentences-per-ad", type=int, default=10)
    parser.add_argument("--chunk-size", type=int, default=1000, help="ads per shard (default: 1000)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model", help="model to run (default: the shipped default model)")
    parser.add_argument("--device", help="torch device (default: cuda when available)")
    parser.add_argument("--workdir", help="folder for the corpus and the shards (default: a temporary one)")
    parser.add_argument("--out", default=str(ROOT / "results" / "speed" / "batch_memory.json"))
    args = parser.parse_args()

    import torch

    from contextmatch.corpus.batch import run_batch

    with tempfile.TemporaryDirectory(dir=args.workdir) as work:
        corpus = Path(work) / "corpus.jsonl"
        ads = write_corpus(corpus, args.n, args.sentences_per_ad)
        samples, start = [], time.monotonic()
        done = {"ads": 0, "sentences": 0}

        def on_chunk(index: int, records: int, table) -> None:
            done["ads"] += records
            done["sentences"] += table["error"].null_count  # one row per sentence; a bad record's row has an error
            rss, peak = memory_mb()
            samples.append({"chunk": index, "ads": done["ads"], "sentences": done["sentences"],
                            "seconds": round(time.monotonic() - start, 1), "rss_mb": round(rss, 1),
                            "peak_rss_mb": round(peak, 1)})
            print(f"chunk {index}: {done['sentences']:,} sentences, RSS {rss:.0f} MiB (peak {peak:.0f})",
                  file=sys.stderr, flush=True)

        manifest = run_batch(str(corpus), str(Path(work) / "out"), model=args.model, chunk_size=args.chunk_size,
                             batch_size=args.batch_size, device=args.device, progress=False, on_chunk=on_chunk)
    seconds = time.monotonic() - start
    first, warm, last = samples[0], samples[len(samples) // 10], samples[-1]  # warm: a tenth of the way in
    result = {
        "command": "python scripts/batch_memory.py " + " ".join(sys.argv[1:]),
        "sentences": manifest["counts"]["sentences"], "ads": ads, "chunk_size": args.chunk_size,
        "batch_size": args.batch_size, "model": args.model or "contextmatch-default",
        "device": args.device or ("cuda" if torch.cuda.is_available() else "cpu"),
        "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(), "platform": platform.platform(),
        "seconds": round(seconds, 1), "sentences_per_second": round(manifest["counts"]["sentences"] / seconds, 1),
        "rss_after_first_chunk_mb": first["rss_mb"], "rss_at_end_mb": last["rss_mb"],
        "rss_growth_mb": round(last["rss_mb"] - first["rss_mb"], 1),
        "rss_growth_after_first_tenth_mb": round(last["rss_mb"] - warm["rss_mb"], 1), "peak_rss_mb": last["peak_rss_mb"],
        "samples": samples,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"{result['sentences']:,} sentences in {seconds:.0f} s; RSS {first['rss_mb']:.0f} -> {last['rss_mb']:.0f} MiB "
          f"(peak {last['peak_rss_mb']:.0f}); wrote {out}")


if __name__ == "__main__":
    main()
