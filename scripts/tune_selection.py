"""Choose the extraction decision layer of a model on the Skill-XL ``select`` half; report it on ``report``.

    python scripts/tune_selection.py               # the shipped default; writes results/extraction/selection.json
    python scripts/tune_selection.py --write       # ... and stores the chosen rule in the model's config.json
    python scripts/tune_selection.py --skill-labels all --label-pool 20 --out results/extraction/selection_pool20.json
                                                   # the same layers over another ranking (not stored)

Each sentence is ranked once (20 candidates, with the gate's relevance); every rule is then applied with the
pipeline's own ``SkillExtractor.decide``, so the numbers are what ``extract`` reports at top-5. Layers are added one
at a time, each chosen on ``select`` for sentence-level F1 (DESIGN.md §4):

1. global threshold alone (today's rule, best threshold);
2. + the relevance gate (cut-off and threshold);
3. + a margin below the sentence's best score (margin, threshold, gate);
4. + calibrated selection: a logistic regression on the ``select`` pairs (``selection.pair_features``: score, rank,
   distance to the best and the next score, relevance), with its cut-off (and the gate) chosen on ``select``;
5. + what ESCO says of each skill and whether the sentence has its label's words (``selection.SkillFeatures``) in
   the same regression, refitted, cut-off and gate chosen again;
6. + grouping of skills that name the same thing (shared labels always; ESCO broader/narrower pairs and the
   label-vector similarity chosen). F1 counts a second label of one gold cluster as right, so it cannot reward
   grouping: among the rules within ``GROUPING_F1_TOLERANCE`` of the best ``select`` F1, the one with the fewest
   redundant reports on ``select`` is chosen.
7. + gradient-boosted trees on the same features (``selection.Forest``) instead of the regression, with the
   grouping of 6. Trees would look better than they are on the pairs they were fitted on, so both models are
   compared on 10-fold cross-fitted ``select`` probabilities (folds by ad; each model's gate and cut-off chosen on
   them, with the grouping on, as the pipeline decides) and, fitted on all of ``select`` with those settings, on
   TECH and HOUSE validation pooled; the trees are kept only when they win on both.

The sentences go through the int8 encoder (``FIT_QUANTIZE``: what ``--quantize auto`` runs on CPUs without AMX);
on CPUs with AMX ``auto`` runs bf16.

Also: the mean-pooled cosine approach of the PyPI extractors (all-MiniLM-L6-v2, best threshold on ``select``), and
precision-recall curves over the threshold on ``report`` for rule 1 and the chosen rule (``extraction_pr.svg``).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contextmatch.evaluation.extraction import (  # noqa: E402
    RESULTS_DIR, ExtractionBenchmark, ad_bootstrap, cosine_top, extraction_metrics, labels_above,
    load_extraction_benchmark, rounded,
)
from contextmatch.skills.extractor import SkillExtractor  # noqa: E402
from contextmatch.skills.quantize import FIT_QUANTIZE  # noqa: E402
from contextmatch.models import MINILM, default_model, update_config  # noqa: E402
from contextmatch.skills.selection import NO_MARGIN, Forest, Redundancy, SelectionRule, pair_features  # noqa: E402

TOP_K = 5
CANDIDATES = 20
THRESHOLDS = [round(0.40 + 0.01 * i, 2) for i in range(46)]
MARGINS = [0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.15, 0.20, NO_MARGIN]
GATES = [round(0.05 * i, 2) for i in range(1, 19)]
SIMILARITIES = [None, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7]
CUTOFFS = [round(0.05 + 0.025 * i, 3) for i in range(25)]
GROUPING_F1_TOLERANCE = 0.001  # F1 a grouping rule may give up on select to fold more near-duplicates
CALIBRATION_C = 1.0  # L2 inverse strength of the calibration (features are on comparable scales)
TREES = dict(max_iter=200, learning_rate=0.05, max_leaf_nodes=7, min_samples_leaf=80, random_state=0)
FOLDS = 10


class Ranked:
    """One ranking of every benchmark sentence (candidates and relevance), scored under any rule."""

    def __init__(self, extractor: SkillExtractor, benchmark):
        self.extractor, self.benchmark = extractor, benchmark
        extractor.gate, extractor.grouping, extractor.margin = False, False, NO_MARGIN
        results = extractor.extract_sentences([[s.text for s in ad] for ad in benchmark.ads()], CANDIDATES, -2.0,
                                              progress=True)
        self.rows = [(sentence.skills, sentence.relevance) for r in results for sentence in r.sentences]
        self.gold = [s for ad in benchmark.ads() for s in ad]  # the sentences of ``rows``, in their order

    def metrics(self, rule: SelectionRule, grouping: bool = False) -> dict:
        return extraction_metrics(self.benchmark, self.reported(rule, grouping))

    def reported(self, rule: SelectionRule | list[SelectionRule], grouping: bool = False) -> list[list[str]]:
        """What the pipeline reports per sentence under ``rule`` (or under each sentence's own rule of a list)."""
        rules = rule if isinstance(rule, list) else [rule] * len(self.gold)
        self.extractor.grouping = grouping
        if grouping:
            self.extractor.redundancy.similarity = rules[0].similarity
            self.extractor.redundancy.relations = rules[0].relations
        depth = self.extractor.candidates(TOP_K)  # what the pipeline ranks at top-5 with this grouping setting
        return [[m.label for m in self.extractor.decide(gold.text, matches[:depth], relevance, one, TOP_K)]
                for gold, (matches, relevance), one in zip(self.gold, self.rows, rules)]


def f1(metrics: dict) -> float:
    return metrics["sentence"]["f1"]


def choose(select: Ranked, rules, grouping=False) -> tuple[SelectionRule, dict]:
    best = max(((rule, select.metrics(rule, grouping)) for rule in rules), key=lambda pair: f1(pair[1]))
    return best


def choose_grouping(select: Ranked, rules) -> SelectionRule:
    """The rule with the fewest redundant reports among those within GROUPING_F1_TOLERANCE of the best F1."""
    scored = [(rule, select.metrics(rule, grouping=True)["sentence"]) for rule in rules]
    best = max(m["f1"] for _, m in scored)
    return min((pair for pair in scored if pair[1]["f1"] >= best - GROUPING_F1_TOLERANCE),
               key=lambda pair: pair[1]["redundant"])[0]


def describe(rule: SelectionRule) -> dict:
    out = {"threshold": None if rule.calibrated else rule.threshold,
           "margin": None if rule.margin >= NO_MARGIN else rule.margin, "gate": rule.gate}
    if rule.calibrated:
        out["cutoff"] = rule.cutoff
    if rule.trees is not None:
        out["trees"] = len(rule.trees.value)
    out["similarity"] = rule.similarity
    return out


def pairs(ranked: Ranked, skills: bool = True) -> list[tuple[list[list[float]], list[int]]]:
    """Per sentence: the features of its first ten candidates (pair features, and with ``skills`` their
    ``SkillFeatures`` rows) and whether each is a gold label of the sentence (every pair of a no-skill sentence is
    negative)."""
    extractor, out = ranked.extractor, []
    for (matches, relevance), gold in zip(ranked.rows, ranked.gold):
        golden = set().union(*gold.clusters) if gold.clusters else set()
        top = matches[:10]
        rows = pair_features([m.score for m in top], relevance)
        if skills and top:
            extra = extractor.skill_features.rows(gold.text, [extractor._skill_index[m.uri] for m in top])
            rows = [row + more for row, more in zip(rows, extra)]
        out.append((rows, [int(m.label in golden) for m in top]))
    return out


def fit_calibration(sentences: list[tuple[list[list[float]], list[int]]], trees: bool = False):
    """A logistic regression of "this ranked skill is right" on the pairs of ``sentences`` (see :func:`pairs`),
    as the weights then the bias; with ``trees``, gradient-boosted trees on them as a ``selection.Forest``."""
    import numpy as np

    features = np.array([row for rows, _ in sentences for row in rows])
    labels = [y for _, flags in sentences for y in flags]
    if trees:
        from sklearn.ensemble import HistGradientBoostingClassifier

        return Forest.from_sklearn(HistGradientBoostingClassifier(**TREES).fit(features, labels))
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=CALIBRATION_C, max_iter=5000).fit(features, labels)
    return tuple(round(float(w), 6) for w in model.coef_[0]) + (round(float(model.intercept_[0]), 6),)


def ad_folds(ads) -> dict[str, int]:
    """Each ad id's fold (0 to ``FOLDS`` - 1) for cross-fitting: the sorted ids, shuffled with seed 0, dealt in turn.

    >>> sorted(ad_folds(["a", "b", "a"]).items())
    [('a', 0), ('b', 1)]
    """
    order = sorted(set(ads))
    random.Random(0).shuffle(order)
    return {ad: i % FOLDS for i, ad in enumerate(order)}


def cross_fitted(select: Ranked, sentences, trees: bool, grouped: SelectionRule) -> tuple[SelectionRule, dict]:
    """The best gate and cut-off for one kind of calibration on 10-fold cross-fitted ``select`` probabilities
    (folds by ad), with the grouping of ``grouped``: each sentence is decided by a model fitted on the other folds.
    Returns the rule with the model fitted on all of ``select`` and the cross-fitted metrics it had."""
    fold = ad_folds(gold.ad for gold in select.gold)
    models = [fit_calibration([p for p, gold in zip(sentences, select.gold) if fold[gold.ad] != k], trees)
              for k in range(FOLDS)]

    def rule(model, gate, cutoff):
        return replace(grouped, gate=gate, cutoff=cutoff, calibration=None if trees else model,
                       trees=model if trees else None)

    grid = [(g, c) for c in CUTOFFS for g in [None, *GATES[::2]]]
    scored = [(g, c, select.metrics([rule(models[fold[gold.ad]], g, c) for gold in select.gold], grouping=True))
              for g, c in grid]
    gate, cutoff, metrics = max(scored, key=lambda item: f1(item[2]))
    return rule(fit_calibration(sentences, trees), gate, cutoff), metrics


def compare_trees(extractor, select: Ranked, select_pairs, grouped: SelectionRule) -> dict:
    """Layer 7: the logistic regression and the trees, each cross-fitted on ``select`` and then (fitted on all of
    it) scored on TECH and HOUSE validation pooled, all with the grouping of ``grouped``; ``kept`` when the trees
    win on both. ``rule``: the trees' rule."""
    rules, out = {}, {}
    tech, house = (load_extraction_benchmark(name, "validation") for name in ("tech", "house"))
    pooled = Ranked(extractor, ExtractionBenchmark("tech+house", "validation", [
        *tech.sentences, *(replace(s, ad="house-" + s.ad) for s in house.sentences)], False))
    for name, trees in (("logistic regression", False), ("gradient-boosted trees", True)):
        rules[name], crossed = cross_fitted(select, select_pairs, trees, grouped)
        out[name] = {"gate": rules[name].gate, "cutoff": rules[name].cutoff,
                     "select_cross_fitted_f1": round(f1(crossed), 4),
                     "tech_house_validation_f1": round(f1(pooled.metrics(rules[name], grouping=True)), 4)}
        print(f"7. {name:<24} {out[name]}")
    logistic, trees = out["logistic regression"], out["gradient-boosted trees"]
    kept = all(trees[k] > logistic[k] for k in ("select_cross_fitted_f1", "tech_house_validation_f1"))
    return {**out, "kept": kept, "rule": rules["gradient-boosted trees"], "settings": TREES,
            "tech_house_validation_queries": len(pooled.gold)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the shipped default model)")
    parser.add_argument("--write", action="store_true", help="store the chosen rule in the model's config.json")
    parser.add_argument("--skill-labels", choices=("preferred", "all"), default="preferred",
                        help="rank by preferred labels (default, what extract does) or by all labels")
    parser.add_argument("--label-pool", type=int, help="with --skill-labels all: SkillExtractor(label_pool=N)")
    parser.add_argument("--out", type=Path, help="results file (default: results/extraction/selection.json and "
                                                 "extraction_pr.svg; with --out, no plot)")
    args = parser.parse_args(argv)
    if args.write and (args.skill_labels != "preferred" or args.out):
        parser.error("--write stores the rule of the default ranking: drop --skill-labels/--out")
    folder = Path(args.model or default_model())
    extractor = SkillExtractor(str(folder), quantize=FIT_QUANTIZE, skill_labels=args.skill_labels,
                               label_pool=args.label_pool)
    extractor._redundancy = Redundancy(extractor.esco, extractor.unit_skills, None)
    halves = {h: Ranked(extractor, load_extraction_benchmark("skill-xl", h)) for h in ("select", "report")}
    select = halves["select"]
    layers = []

    rule, _ = choose(select, [SelectionRule(t) for t in THRESHOLDS])
    layers.append(("global threshold", rule, False))
    print("1.", describe(rule))
    rule, _ = choose(select, [SelectionRule(t, gate=g) for t in THRESHOLDS for g in GATES])
    layers.append(("+ relevance gate", rule, False))
    print("2.", describe(rule))
    rule, _ = choose(select, [SelectionRule(t, m, g) for t in THRESHOLDS for m in MARGINS
                              for g in sorted({rule.gate, *GATES[::2]})])
    layers.append(("+ margin to the sentence's best", rule, False))
    print("3.", describe(rule))
    calibration = fit_calibration(pairs(select, skills=False))
    rule, _ = choose(select, [SelectionRule(-1.0, NO_MARGIN, g, calibration=calibration, cutoff=c)
                              for c in CUTOFFS for g in [None, *GATES[::2]]])
    layers.append(("+ calibrated selection", rule, False))
    print("4.", describe(rule), calibration)
    select_pairs = pairs(select)
    calibration = fit_calibration(select_pairs)
    rule, _ = choose(select, [SelectionRule(-1.0, NO_MARGIN, g, calibration=calibration, cutoff=c)
                              for c in CUTOFFS for g in [None, *GATES[::2]]])
    layers.append(("+ skill and word features", rule, False))
    print("5.", describe(rule), calibration)
    base = rule
    rule = choose_grouping(select, [replace(base, similarity=s, cutoff=c, relations=relations)
                                    for c in sorted({base.cutoff, *CUTOFFS[::2]}) for s in SIMILARITIES
                                    for relations in (True, False)])
    layers.append(("+ grouping", rule, True))
    print("6.", describe(rule), "ESCO relations:", rule.relations)
    trees_check = compare_trees(extractor, select, select_pairs, rule)
    trees_rule = trees_check.pop("rule")
    if trees_check["kept"]:
        layers.append(("+ gradient-boosted selection", trees_rule, True))
        print("7.", describe(trees_rule))
    else:
        print("7. trees not kept")

    rows = []
    for name, rule, grouping in layers:
        row = {"system": name, "rule": describe(rule), "grouping": grouping}
        if grouping:
            row["rule"]["relations"] = rule.relations
        for half, ranked in halves.items():
            row[half] = rounded(ranked.metrics(rule, grouping))
        rows.append(row)
        print(f"{name:<34} select F1 {row['select']['sentence']['f1']:.3f}  report F1 "
              f"{row['report']['sentence']['f1']:.3f}  P {row['report']['sentence']['precision']:.3f}  "
              f"R {row['report']['sentence']['recall']:.3f}  no-skill {row['report']['sentence']['no_skill_share']:.3f}")

    report = halves["report"]
    noise = {"chosen minus the logistic regression with grouping (layer 6)": ad_bootstrap(
                 report.benchmark, report.reported(layers[5][1], True), report.reported(layers[-1][1], True)),
             "chosen minus calibrated selection (score features only)": ad_bootstrap(
                 report.benchmark, report.reported(layers[3][1]), report.reported(layers[-1][1], True)),
             "chosen minus global threshold": ad_bootstrap(
                 report.benchmark, report.reported(layers[0][1]), report.reported(layers[-1][1], True))}
    for name, values in noise.items():
        print(f"report F1, {name}: {values['difference']:+.3f}, 95% interval {values['ci95']}")

    chosen, chosen_grouping = layers[-1][1], layers[-1][2]
    curves = {}
    for name, base, grouping, grid in (("global threshold", layers[0][1], False, THRESHOLDS),
                                       ("chosen rule (calibrated cut-off)", chosen, chosen_grouping, CUTOFFS)):
        points = []
        for t in grid:
            rule = replace(base, cutoff=t) if base.calibrated else SelectionRule(t)
            m = halves["report"].metrics(rule, grouping)["sentence"]
            points.append({"threshold": t, "precision": round(m["precision"], 4), "recall": round(m["recall"], 4),
                           "f1": round(m["f1"], 4)})
        curves[name] = {"chosen_threshold": base.cutoff if base.calibrated else base.threshold,
                        "points": points}

    cosine = cosine_baseline()
    result = {
        "model": folder.name,
        "top_k": TOP_K,
        "chosen_on": "skill-xl select (sentence-level F1)",
        "layers": rows,
        "trees_check": trees_check,
        "report_noise": noise,
        "cosine_baseline": cosine,
        "report_curves": curves,
        "command": "python scripts/tune_selection.py" + "".join(f" {flag} {value}" for flag, value in (
            ("--model", args.model), ("--label-pool", args.label_pool), ("--out", args.out)) if value) +
            (" --skill-labels all" if args.skill_labels == "all" else ""),
        "skill_labels": args.skill_labels,
        **({"label_pool": args.label_pool} if args.label_pool else {}),
    }
    out = args.out or RESULTS_DIR / "selection.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.out is None:
        from contextmatch.evaluation.plots import pr_curve_svg

        (RESULTS_DIR / "extraction_pr.svg").write_text(pr_curve_svg(curves), encoding="utf-8")
    print(f"wrote {out}" + ("" if args.out else " and extraction_pr.svg"))
    if args.write:
        path = update_config(folder, score_margin=chosen.margin, gate_threshold=chosen.gate,
                             group_similarity=chosen.similarity, selection_weights=list(layers[4][1].calibration),
                             selection_cutoff=chosen.cutoff, group_relations=chosen.relations,
                             selection_trees=None if chosen.trees is None else chosen.trees.spec(),
                             score_threshold=layers[1][1].threshold)  # the threshold rule with the gate: --threshold
        print(f"wrote the rule into {path}")
    return 0


def cosine_baseline() -> dict:
    """The PyPI extractors' approach: top-5 skills by mean-pooled cosine above one threshold, chosen on select."""
    extractor = SkillExtractor(MINILM, gate=False, grouping=False)
    out = {"system": f"mean-pooled cosine, {MINILM}", "rule": {}}
    per_half = {}
    for half in ("select", "report"):
        benchmark = load_extraction_benchmark("skill-xl", half)
        per_half[half] = (benchmark, cosine_top(extractor, benchmark, TOP_K))

    def metrics(half, t):
        benchmark, top = per_half[half]
        return extraction_metrics(benchmark, labels_above(extractor, top, t))

    threshold = max(THRESHOLDS, key=lambda t: f1(metrics("select", t)))
    out["rule"] = {"threshold": threshold}
    for half in per_half:
        out[half] = rounded(metrics(half, threshold))
    print(f"cosine baseline t={threshold}: report F1 {out['report']['sentence']['f1']:.3f}")
    return out


if __name__ == "__main__":
    sys.exit(main())
