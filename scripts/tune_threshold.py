"""Choose the extraction score threshold of a model on the ``select`` half of the Skill-XL validation split.

    python scripts/tune_threshold.py --model all-MiniLM-L6-v2

Skill-XL validation is the one split with whole ads, including the sentences that mention no skill, so it is the
one that tells how high the bar must be. Only its ``select`` ads are read (``--half all`` reads every ad): the
``report`` half stays unseen by every choice, as in ``tune_selection.py``. For each candidate threshold t the
pipeline reports, per sentence, the top k skills scoring at least t; the chosen t maximises micro-F1 of the reported
(sentence, skill) pairs against the gold pairs. Writes results/thresholds/<model>.json.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contextmatch.evaluation.benchmarks import NAMED  # noqa: E402
from contextmatch.evaluation.extraction import skill_xl_halves  # noqa: E402
from contextmatch.skills.extractor import DEFAULT_TOP_K, SkillExtractor  # noqa: E402


def skill_xl_sentences(half: str = "select") -> tuple[list[str], list[set[str]]]:
    """Every Skill-XL validation sentence (with or without gold) of the ads of ``half`` (``select``, ``report`` or
    ``all``) and its gold label set."""
    import csv

    halves = skill_xl_halves()
    gold: dict[tuple[str, str], set[str]] = {}
    with open(NAMED["skill-xl"]["validation"], encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if half != "all" and halves.get(row["ID"]) != half:
                continue
            labels = gold.setdefault((row["ID"], row["sentence"]), set())
            if row["relevant"] == "True" and row["skill"].strip():
                labels.add(row["skill"].strip())
    return [key[1] for key in gold], list(gold.values())


def micro_f1(top_scores, top_labels, gold, threshold):
    """Micro precision, recall and F1 of the pairs scoring at least ``threshold``.

    >>> micro_f1(torch.tensor([[0.9, 0.4]]), [["a", "b"]], [{"a", "c"}], 0.5)
    (1.0, 0.5, 0.6666666666666666)
    """
    kept = top_scores >= threshold
    hits = sum(label in g for row, labels, g in zip(kept, top_labels, gold) for k, label in zip(row, labels) if k)
    predicted, relevant = int(kept.sum()), sum(len(g) for g in gold)
    precision = hits / predicted if predicted else 0.0
    recall = hits / relevant if relevant else 0.0
    return precision, recall, (2 * precision * recall / (precision + recall) if hits else 0.0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder or base name (default: the shipped default model)")
    parser.add_argument("--top-k", type=int, default=DEFAULT_TOP_K)
    parser.add_argument("--name", help="results file name (default: the model's folder name)")
    parser.add_argument("--half", choices=("select", "report", "all"), default="select",
                        help="Skill-XL validation ads to tune on (default: select)")
    args = parser.parse_args(argv)
    sentences, gold = skill_xl_sentences(args.half)
    extractor = SkillExtractor(args.model)
    scores = extractor.score_sentences(sentences, progress=True)
    top = scores.topk(args.top_k, dim=1)
    labels = [[extractor.skills[i].label for i in row] for row in top.indices.tolist()]
    grid = [round(0.30 + 0.01 * i, 2) for i in range(61)]
    curve = [(t, *micro_f1(top.values, labels, gold, t)) for t in grid]
    best = max(curve, key=lambda point: point[3])
    name = args.model or "default"
    result = {
        "model": name,
        "benchmark": "skill-xl",
        "split": "validation",
        "half": args.half,
        "top_k": args.top_k,
        "n_sentences": len(sentences),
        "n_gold_pairs": sum(len(g) for g in gold),
        "threshold": best[0],
        "precision": round(best[1], 4),
        "recall": round(best[2], 4),
        "f1": round(best[3], 4),
        "curve": [{"threshold": t, "precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}
                  for t, p, r, f in curve],
        "command": "python scripts/tune_threshold.py" + (f" --model {args.model}" if args.model else "")
                   + (f" --half {args.half}" if args.half != "select" else ""),
    }
    out = ROOT / "results" / "thresholds" / (re.sub(r"[^A-Za-z0-9.-]+", "-", args.name or Path(name).name) + ".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"threshold {best[0]:.2f}: precision {best[1]:.3f}, recall {best[2]:.3f}, F1 {best[3]:.3f} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
