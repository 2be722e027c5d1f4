"""Ablation runs of ConTeXT-match training: which data source and which loss term give how much, on validation.

Every run starts from the CPU recipe's settings with every data source (the reference run ``all``) and changes
one thing; results (the
validation history and the best mean RP@5 on TECH and HOUSE validation) go to ``results/ablation/<run>.json``,
and ``--table`` renders them into ``results/ablation/README.md``.

    python scripts/ablation.py --list
    python scripts/ablation.py all minus-template --device cuda     # train the named runs
    python scripts/ablation.py --table
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

from contextmatch.training.skills import RECIPES, TrainConfig, train

SOURCES = ("esco-alt", "esco-description", "template", "skillskape", "skillspan")
RUNS = {
    "all": ("CPU recipe settings, every source (the reference row)", {}),
    **{f"minus-{s}": (f"without the {s} pairs", {"sources": [x for x in SOURCES if x != s]}) for s in SOURCES},
    "skill-skill": ("plus the skill-skill term (weight 1)", {"skill_weight": 1.0}),
    "no-special-tokens": ("CLS and SEP left out of the attention", {"attend_special_tokens": False}),
    "no-special-skill-skill": ("both changes above", {"attend_special_tokens": False, "skill_weight": 1.0}),
    "long-bs64": ("batch 64, 3 epochs (6,201 steps)", {"max_steps": None, "epochs": 3.0, "eval_every": 500}),
    "long-bs256": ("batch 256, lr 1e-4, 3 epochs (1,550 steps)",
                   {"max_steps": None, "epochs": 3.0, "batch_size": 256, "lr": 1e-4, "eval_every": 150}),
    "long-bs256-combo": ("batch 256, lr 1e-4, 3 epochs, no special tokens, skill-skill term",
                         {"max_steps": None, "epochs": 3.0, "batch_size": 256, "lr": 1e-4, "eval_every": 150,
                          "attend_special_tokens": False, "skill_weight": 1.0}),
}
RESULTS = Path("results/ablation")


def run_id(name: str, seed: int) -> str:
    return name if seed == 0 else f"{name}-seed{seed}"


def run_config(name: str, data: str, runs_dir: Path, device: str | None, threads: int | None,
               base: str | None = None, seed: int = 0) -> TrainConfig:
    settings = {**RECIPES["cpu"], "sources": None, **RUNS[name][1], **({"base": base} if base else {})}
    return TrainConfig(data=data, out=str(runs_dir / run_id(name, seed)), device=device, threads=threads, seed=seed,
                       **settings)


def run(name: str, data: str, runs_dir: Path, results: Path, device: str | None, threads: int | None,
        base: str | None = None, seed: int = 0) -> dict:
    config = run_config(name, data, runs_dir, device, threads, base, seed)
    state = train(config, resume=(Path(config.out) / "checkpoint.pt").exists())
    import torch

    record = {"run": name, "seed": seed, "change": RUNS[name][0], "overrides": RUNS[name][1], "steps": state["step"],
              "best": state["best"], "history": state["history"], "seconds": round(state["seconds"]),
              "device": torch.cuda.get_device_name() if torch.cuda.is_available() and device != "cpu"
              else f"CPU ({platform.machine()})",
              "command": f"python scripts/ablation.py {name}" + (f" --seed {seed}" if seed else "")
              + (f" --device {device}" if device else "")}
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{run_id(name, seed)}.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def table(results: Path) -> str:
    """Markdown table of the results files, one row per run (seeds averaged), with differences to ``all``."""
    by_run: dict[str, list[dict]] = {}
    for path in sorted(results.glob("*.json")):
        record = json.loads(path.read_text())
        by_run.setdefault(record["run"], []).append(record)
    reference = _mean([r["best"]["mean"] for r in by_run.get("all", [])])
    lines = ["| run | change | steps | seeds | TECH val RP@5 | HOUSE val RP@5 | mean (per seed) | vs. all | device |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in [n for n in RUNS if n in by_run]:
        records = sorted(by_run[name], key=lambda r: r.get("seed", 0))
        means = [r["best"]["mean"] for r in records]
        tech = _mean([r["best"]["rp@5"]["tech"] for r in records])
        house = _mean([r["best"]["rp@5"]["house"] for r in records])
        delta = f"{_mean(means) - reference:+.2f}" if reference is not None and name != "all" else ""
        per_seed = f" ({', '.join(f'{m:.2f}' for m in means)})" if len(means) > 1 else ""
        lines.append(f"| {name} | {RUNS[name][0]} | {records[0]['steps']} | {len(records)} | {tech:.2f} | "
                     f"{house:.2f} | {_mean(means):.2f}{per_seed} | {delta} | {records[0]['device']} |")
    return "\n".join(lines)


def _mean(values: list[float]) -> float | None:
    """
    >>> _mean([1.0, 2.0]), _mean([])
    (1.5, None)
    """
    return sum(values) / len(values) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", help=f"runs to train: {', '.join(RUNS)}")
    parser.add_argument("--list", action="store_true", help="list the runs and what each changes")
    parser.add_argument("--table", action="store_true", help=f"write {RESULTS}/README.md from the results files")
    parser.add_argument("--data", default="training_data/v1", help="folder from build-training-data")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/ablation"), help="run folders (checkpoints)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the results files")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0, help="training seed (batch order, dropout); default 0")
    parser.add_argument("--base", help="a local copy of the recipe's base encoder (default: the installed one)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.runs if n not in RUNS]
    if unknown:
        parser.error(f"unknown runs {unknown}: see --list")
    if args.list:
        for name, (change, overrides) in RUNS.items():
            print(f"{name:24} {change}  {overrides or ''}")
    for name in args.runs:
        record = run(name, args.data, args.runs_dir, args.results, args.device, args.threads, args.base, args.seed)
        print(f"{name}: best mean validation RP@5 {record['best']['mean']} at step {record['best']['step']}",
              file=sys.stderr)
    if args.table:
        body = table(args.results)
        (args.results / "README.md").write_text(
            "# Ablations of ConTeXT-match training\n\nBest RP@5 on TECH and HOUSE validation (and their mean) of runs "
            "that each change one thing in the reference run `all`: the CPU recipe's settings (all-MiniLM-L6-v2, "
            "batch 64, 900 steps, lr 5e-5, scale 20, validation every 150 steps) on every data source. Rows with "
            "several seeds show the mean over seeds. Written by `python scripts/ablation.py --table` from the "
            "results files beside this one; each file holds the command that reproduces it.\n\n" + body + "\n")
        print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
