"""Average the weights of trained ConTeXT-match models that share a base (a uniform "model soup").

    python scripts/average_models.py runs/soup contextmatch/models/contextmatch-default runs/cpu-seed1/best
    python scripts/compare_training_runs.py contextmatch/models/contextmatch-default runs/cpu-seed1/best runs/soup \\
        --out results/training/comparisons/soup.json

Every tensor of the output is the float32 mean of that tensor in the inputs (which must have the same names and
shapes: runs of one recipe from one base). The output folder is a copy of the last input with the averaged
``model.safetensors``, so its config and tokenizer are that model's. Ranking only: a soup has no gate or decision
layer of its own until ``scripts/train_gate.py`` and ``scripts/tune_selection.py`` are run on it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file


def average(states: list[dict]) -> dict:
    """The float32 mean of each tensor over ``states``.

    >>> import torch
    >>> average([{"w": torch.tensor([1.0, 2.0])}, {"w": torch.tensor([3.0, 4.0], dtype=torch.float16)}])["w"]
    tensor([2., 3.])
    """
    names = set(states[0])
    for state in states[1:]:
        if set(state) != names or any(state[k].shape != states[0][k].shape for k in names):
            raise ValueError("the models do not have the same tensors: average only runs of one base")
    return {k: (sum(state[k].float() for state in states) / len(states)).contiguous() for k in sorted(names)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="output model folder (replaced if it exists)")
    parser.add_argument("models", nargs="+", type=Path, help="model folders holding model.safetensors")
    args = parser.parse_args(argv)
    if len(args.models) < 2:
        parser.error("give at least two models to average")
    missing = [str(m) for m in args.models if not (m / "model.safetensors").is_file()]
    if missing:
        parser.error(f"no model.safetensors in {', '.join(missing)}")
    averaged = average([load_file(str(m / "model.safetensors")) for m in args.models])
    if args.out.exists():
        shutil.rmtree(args.out)
    shutil.copytree(args.models[-1], args.out)
    save_file(averaged, str(args.out / "model.safetensors"))
    print(f"wrote {args.out} (the mean of {len(args.models)} models, {len(averaged)} tensors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
