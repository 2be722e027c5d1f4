"""Average the weights of trained ConTeXT-match models that share a base (a uniform "model soup").

    python scripts/average_models.py runs/soup runs/cpu-seed0/best runs/cpu-seed1/best
    python scripts/compare_training_runs.py contextmatch/models/contextmatch-default runs/soup \\
        --out results/training/comparisons/soup.json

Every tensor of the output is the float32 mean of that tensor in the inputs (which must have the same names and
shapes: runs of one recipe from one base). The output folder is a copy of the last input with the averaged
``model.safetensors``. ``contextmatch train --soup N`` trains the seeds and averages them in one command
(:mod:`contextmatch.training.soup`); this script averages runs that already exist. Ranking only: a soup has no gate
or decision layer of its own until ``scripts/train_gate.py`` and ``scripts/tune_selection.py`` are run on it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contextmatch.training.soup import average_models  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="output model folder (replaced if it exists)")
    parser.add_argument("models", nargs="+", type=Path, help="model folders holding model.safetensors")
    args = parser.parse_args(argv)
    if len(args.models) < 2:
        parser.error("give at least two models to average")
    try:
        average_models(args.out, args.models, note=f"uniform average of {len(args.models)} models: "
                                                     + ", ".join(str(m) for m in args.models))
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    print(f"wrote {args.out} (the mean of {len(args.models)} models)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
