"""Train the two-step relevance gate of a model and write it into the model's config.

    python scripts/train_gate.py                   # the shipped default model; writes results/extraction/gate.json
    python scripts/train_gate.py --write           # ... and stores gate_weights / gate_bias in its config.json
    python scripts/train_gate.py --model M --skill-labels all --label-pool 100 \
        --out results/extraction/gate_pool100.json  # the second step on the scores of another ranking

Training text: SkillSpan train sentences, positive when they hold a SKILL or KNOWLEDGE span, negative otherwise
(headings, benefits, company and legal boilerplate), after removing every sentence that occurs in a benchmark file
(TECH, HOUSE, Skill-XL, SkillSpan dev); plus the Skill-XL ``select`` half's sentences with their ``relevant`` label
(less any whose text also occurs in ``report``, TECH, HOUSE or SkillSpan dev)
(SkillSpan alone reaches ROC AUC 0.87 on ``report``: its tech and house postings differ from Skill-XL's mix of US
ads). The L2 strength is chosen by 5-fold cross-validation over the ``select`` ads (ROC AUC of the held-out fold);
AUC is reported on Skill-XL ``report`` and SkillSpan dev, which the gate never sees. Sentences go through
the int8 encoder (``FIT_QUANTIZE``: what ``--quantize auto`` runs on CPUs without AMX); on CPUs with AMX ``auto``
runs bf16.

The second step (``contextmatch.skills.gate``) reads the ad around each sentence. It is trained on the ``select``
sentences, with the first step's out-of-fold probabilities as its inputs (so that it sees them as they will be on
unseen text), its L2 strength again chosen by 5-fold cross-validation over the ``select`` ads. The gate's cut-off
is chosen with the selection rule by ``scripts/tune_selection.py``.
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

from contextmatch.evaluation.benchmarks import BENCHMARK_DIR, NAMED  # noqa: E402
from contextmatch.evaluation.extraction import RESULTS_DIR, skill_xl_halves  # noqa: E402
from contextmatch.skills.extractor import SkillExtractor  # noqa: E402
from contextmatch.skills.quantize import FIT_QUANTIZE  # noqa: E402
from contextmatch.skills.gate import (  # noqa: E402
    context_rows, fit_gate, gate_probabilities, gate_vectors, roc_auc, skillspan_postings, skillspan_sentences, top_scores,
)
from contextmatch.models import default_model, update_config  # noqa: E402

TRAIN = ROOT / "contextmatch" / "data" / "training" / "skillspan_train.json.gz"
DEV = BENCHMARK_DIR / "skillspan_dev.json.gz"
STRENGTHS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
CONTEXT_STRENGTHS = (0.1, 1.0, 10.0)
FOLDS = 5


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


def fit_context(rows: list[list[float]], labels: list[int], strength: float) -> list[float]:
    """Second-step weights, then the bias (L2, inverse strength ``strength``)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=strength, max_iter=5000).fit(rows, labels)
    return [round(float(w), 6) for w in model.coef_[0]] + [round(float(model.intercept_[0]), 6)]


def context_probabilities(rows: list[list[float]], weights: list[float]) -> list[float]:
    from modeling_contextmatch import context_relevance

    return [context_relevance(row, weights) for row in rows]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the shipped default model)")
    parser.add_argument("--write", action="store_true", help="store the gate in the model folder's config.json")
    parser.add_argument("--skill-labels", choices=("preferred", "all"), default="preferred",
                        help="the ranking whose best and fifth-best scores the second step reads (default: preferred)")
    parser.add_argument("--label-pool", type=int, help="with --skill-labels all: SkillExtractor(label_pool=N)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "gate.json", help="results file")
    args = parser.parse_args(argv)
    folder = Path(args.model or default_model())
    extractor = SkillExtractor(str(folder), gate=False, grouping=False, quantize=FIT_QUANTIZE,
                               skill_labels=args.skill_labels, label_pool=args.label_pool)
    texts, labels = skillspan_sentences(TRAIN)
    banned = benchmark_texts()
    kept = [(t, y) for t, y in zip(texts, labels) if normal(t) not in banned]
    train_texts, train_labels = [t for t, _ in kept], [y for _, y in kept]
    train = gate_vectors(extractor, train_texts)
    halves = skill_xl_relevance()
    held_out = {normal(t) for t in halves["report"][0]} | {normal(t) for t in skillspan_sentences(DEV)[0]} | {
        normal(row["sentence"]) for name in ("tech", "house") for path in NAMED[name].values()
        for row in csv.DictReader(open(path, encoding="utf-8", newline=""))}
    select_texts, select_labels, select_ads = halves["select"]  # every select sentence: the neighbours of the rest
    usable = torch.tensor([normal(t) not in held_out for t in select_texts])  # trained and scored on
    select = gate_vectors(extractor, select_texts)
    dev_texts, dev_labels = skillspan_sentences(DEV)
    evaluation = {"skill-xl-report": (*halves["report"], gate_vectors(extractor, halves["report"][0])),
                  "skillspan-dev": (dev_texts, dev_labels, skillspan_postings(DEV), gate_vectors(extractor, dev_texts))}
    fold_of = {ad: n % FOLDS for n, ad in enumerate(sorted(set(select_ads)))}
    folds = torch.tensor([fold_of[a] for a in select_ads])

    def used(values):
        return [v for v, u in zip(values, usable.tolist()) if u]

    curve, out_of_fold = [], {}
    for strength in STRENGTHS:  # the first step
        scores = [0.0] * len(select_texts)
        for fold in range(FOLDS):
            fit = usable & (folds != fold)
            weights, bias = fit_gate(torch.cat([train, select[fit]]),
                                     train_labels + [y for y, f in zip(select_labels, fit.tolist()) if f], strength)
            for i, p in zip((folds == fold).nonzero().flatten().tolist(),
                            gate_probabilities(select[folds == fold], weights, bias).tolist()):
                scores[i] = p
        out_of_fold[strength] = scores
        curve.append({"C": strength, "cv_auc_select": round(roc_auc(used(scores), used(select_labels)), 4)})
        print(f"first step C={strength:<5} cross-validated ROC AUC on select {curve[-1]['cv_auc_select']:.4f}")
    best = dict(max(curve, key=lambda point: point["cv_auc_select"]))
    best["weights"], best["bias"] = fit_gate(torch.cat([train, select[usable]]), train_labels + used(select_labels),
                                             best["C"])
    first = {name: gate_probabilities(vectors, best["weights"], best["bias"]).tolist()
             for name, (*_, vectors) in evaluation.items()}
    best["auc"] = {name: round(roc_auc(first[name], labels), 4) for name, (_, labels, *_) in evaluation.items()}
    alone = fit_gate(train, train_labels, best["C"])
    skillspan_only = {name: round(roc_auc(gate_probabilities(vectors, *alone).tolist(), labels), 4)
                      for name, (_, labels, _, vectors) in evaluation.items()}

    # the second step, on the first step's out-of-fold probabilities of the select sentences
    rows = context_rows(out_of_fold[best["C"]], select_ads, select_texts, *top_scores(extractor, select_texts))
    context_curve = []
    for strength in CONTEXT_STRENGTHS:
        scores = [0.0] * len(rows)
        for fold in range(FOLDS):
            fit = (usable & (folds != fold)).tolist()
            weights = fit_context([r for r, f in zip(rows, fit) if f], [y for y, f in zip(select_labels, fit) if f],
                                  strength)
            for i in (folds == fold).nonzero().flatten().tolist():
                scores[i] = context_probabilities([rows[i]], weights)[0]
        context_curve.append({"C": strength, "cv_auc_select": round(roc_auc(used(scores), used(select_labels)), 4)})
        print(f"second step C={strength:<5} cross-validated ROC AUC on select {context_curve[-1]['cv_auc_select']:.4f}")
    context = dict(max(context_curve, key=lambda point: point["cv_auc_select"]))
    context["weights"] = fit_context(used(rows), used(select_labels), context["C"])
    context["auc"] = {}
    for name, (texts_, labels_, ads_, _) in evaluation.items():
        eval_rows = context_rows(first[name], ads_, texts_, *top_scores(extractor, texts_))
        context["auc"][name] = round(roc_auc(context_probabilities(eval_rows, context["weights"]), labels_), 4)

    result = {
        "model": folder.name,
        "train": {"skillspan": {"file": str(TRAIN.relative_to(ROOT)), "sentences": len(texts),
                                "removed_as_benchmark": len(texts) - len(kept), "positives": sum(train_labels),
                                "negatives": len(train_labels) - sum(train_labels)},
                  "skill_xl_select": {"sentences": int(usable.sum()), "positives": sum(used(select_labels)),
                                      "removed_as_held_out": len(select_texts) - int(usable.sum())}},
        "chosen_on": "5-fold cross-validation over the skill-xl select ads (ROC AUC of relevant)",
        "auc": context["auc"],
        "first_step": {"C": best["C"], "cv_auc_select": best["cv_auc_select"], "auc": best["auc"],
                       "auc_trained_on_skillspan_only": skillspan_only, "curve": curve},
        "second_step": {"features": ["first-step logit", "previous sentence's", "next sentence's", "log(1 + words)",
                                     "ends with a colon", "best score", "best minus fifth-best score"],
                        "C": context["C"], "cv_auc_select": context["cv_auc_select"], "weights": context["weights"],
                        "curve": context_curve},
        "command": "python scripts/train_gate.py" + "".join(f" {flag} {value}" for flag, value in (
            ("--model", args.model), ("--skill-labels", args.skill_labels != "preferred" and args.skill_labels),
            ("--label-pool", args.label_pool), ("--out", args.out != RESULTS_DIR / "gate.json" and args.out)) if value)
                   + (" --write" if args.write else ""),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print("ROC AUC, first step: " + ", ".join(f"{k} {v:.4f}" for k, v in best["auc"].items()) +
          "; both steps: " + ", ".join(f"{k} {v:.4f}" for k, v in context["auc"].items()))
    if args.write:
        path = update_config(folder, gate_weights=[round(w, 6) for w in best["weights"]],
                             gate_bias=round(best["bias"], 6), gate_context=context["weights"])
        print(f"wrote the gate into {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
