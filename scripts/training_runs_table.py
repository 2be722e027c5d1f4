"""Keep the validation history of CPU training runs in results/training/ and render their comparison table.

    python scripts/training_runs_table.py runs/cpu-v2 runs/cpu-mpnet-v2 runs/cpu-hn10

Each run folder's ``train_config.json`` and ``history.json`` (written by ``contextmatch train``) are copied to
``results/training/<run>.json``; the table in ``results/training/README.md`` is rebuilt from every file there, so
runs recorded earlier stay in it. Validation only: TECH and HOUSE validation RP@5, the splits used for selection.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results" / "training"
START, END = "<!-- runs:start -->", "<!-- runs:end -->"


def record(run: Path) -> dict:
    """The run's settings, validation history and best step, as stored in results/training/."""
    config = json.loads((run / "train_config.json").read_text())
    history = json.loads((run / "history.json").read_text())
    soups = [h for h in history if h.get("seed") == "soup"]  # a soup's model is the average, not its best seed
    best = soups[-1] if soups else max(history, key=lambda h: h["mean"])
    return {"run": run.name, "config": config, "history": history, "best": best}


def other_options(config: dict) -> str:
    """The run's settings that have no column of their own, as ``contextmatch train`` options.

    >>> other_options({"repeat": {"skillspan": 5}, "train_labels": 3, "label_mix": 0.4}), other_options({})
    ('--repeat skillspan=5 --train-labels 3 --label-mix 0.4', '')
    >>> other_options({"scale": 12.0}), other_options({"scale": 20.0, "lexical_scope": "other-branch"})
    ('--scale 12', '--lexical-scope other-branch')
    >>> other_options({"precision": "bf16"}), other_options({"precision": "fp32"})
    ('--precision bf16', '')
    """
    options = [f"--repeat {' '.join(f'{s}={n}' for s, n in config['repeat'].items())}"] if config.get("repeat") else []
    if config.get("scale", 20.0) != 20.0:
        options.append(f"--scale {config['scale']:g}")
    if config.get("lexical_scope", "any") != "any":
        options.append(f"--lexical-scope {config['lexical_scope']}")
    if config.get("precision", "fp32") != "fp32":
        options.append(f"--precision {config['precision']}")
    if config.get("train_labels"):
        options.append(f"--train-labels {config['train_labels']} --label-mix {config.get('label_mix', 0.4)}")
    return " ".join(options)


def row(entry: dict) -> str:
    """One table row: what the run changed and its best validation RP@5.

    >>> row({"run": "r", "config": {"base": "b", "lr": 1e-4, "max_steps": 9, "batch_size": 64},
    ...      "best": {"step": 3, "rp@5": {"tech": 70.0, "house": 60.0}, "mean": 65.0},
    ...      "history": [{"step": 3, "mean": 65.0, "seconds": 60}]})
    '| r | b | all | 0 | 0 | 0 |  | 0.0001 | 64 | 3 of 9 | 70.00 | 60.00 | **65.00** | 3: 65.00 | 1.0 |'
    >>> row({"run": "s", "config": {"base": "b", "lr": 1e-4, "max_steps": 9, "stop_at": 6, "batch_size": 64},
    ...      "best": {"seed": "soup", "step": 6, "rp@5": {"tech": 71.0, "house": 61.0}, "mean": 66.0},
    ...      "history": [{"seed": 0, "step": 3, "mean": 65.0, "seconds": 60}, {"seed": 1, "step": 6, "mean": 64.0,
    ...                  "seconds": 60}, {"seed": "soup", "step": 6, "mean": 66.0, "seconds": 120}]}).split(" | ")[9:]
    ["soup of 2 seeds' best of 9 (stopped at 6)", '71.00', '61.00', '**66.00**', 'seed 0: 65.00 (3), seed 1: 64.00 (6)', '2.0 |']
    """
    config, best = entry["config"], entry["best"]
    steps = config.get("max_steps") or "epochs " + str(config.get("epochs"))
    if config.get("stop_at"):
        steps = f"{steps} (stopped at {config['stop_at']})"
    if best.get("seed") == "soup":
        seeds = sorted({h["seed"] for h in entry["history"] if h["seed"] != "soup"})
        per_seed = [max((h for h in entry["history"] if h["seed"] == s), key=lambda h: h["mean"]) for s in seeds]
        curve = ", ".join(f"seed {h['seed']}: {h['mean']:.2f} ({h['step']})" for h in per_seed)
        best = {**best, "step": f"soup of {len(seeds)} seeds' best"}
    else:
        curve = ", ".join(f"{h['step']}: {h['mean']:.2f}" for h in entry["history"])
    return (f"| {entry['run']} | {config['base']} | {config.get('train_layers') or 'all'} | "
            f"{config.get('hard_negatives', 0)} | {config.get('lexical_negatives', 0)} | "
            f"{config.get('alt_label_rate', 0)} | {other_options(config)} | {config['lr']} | "
            f"{config['batch_size']} | {best['step']} of "
            f"{steps} | {best['rp@5']['tech']:.2f} | {best['rp@5']['house']:.2f} | **{best['mean']:.2f}** | {curve} | "
            f"{entry['history'][-1]['seconds'] / 60:.1f} |")


def table(entries: list[dict]) -> str:
    header = ("| run | base | trained layers | hard negatives (k) | lexical negatives (k) | alt-label rate | "
              "other options | lr | batch | "
              "best step | TECH val RP@5 | HOUSE val RP@5 | mean | mean at each validation | minutes |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    return "\n".join([header] + [row(e) for e in entries])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", type=Path, help="run folders to record (none: only re-render)")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    for run in args.runs:
        (OUT / f"{run.name}.json").write_text(json.dumps(record(run), indent=2) + "\n")
    entries = [json.loads(p.read_text()) for p in sorted(OUT.glob("*.json"))]
    readme = OUT / "README.md"
    text = readme.read_text() if readme.exists() else f"# CPU training runs\n\n{START}\n{END}\n"
    head, rest = text.split(START)
    readme.write_text(f"{head}{START}\n{table(entries)}\n{END}{rest.split(END)[1]}")
    print(table(entries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
