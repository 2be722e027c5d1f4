"""Render the README's speed tables from ``results/speed/`` (between ``<!-- speed:start -->`` and
``<!-- speed:end -->``) and print them.

    python benchmarks/render.py              # update README.md and print the section
    python benchmarks/render.py --no-write   # print only
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from contextmatch.results_tables import cell

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "results" / "speed"
README = ROOT / "README.md"
START, END = "<!-- speed:start -->", "<!-- speed:end -->"


def _machine(result: dict) -> str:
    m = result["machine"]
    ort = f", ONNX Runtime {m['onnxruntime']}" if m.get("onnxruntime") else ""
    return f"{m['cpu']}, {m['cores']} cores (torch {m['torch']}{ort})"


def _count(n, word: str) -> str:
    """
    >>> _count(1, "thread"), _count(2, "thread")
    ('1 thread', '2 threads')
    """
    return f"{n} {word}" + ("" if n == 1 else "s")


def _make_command(result: dict) -> str:
    threads = result.get("threads")
    return f"make bench BENCH_THREADS={threads}" if isinstance(threads, int) else "make bench"


def _threads(result: dict) -> str:
    threads = result.get("threads")
    text = f"{_count(threads, 'thread')} per pipeline" if isinstance(threads, int) \
        else "threads: each pipeline's own setting (all cores)"
    load = result.get("load_average")
    if load and None not in load:
        text += f"; load average {load[0]} → {load[1]} (other jobs shared the machine)" \
            if max(load) > result["machine"]["cores"] else f"; load average {load[0]} → {load[1]}"
    return text


def throughput_table(result: dict) -> str:
    """Markdown: one row per pipeline, ratios to the baseline of the same run."""
    lines = [
        f"End to end on {result['n_sentences']} job-ad sentences ({result['n_ads']} ads, `benchmarks/data/`): "
        f"clean, split, encode, score all 13,891 ESCO skills, top {result['top_k']} with evidence. Machine: "
        f"{_machine(result)}; {result['date']}; best of {result['rounds']} rounds; {_threads(result)}. "
        f"Command: `{result['command']}`" + ("" if "--configs" in result["command"] else
                                              f" (in `{_make_command(result)}`)") + ".",
        "",
        "| pipeline | sentences/s | × baseline | latency p50 / p95 (ms, 1 sentence) | peak memory (MB) |",
        "|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        ratio = f"{r['vs_baseline']:.2f}" if r.get("vs_baseline") is not None else "–"
        name = f"**{r['name']}**" if r["key"] in ("baseline", "default") else r["name"]
        lines.append(f"| {name} | {r['sentences_per_s']:.1f} | {ratio} | {r['p50_ms']:.1f} / {r['p95_ms']:.1f} | "
                     f"{r['peak_rss_mb']} |")
    return "\n".join(lines)


def _variant_order(variant: str) -> tuple:
    """torch before ONNX Runtime; fp32, then int8, then bf16.

    >>> sorted(["ONNX Runtime int8", "torch bf16", "torch fp32", "torch int8"], key=_variant_order)
    ['torch fp32', 'torch int8', 'torch bf16', 'ONNX Runtime int8']
    """
    backend, _, precision = variant.rpartition(" ")
    return backend != "torch", ["fp32", "int8", "bf16"].index(precision) if precision in ("fp32", "int8", "bf16") \
        else 3, variant


def accuracy_table(records: list[dict]) -> str:
    """Markdown: RP@5 / RP@10 / MRR per variant and benchmark, with the RP@5 change from torch fp32."""
    benchmarks = sorted({(r["benchmark"], r["split"]) for r in records}, key=lambda b: b[0] != "tech")
    variants = sorted(dict.fromkeys(r["variant"] for r in records), key=_variant_order)
    by_key = {(r["variant"], r["benchmark"], r["split"]): r for r in records}
    header = " | ".join(f"{b.upper()} {s} RP@5 / RP@10 / MRR (ΔRP@5)" for b, s in benchmarks)
    lines = [f"| encoder | {header} |", "|---" * (len(benchmarks) + 1) + "|"]
    for variant in variants:
        cells = []
        for bench, split in benchmarks:
            r, ref = by_key.get((variant, bench, split)), by_key.get(("torch fp32", bench, split))
            if r is None:
                cells.append("–")
                continue
            delta = f" ({r['rp@5'] - ref['rp@5']:+.2f})" if ref else ""
            cells.append(cell(r) + delta)
        lines.append(f"| {variant} | {' | '.join(cells)} |")
    return "\n".join(lines)


def large_labels_table(result: dict) -> str:
    """Markdown: recall of the exact top 10 and scoring time per method."""
    lines = [
        f"{result['n_labels']:,} labels (13,891 ESCO + {result['n_synthetic']:,} synthetic), {result['n_sentences']} "
        f"sentences, top 10, scoring only (encoding excluded), best of {result['rounds']} rounds, "
        f"{_count(result.get('threads'), 'thread')}; `{result['command']}`.",
        "",
        "| method | M | recall of exact top 10 | ms / sentence | speed-up | index build (s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        build = f"{r['index_build_s']:.1f}" if r.get("index_build_s") is not None else "–"
        lines.append(f"| {r['method']} | {r['candidates'] or 'all'} | {r['recall_at_10']:.4f} | "
                     f"{r['ms_per_sentence']:.2f} | {r['speedup']:.1f}× | {build} |")
    return "\n".join(lines)


def speed_markdown(results_dir: Path = RESULTS_DIR) -> str:
    """The generated part of the README's Speed section, from whichever results files exist."""
    parts = []
    for throughput in [results_dir / "throughput.json", *sorted(results_dir.glob("throughput-*.json"))]:
        if not throughput.exists():
            continue
        parts.append(throughput_table(json.loads(throughput.read_text())))
    records = [json.loads(p.read_text()) for p in sorted((results_dir / "accuracy").glob("*.json"))]
    if records:
        parts.append("Accuracy of each encoder (`python benchmarks/accuracy.py`; same protocol as `contextmatch "
                     "evaluate`, files in `results/speed/accuracy/`):\n\n" + accuracy_table(records))
    large = results_dir / "large_labels.json"
    if large.exists():
        parts.append("Large label spaces (`benchmarks/large_labels.py`):\n\n"
                     + large_labels_table(json.loads(large.read_text())))
    return "\n\n".join(parts) or "No speed results yet: run `make bench`."


def replace_between_markers(text: str, block: str) -> str:
    """``text`` with everything between the speed markers replaced by ``block``.

    >>> replace_between_markers("a\\n<!-- speed:start -->\\nold\\n<!-- speed:end -->\\nb", "new")
    'a\\n<!-- speed:start -->\\nnew\\n<!-- speed:end -->\\nb'
    """
    if START not in text or END not in text:
        raise ValueError(f"the markers {START} and {END} are missing")
    head, rest = text.split(START, 1)
    return f"{head}{START}\n{block}\n{END}{rest.split(END, 1)[1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--no-write", action="store_true", help="print the section without updating the README")
    args = parser.parse_args(argv)
    block = speed_markdown(args.results_dir)
    if not args.no_write:
        args.readme.write_text(replace_between_markers(args.readme.read_text(encoding="utf-8"), block),
                               encoding="utf-8")
    print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
