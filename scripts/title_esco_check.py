"""Titles unlike the job board's: MRR on ESCO's own held-out alternative labels, per title model and scoring.

The held-out labels are the validation split of ``contextmatch train-titles`` (5% of the alternative labels, seed
13, never trained on by any of the models); each is ranked against all 3,008 occupations through the remaining
labels, scored the way :class:`~contextmatch.titles.normalizer.TitleNormalizer` scores (best label + centroid, plus the
occupation prior where the model has one). A model trained on a board's labelled titles should lose at most a point
here against the ESCO-only model (issue #17).

    python scripts/title_esco_check.py MODEL_DIR [MODEL_DIR ...]   # -> results/titles/analysis/esco_heldout.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from contextmatch.esco import load_esco
from contextmatch.evaluation.titles import REPO_DIR, rank_metrics
from contextmatch.evaluation.title_benchmarks import JOBBERT_TITLES, benchmark_titles
from contextmatch.titles.prior import log_counts, read_prior
from contextmatch.training.title_prior import esco_heldout_scores
from contextmatch.training.title_data import build_title_data
from contextmatch.titles.model import TitleModel
from contextmatch.titles.normalizer import CENTROID_WEIGHT

OUT = REPO_DIR / "results" / "titles" / "analysis" / "esco_heldout.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", help="title-model folders")
    parser.add_argument("--seed", type=int, default=13, help="seed of the validation split (the training runs')")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    esco = load_esco()
    data = build_title_data(esco, benchmark_titles(JOBBERT_TITLES), val_fraction=0.05, seed=args.seed)
    gold = torch.tensor(data.val_owners)
    uris = [o.uri for o in esco.occupations]
    rows = []
    for folder in args.models:
        model = TitleModel.from_pretrained(folder)
        scores = esco_heldout_scores(model, data, CENTROID_WEIGHT)
        name = str(Path(folder).resolve().relative_to(REPO_DIR)) if Path(folder).resolve().is_relative_to(REPO_DIR) \
            else folder
        rows.append({"model": name, "prior_weight": 0.0, **rank_metrics(scores, gold)})
        prior = read_prior(folder)
        if prior and prior["weight"]:
            with_prior = scores + prior["weight"] * log_counts(prior["counts"], uris, prior.get("scale", 1.0))
            rows.append({"model": name, "prior_weight": prior["weight"], **rank_metrics(with_prior, gold)})
        for row in rows[-2:] if prior and prior["weight"] else rows[-1:]:
            print(json.dumps(row))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"seed": args.seed, "queries": len(gold), "index_labels": len(data.val_labels),
                               "centroid_weight": CENTROID_WEIGHT, "rows": rows,
                               "command": "python scripts/title_esco_check.py " + " ".join(argv or sys.argv[1:])},
                              indent=2) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
