"""Check that a training run reproduced a shipped model, and record the check.

    python scripts/check_reproduction.py runs/cpu-repro              # against contextmatch/models/contextmatch-default
    python scripts/check_reproduction.py RUN --shipped FOLDER --data training_data/v1
    python scripts/check_reproduction.py runs/cpu-v3/seed-1 --shipped runs/cpu-seed1/best   # against another run

Compares (1) every weight of ``RUN/best/model.safetensors``, cast to the shipped model's dtype, with the shipped
weights (``torch.equal``, tensor by tensor); (2) the validation RP@5 at every step of ``RUN/history.json`` with the
shipped ``history.json``; (3) the MD5 of the training data's uncompressed lines with the ``content_md5`` recorded in
its ``stats.json`` when it was built. Writes ``results/training/reproduction/<run>.json``; exits 1 when anything
differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from contextmatch.models import SHIPPED_MODEL_DIR  # noqa: E402
from contextmatch.training.skill_data import content_md5  # noqa: E402


def compare_weights(run_file: Path, shipped_file: Path) -> dict:
    """Tensors equal after casting the run's weights to the shipped dtypes; names that differ or are missing, and how
    many values differ and by how much at most."""
    import torch
    from safetensors.torch import load_file

    run, shipped = load_file(run_file), load_file(shipped_file)
    common = sorted(set(run) & set(shipped))
    cast = {name: run[name].to(shipped[name].dtype) for name in common}
    different = [name for name in common if not torch.equal(cast[name], shipped[name])]
    return {"tensors": len(shipped), "equal": len(common) - len(different), "different": different,
            "values": sum(shipped[name].numel() for name in common),
            "values_different": sum(int((cast[name] != shipped[name]).sum()) for name in different),
            "max_abs_difference": max([float((cast[name].float() - shipped[name].float()).abs().max())
                                       for name in different], default=0.0),
            "only_in_run": sorted(set(run) - set(shipped)), "only_in_shipped": sorted(set(shipped) - set(run))}


def validation_by_step(history_file: Path) -> dict[str, dict]:
    """Validation RP@5 per step of a run's ``history.json`` (a list of ``{"step", "rp@5", ...}``; a soup's entries
    also name their ``seed``, the soup's own one ``"soup"``), keyed ``"step"`` or ``"seed:step"``."""
    return {(f"{entry['seed']}:" if "seed" in entry else "") + str(entry["step"]): entry["rp@5"]
            for entry in json.loads(history_file.read_text(encoding="utf-8"))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a `contextmatch train` output folder (with best/ and history.json)")
    parser.add_argument("--shipped", type=Path, default=SHIPPED_MODEL_DIR, help="the shipped model folder")
    parser.add_argument("--data", type=Path, default=REPO / "training_data" / "v1",
                        help="training data folder (train.jsonl.gz and stats.json)")
    parser.add_argument("--out", type=Path, default=None,
                        help="results file (default: results/training/reproduction/<run>.json)")
    args = parser.parse_args(argv)

    weights = compare_weights(args.run / "best" / "model.safetensors", args.shipped / "model.safetensors")
    run_steps = validation_by_step(args.run / "history.json")
    history = args.shipped / "history.json"  # a shipped folder holds its run's history; a run's best/ does not
    shipped_steps = validation_by_step(history if history.exists() else args.shipped.parent / "history.json")
    steps_differing = sorted(step for step in set(run_steps) | set(shipped_steps)
                             if run_steps.get(step) != shipped_steps.get(step))
    stats = json.loads((args.data / "stats.json").read_text(encoding="utf-8"))
    data_file = args.data / "train.jsonl.gz"
    actual_md5 = content_md5(data_file) if data_file.exists() else None
    result = {
        "run": str(args.run), "shipped": str(args.shipped.relative_to(REPO) if args.shipped.is_relative_to(REPO)
                                             else args.shipped),
        "weights": weights, "weights_identical": not (weights["different"] or weights["only_in_run"]
                                                      or weights["only_in_shipped"]),
        "validation_steps": sorted(shipped_steps), "validation_steps_differing": steps_differing,
        "training_data": {"recorded_md5": stats.get("content_md5"), "file_md5": actual_md5},
        "training_data_identical": actual_md5 is not None and actual_md5 == stats.get("content_md5"),
        "command": "python scripts/check_reproduction.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    out = args.out or REPO / "results" / "training" / "reproduction" / f"{args.run.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"weights: {weights['equal']} of {weights['tensors']} tensors equal; {weights['values_different']:,} of "
          f"{weights['values']:,} values differ, by at most {weights['max_abs_difference']:.3g}"
          f"{'' if result['weights_identical'] else ' (DIFFERENT: ' + ', '.join(weights['different'][:5]) + ')'}")
    print(f"validation: {len(shipped_steps) - len(steps_differing)} of {len(shipped_steps)} steps equal"
          + (f" (differ at {steps_differing})" if steps_differing else ""))
    print(f"training data: content MD5 {actual_md5} "
          f"{'equals' if result['training_data_identical'] else 'does NOT equal'} the recorded "
          f"{stats.get('content_md5')}")
    print(f"wrote {out}")
    ok = result["weights_identical"] and not steps_differing and result["training_data_identical"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
