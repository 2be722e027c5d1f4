"""Where the title model loses on the JobBERT titles, and what ESCO alone can and cannot fix (issue #5).

    python scripts/title_gap_analysis.py          # writes results/titles/analysis/gap_analysis.json and prints a summary

For zero-shot all-MiniLM-L6-v2 (best label) and the shipped title model (best label + centroid) it measures, on the
two stratified halves of the titles (``even`` chooses, ``odd`` reports):

- **ESCO-only occupation priors**: ``score + a * prior`` with a prior computed from ESCO alone (number of labels,
  number of linked skills, label length, whether the occupation has a broader ESCO occupation); ``a`` is chosen on
  ``even`` from a grid and reported on ``odd``.
- **The job board's occupation mix (an oracle, not a system)**: the same with ``log(1 + n)``, where ``n`` counts the
  ``even`` titles of each gold occupation, reported on ``odd`` for every ``a`` of the grid. It uses benchmark labels,
  so it is never shipped or put in a results table; it shows how much of the gap is knowing which occupations the
  board posts, which only vacancy data (not ESCO) could teach.
- **A prior estimated from the unlabelled titles themselves** (label-shift adaptation by EM, Saerens et al. 2002):
  run on the half being scored, with temperature and weight chosen on ``even``. It adapts to the evaluation inputs,
  so it is reported here only, never as a result.
- **Errors by ESCO relation** between the top occupation and the gold one, and the share of titles with Malay words,
  non-ASCII characters or exact score ties.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import math
import re
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from contextmatch.esco import load_esco  # noqa: E402
from contextmatch.evaluation.titles import RESULTS_DIR, rank_metrics  # noqa: E402
from contextmatch.evaluation.title_benchmarks import read_title_benchmark  # noqa: E402
from contextmatch.titles.normalizer import TitleNormalizer, occupation_labels  # noqa: E402

GRID = (0.0025, 0.005, 0.01, 0.02, 0.04)
# common Malay words of job titles (a hand list, only for counting)
MALAY = {"pekerja", "am", "tukang", "kilang", "guru", "pembantu", "kerani", "kedai", "jawatan", "kosong", "pemandu",
         "akaun", "jururawat", "juruteknik", "operasi", "pengurus", "keselamatan", "pengawal", "jurujual",
         "kewangan", "eksekutif", "masak", "penyelia", "pembersih", "jurutera"}


def esco_priors(esco, relations_csv: Path, broader_rows: list[dict]) -> dict[str, torch.Tensor]:
    """Per-occupation priors from ESCO alone (higher = favoured), in ``esco.occupations`` order."""
    _, owners = occupation_labels(esco)
    n = len(esco.occupations)
    with relations_csv.open(encoding="utf-8") as handle:
        skills = collections.Counter(row["occupationUri"] for row in csv.DictReader(handle))
    narrower = {row["conceptUri"] for row in broader_rows if row["broaderType"] == "Occupation"}
    return {
        "log number of labels": torch.log(torch.bincount(owners, minlength=n).float()),
        "log (1 + number of linked skills)": torch.log1p(torch.tensor([skills[o.uri] for o in esco.occupations],
                                                                      dtype=torch.float)),
        "minus words in the preferred label": -torch.tensor([len(o.label.split()) for o in esco.occupations],
                                                            dtype=torch.float),
        "top-level (no broader ESCO occupation)": torch.tensor([float(o.uri not in narrower)
                                                                for o in esco.occupations]),
    }


def em_label_prior(scores: torch.Tensor, temperature: float, iterations: int = 30) -> torch.Tensor:
    """Log class prior of a batch by EM (Saerens et al. 2002), from scores turned into posteriors by
    ``softmax(scores / temperature)`` under a uniform prior; no labels are used.

    >>> prior = em_label_prior(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), temperature=0.1)
    >>> [round(p, 2) for p in prior.exp().tolist()]
    [0.67, 0.33]
    """
    log_posterior = torch.log_softmax(scores / temperature, dim=1)
    log_prior = torch.full((scores.shape[1],), -math.log(scores.shape[1]), dtype=scores.dtype)
    for _ in range(iterations):
        log_prior = torch.log(torch.softmax(log_posterior + log_prior, dim=1).mean(0) + 1e-12)
    return log_prior


def relation(predicted: str, gold: str, broader: dict[str, set[str]], codes: dict[str, str]) -> str:
    """How a wrong top occupation relates to the gold one in ESCO."""
    if predicted in broader[gold]:
        return "predicted is broader than gold"
    if gold in broader[predicted]:
        return "gold is broader than predicted"
    if broader[gold] & broader[predicted]:
        return "siblings (same broader concept)"
    if codes[gold][:4] == codes[predicted][:4]:
        return "same ISCO unit group"
    if codes[gold][:2] == codes[predicted][:2]:
        return "same ISCO sub-major group"
    return "unrelated"


def mrr(scores: torch.Tensor, gold: torch.Tensor) -> float:
    return rank_metrics(scores, gold, k_values=(1,))["mrr"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "analysis" / "gap_analysis.json")
    parser.add_argument("--esco-dir", type=Path, default=REPO.parent / "shared" / "data" / "esco" / "v1.1.0",
                        help="ESCO v1.1.0 CSV folder with occupationSkillRelations.csv and broaderRelationsOccPillar.csv")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    esco = load_esco("1.1.0")
    benchmark = read_title_benchmark()
    position = {o.uri: i for i, o in enumerate(esco.occupations)}
    gold = torch.tensor([position[u] for u in benchmark.uris])
    even, odd = torch.arange(0, len(gold), 2), torch.arange(1, len(gold), 2)
    with (args.esco_dir / "broaderRelationsOccPillar.csv").open(encoding="utf-8") as handle:
        broader_rows = list(csv.DictReader(handle))
    priors = esco_priors(esco, args.esco_dir / "occupationSkillRelations.csv", broader_rows)
    board = torch.log1p(torch.bincount(gold[even], minlength=len(esco.occupations)).float())
    broader: dict[str, set[str]] = collections.defaultdict(set)
    for row in broader_rows:
        broader[row["conceptUri"]].add(row["broaderUri"])
    codes = {o.uri: o.code or "" for o in esco.occupations}

    words = [set(re.findall(r"[a-z]+", t.lower())) for t in benchmark.titles]
    result = {"benchmark": benchmark.name, "n_titles": len(gold), "grid": list(GRID), "systems": {},
              "titles": {"with Malay words": sum(1 for w in words if w & MALAY),
                         "with non-ASCII characters": sum(1 for t in benchmark.titles if not t.isascii())},
              "command": "python scripts/title_gap_analysis.py"}
    for label, model, weight in (("all-MiniLM-L6-v2 zero-shot, best label", "all-MiniLM-L6-v2", 0.0),
                                 ("title-esco (ESCO-only), best label + centroid", "contextmatch/models/title-esco",
                                  None)):
        normalizer = TitleNormalizer(model, centroid_weight=weight, prior_weight=0.0)
        scores = normalizer.score_occupations(benchmark.titles, progress=sys.stderr.isatty()).double()
        target = scores.gather(1, gold.view(-1, 1))
        entry = {"mrr_even": mrr(scores[even], gold[even]), "mrr_odd": mrr(scores[odd], gold[odd]),
                 "titles_with_gold_tied": int(((scores == target).sum(1) > 1).sum()), "esco_priors": {}}
        for name, prior in priors.items():
            prior = prior.double()
            on_even = {a: mrr(scores[even] + a * prior, gold[even]) for a in GRID}
            chosen = max(on_even, key=on_even.get)
            entry["esco_priors"][name] = {"chosen_weight": chosen, "mrr_even": on_even[chosen],
                                          "mrr_odd": mrr(scores[odd] + chosen * prior, gold[odd])}
        em_even = {(t, w): mrr(scores[even] + w * t * em_label_prior(scores[even], t), gold[even])
                   for t in (0.02, 0.03) for w in (0.25, 0.5, 1.0)}
        t, w = max(em_even, key=em_even.get)
        entry["batch_em_prior"] = {"temperature": t, "weight": w, "mrr_even": em_even[(t, w)],
                                   "mrr_odd": mrr(scores[odd] + w * t * em_label_prior(scores[odd], t), gold[odd])}
        entry["board_mix_oracle_mrr_odd"] = {str(a): mrr(scores[odd] + a * board.double(), gold[odd])
                                             for a in (*GRID, 0.05, 0.1)}
        top = scores.argmax(1)
        kinds = collections.Counter(
            relation(esco.occupations[int(p)].uri, benchmark.uris[i], broader, codes)
            for i, p in enumerate(top.tolist()) if p != int(gold[i]) and scores[i, p] > target[i, 0])
        entry["top1_errors_by_relation"] = dict(kinds.most_common())
        result["systems"][label] = entry

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for label, entry in result["systems"].items():
        print(f"\n{label}: MRR even {entry['mrr_even']:.4f}, odd {entry['mrr_odd']:.4f}")
        for name, p in entry["esco_priors"].items():
            print(f"  + ESCO prior {name:42} a={p['chosen_weight']:<7g} odd {p['mrr_odd']:.4f} "
                  f"({100 * (p['mrr_odd'] - entry['mrr_odd']):+.1f} points)")
        em = entry["batch_em_prior"]
        print(f"  + EM prior of the unlabelled half itself (T={em['temperature']}, w={em['weight']}): odd "
              f"{em['mrr_odd']:.4f} ({100 * (em['mrr_odd'] - entry['mrr_odd']):+.1f} points)")
        best = max(entry["board_mix_oracle_mrr_odd"].values())
        print(f"  + board occupation mix (oracle, from even labels): odd up to {best:.4f} "
              f"({100 * (best - entry['mrr_odd']):+.1f} points)")
        print(f"  top-1 errors: {entry['top1_errors_by_relation']}")
    print(f"\n{result['titles']}; wrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
