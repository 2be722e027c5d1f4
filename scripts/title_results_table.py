"""Render the job-title normalization results (``results/titles/*.json``) as the table in results/titles/README.md.

    python scripts/title_results_table.py            # rewrite the table between the markers of the README
    python scripts/title_results_table.py --print    # print the table only
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "results" / "titles"
START, END = "<!-- results-table:start -->", "<!-- results-table:end -->"
ORDER = ("bm25", "mean-pooled cosine", "title model")


def _rank(result: dict) -> tuple:
    system = result["system"].lower()
    kind = next((i for i, prefix in enumerate(ORDER) if system.startswith(prefix)), len(ORDER))
    return result["benchmark"], result["split"], kind, system


def table(results_dir: Path = RESULTS) -> str:
    """A Markdown table with one row per results file."""
    results = sorted((json.loads(p.read_text(encoding="utf-8")) for p in sorted(results_dir.glob("*.json"))),
                     key=_rank)
    lines = ["| system | benchmark (split) | MRR | Acc@1 | Acc@5 | Acc@10 | queries | dropped | command |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        command = f"`{r['command']}`" if r.get("command") else ""
        lines.append(f"| {r['system']} | {r['benchmark']} ({r['split']}) | {r['mrr']:.3f} | {r['acc@1']:.2f} | "
                     f"{r['acc@5']:.2f} | {r['acc@10']:.2f} | {r['n_queries']:,} | {r['n_dropped']:,} | {command} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--print", action="store_true", help="print the table instead of updating the README")
    args = parser.parse_args(argv)
    rendered = table(args.results_dir)
    if args.print:
        print(rendered)
        return 0
    readme = args.results_dir / "README.md"
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        print(f"{readme} has no {START} ... {END} markers", file=sys.stderr)
        return 1
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{rendered}\n{END}{tail}", encoding="utf-8")
    print(f"updated {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
