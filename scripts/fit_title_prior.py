"""Fit (or refit) the occupation prior of a title-model folder from a labelled titles file, as ``train-titles
--pairs`` does at the end of training (``contextmatch.training.title_prior.fit_prior``): counts from the file's
``train`` side, weight and scale chosen on its ``select`` side within the held-out-ESCO budget.

    python scripts/fit_title_prior.py runs/title-pairs-s13                 # the JobBERT titles, seed 13's split
    python scripts/fit_title_prior.py MODEL --pairs board.csv --dry-run    # print the choice, write nothing
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from contextmatch.esco import load_esco
from contextmatch.evaluation.title_benchmarks import JOBBERT_TITLES, benchmark_titles
from contextmatch.training.title_prior import fit_prior
from contextmatch.training.title_data import build_title_data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="title-model folder")
    parser.add_argument("--pairs", default=str(JOBBERT_TITLES), help="labelled titles CSV (default: JobBERT titles)")
    parser.add_argument("--title-column", default="vacancyTitle")
    parser.add_argument("--uri-column", default="conceptUri")
    parser.add_argument("--seed", type=int, default=13, help="seed of the model's ESCO validation split")
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = build_title_data(load_esco(), benchmark_titles(JOBBERT_TITLES), val_fraction=0.05, seed=args.seed)
    fitted = fit_prior(args.model, args.pairs, data, args.title_column, args.uri_column, write=not args.dry_run)
    print(json.dumps({k: fitted[k] for k in ("weight", "scale")} | {"source": fitted["source"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
