"""Train the relevance gate of a model on SkillSpan train and write it into the model's config.

    python scripts/train_gate.py                   # the shipped default model; writes results/extraction/gate.json
    python scripts/train_gate.py --write           # ... and stores gate_weights / gate_bias in its config.json

Training text: SkillSpan train sentences, positive when they hold a SKILL or KNOWLEDGE span, negative otherwise
(headings, benefits, company and legal boilerplate), after removing every sentence that occurs in a benchmark file
(TECH, HOUSE, Skill-XL, SkillSpan dev); plus the Skill-XL ``select`` half's sentences with their ``relevant`` label
(less any whose text also occurs in ``report``, TECH, HOUSE or SkillSpan dev)
(SkillSpan alone reaches ROC AUC 0.87 on ``report``: its tech and house postings differ from Skill-XL's mix of US
ads). The L2 strength is chosen by 5-fold cross-validation over the ``select`` ads (ROC AUC of the held-out fold);
AUC is reported on Skill-XL ``report`` and SkillSpan dev, which the gate never sees. Sentences are encoded as
``contextmatch extract`` encodes them by default (``--quantize auto``). The gate's cut-off is chosen with the selection rule by
``scripts/tune_selection.py``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contextmatch.benchmarks import BENCHMARK_DIR, NAMED  # noqa: E402
from contextmatch.extraction_eval import RESULTS_DIR, skill_xl_halves  # noqa: E402
from contextmatch.extractor import SkillExtractor  # noqa: E402
from contextmatch.gate import fit_gate, gate_probabilities, gate_vectors, roc_auc, skillspan_sentences  # noqa: E402
from contextmatch.models import default_model, update_config  # noqa: E402

TRAIN = ROOT / "contextmatch" / "data" / "training" / "skillspan_train.json.gz"
DEV = BENCHMARK_DIR / "skillspan_dev.json.gz"
STRENGTHS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


def normal(text: str) -> str:
    return " ".join(text.lower().split())


def skill_xl_relevance() -> dict[str, tuple[list[str], list[int], list[str]]]:
    """Half -> (distinct sentences of that half's ads, 1 where ``relevant`` is True, their ad ids)."""
    halves = skill_xl_halves()
    out: dict[str, dict[tuple[str, str], int]] = {"select": {}, "report": {}}
    with open(NAMED["skill-xl"]["validation"], encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            out[halves[row["ID"]]][(row["ID"], row["sentence"])] = int(row["relevant"] == "True")
    return {half: ([key[1] for key in rows], list(rows.values()), [key[0] for key in rows])
            for half, rows in out.items()}


def benchmark_texts() -> set[str]:
    texts = set()
    for splits in NAMED.values():
        for path in splits.values():
            with open(path, encoding="utf-8", newline="") as handle:
                texts.update(normal(row["sentence"]) for row in csv.DictReader(handle))
    texts.update(normal(t) for t in skillspan_sentences(DEV)[0])
    return texts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the shipped default model)")
    parser.add_argument("--write", action="store_true", help="store the gate in the model folder's config.json")
    args = parser.parse_args(argv)
    folder = Path(args.model or default_model())
    extractor = SkillExtractor(str(folder), gate=False, grouping=False, quantize="auto")  # as `extract` runs
    texts, labels = skillspan_sentences(TRAIN)
    banned = benchmark_texts()
    kept = [(t, y) for t, y in zip(texts, labels) if normal(t) not in banned]
    train_texts, train_labels = [t for t, _ in kept], [y for _, y in kept]
    train = gate_vectors(extractor, train_texts)
    halves = skill_xl_relevance()
    held_out = {normal(t) for t in halves["report"][0]} | {normal(t) for t in skillspan_sentences(DEV)[0]} | {
        normal(row["sentence"]) for name in ("tech", "house") for path in NAMED[name].values()
        for row in csv.DictReader(open(path, encoding="utf-8", newline=""))}
    select_rows = [row for row in zip(*halves["select"]) if normal(row[0]) not in held_out]
    select_texts, select_labels, select_ads = (list(column) for column in zip(*select_rows))
    select = gate_vectors(extractor, select_texts)
    evaluation = {name: (labels, gate_vectors(extractor, texts)) for name, (texts, labels) in
                  [("skill-xl-report", halves["report"][:2]), ("skillspan-dev", skillspan_sentences(DEV))]}
    folds = sorted(set(select_ads))
    fold_of = {ad: n % 5 for n, ad in enumerate(folds)}
    curve = []
    for strength in STRENGTHS:
        scores = [0.0] * len(select_texts)
        for fold in range(5):
            held = torch.tensor([fold_of[a] == fold for a in select_ads])
            weights, bias = fit_gate(torch.cat([train, select[~held]]),
                                     train_labels + [y for y, h in zip(select_labels, held) if not h], strength)
            for i in held.nonzero().flatten().tolist():
                scores[i] = float(gate_probabilities(select[i : i + 1], weights, bias))
        curve.append({"C": strength, "cv_auc_select": round(roc_auc(scores, select_labels), 4)})
        print(f"C={strength:<5} cross-validated ROC AUC on select {curve[-1]['cv_auc_select']:.4f}")
    best = dict(max(curve, key=lambda point: point["cv_auc_select"]))
    best["weights"], best["bias"] = fit_gate(torch.cat([train, select]), train_labels + select_labels, best["C"])
    best["auc"] = {name: round(roc_auc(gate_probabilities(vectors, best["weights"], best["bias"]).tolist(), labels), 4)
                   for name, (labels, vectors) in evaluation.items()}
    alone = fit_gate(train, train_labels, best["C"])
    skillspan_only = {name: round(roc_auc(gate_probabilities(vectors, *alone).tolist(), labels), 4)
                      for name, (labels, vectors) in evaluation.items()}
    result = {
        "model": folder.name,
        "train": {"skillspan": {"file": str(TRAIN.relative_to(ROOT)), "sentences": len(texts),
                                "removed_as_benchmark": len(texts) - len(kept), "positives": sum(train_labels),
                                "negatives": len(train_labels) - sum(train_labels)},
                  "skill_xl_select": {"sentences": len(select_texts), "positives": sum(select_labels),
                                      "removed_as_held_out": len(halves["select"][0]) - len(select_texts)}},
        "chosen_on": "5-fold cross-validation over the skill-xl select ads (ROC AUC of relevant)",
        "C": best["C"],
        "cv_auc_select": best["cv_auc_select"],
        "auc": best["auc"],
        "auc_trained_on_skillspan_only": skillspan_only,
        "curve": curve,
        "command": "python scripts/train_gate.py" + (f" --model {args.model}" if args.model else ""),
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "gate.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"chosen C={best['C']}: ROC AUC " + ", ".join(f"{k} {v:.4f}" for k, v in best["auc"].items()))
    if args.write:
        path = update_config(folder, gate_weights=[round(w, 6) for w in best["weights"]],
                             gate_bias=round(best["bias"], 6))
        print(f"wrote the gate into {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
