"""Variants of the calibrated selection that were measured and not shipped.

    python scripts/selection_variants.py        # writes results/extraction/selection_variants.json (about 2 minutes)

Every variant is the shipped layer-5 calibration (``tune_selection.fit_calibration``'s features on the first ten
candidates, no grouping) with one change, and its gate and cut-off are chosen for sentence-level F1 on 10-fold
cross-fitted ``select`` probabilities (folds by ad), so a model with more capacity is not judged on its own training
pairs. The chosen setting is then scored on ``report``, with the model refitted on all of ``select``:

- ``logistic``: the shipped model (the reference row);
- ``gradient boosting``: sklearn's ``HistGradientBoostingClassifier`` on the same features;
- ``+ every-label score``: each candidate's every-label score (``--skill-labels all``, ``mix:0.4``, pool 20), its
  difference to the preferred-label score, its rank among the pool and its distance to the pool's best;
- ``+ ad context``: how many sentences of the ad rank the skill among their 20 candidates (log), and its best score
  elsewhere in the ad minus this one.

Also: the shipped decision layer (``SkillExtractor.rule()``, whatever its calibration) with grouping when a narrower
ESCO skill whose label (outside parentheses) holds all the words of its broader skill's label is grouped with it
(*write English* with *English*, but not *Python (computer programming)* with *computer programming*), scored on
``select`` only.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from tune_selection import CALIBRATION_C, CUTOFFS, FOLDS, GATES, TOP_K, Ranked, ad_folds  # noqa: E402

from contextmatch.evaluation.extraction import RESULTS_DIR, extraction_metrics, load_extraction_benchmark  # noqa: E402
from contextmatch.models import default_model  # noqa: E402
from contextmatch.skills.extractor import SkillExtractor  # noqa: E402
from contextmatch.skills.selection import pair_features, words  # noqa: E402

DEPTH = 10  # candidates per sentence the calibration sees, as in tune_selection.fit_calibration


def rows_of(extractor, ranked: Ranked, pooled: Ranked, extra: str | None) -> list[tuple]:
    """Per sentence: (ad, relevance, candidate labels, feature matrix, gold flags)."""
    seen: dict[str, dict[str, list[float]]] = {}
    for (matches, _), gold in zip(ranked.rows, ranked.gold):
        for m in matches[:20]:
            seen.setdefault(gold.ad, {}).setdefault(m.uri, []).append(m.score)
    out = []
    for (matches, relevance), (pool, _), gold in zip(ranked.rows, pooled.rows, ranked.gold):
        top = matches[:DEPTH]
        golden = set().union(*gold.clusters) if gold.clusters else set()
        base = pair_features([m.score for m in top], relevance)
        skills = extractor.skill_features.rows(gold.text, [extractor._skill_index[m.uri] for m in top])
        every = {m.uri: (rank, m.score) for rank, m in enumerate(pool)}
        features = []
        for row, more, m in zip(base, skills, top):
            added = []
            if extra == "labels":
                rank, score = every.get(m.uri, (len(pool), m.score))
                added = [score, score - m.score, float(rank), score - pool[0].score]
            elif extra == "ad":
                scores = seen[gold.ad][m.uri]
                added = [math.log(len(scores)), max(scores) - m.score]
            features.append(row + more + added)
        out.append((gold.ad, relevance, [m.label for m in top], np.array(features), [int(m.label in golden) for m in top]))
    return out


def f1_at(benchmark, rows, probabilities, gate, cutoff) -> dict:
    reported = [[] if not labels or (gate is not None and relevance < gate) else
                [label for label, p in zip(labels, chances) if p >= cutoff][:TOP_K]
                for (_, relevance, labels, _, _), chances in zip(rows, probabilities)]
    return extraction_metrics(benchmark, reported)["sentence"]


def fitted(make, rows):
    kept = [r for r in rows if r[2]]
    return make().fit(np.vstack([r[3] for r in kept]), [y for r in kept for y in r[4]])


def predict(model, rows):
    return [model.predict_proba(r[3])[:, 1] if r[2] else [] for r in rows]


def variant(make, select: tuple, report: tuple) -> dict:
    (select_bench, select_rows), (report_bench, report_rows) = select, report
    fold = ad_folds(r[0] for r in select_rows)
    crossed = [None] * len(select_rows)
    for k in range(FOLDS):
        model = fitted(make, [r for r in select_rows if fold[r[0]] != k])
        for i, r in enumerate(select_rows):
            if fold[r[0]] == k:
                crossed[i] = model.predict_proba(r[3])[:, 1] if r[2] else []
    gate, cutoff = max(((g, c) for g in [None, *GATES[::2]] for c in CUTOFFS),
                       key=lambda gc: f1_at(select_bench, select_rows, crossed, *gc)["f1"])
    chosen = f1_at(select_bench, select_rows, crossed, gate, cutoff)
    final = f1_at(report_bench, report_rows, predict(fitted(make, select_rows), report_rows), gate, cutoff)
    keep = ("precision", "recall", "f1", "no_skill_share")
    return {"gate": gate, "cutoff": cutoff, "select_crossfit": {k: round(chosen[k], 4) for k in keep},
            "report": {k: round(final[k], 4) for k in keep}}


def variant_pairs(esco, index: dict[str, int]) -> set[tuple[int, int]]:
    """Broader/narrower pairs whose narrower label, outside parentheses, holds every word of the broader label."""
    def bare(label: str) -> set[str]:
        return set(words(re.sub(r"\([^)]*\)", " ", label)))

    pairs = set()
    for uri, broader in esco.broader_skills.items():
        for other in broader:
            if uri in index and other in index:
                a, b = index[uri], index[other]
                if bare(esco.skills[b].label) and bare(esco.skills[b].label) <= bare(esco.skills[a].label):
                    pairs.add((min(a, b), max(a, b)))
    return pairs


def main() -> int:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    folder = str(default_model())
    extractor = SkillExtractor(folder, quantize="auto")
    shipped = extractor.rule()  # the whole shipped decision layer, read before Ranked switches gate and grouping off
    every = SkillExtractor(folder, quantize="auto", skill_labels="all", label_pool=20)
    halves = {h: load_extraction_benchmark("skill-xl", h) for h in ("select", "report")}
    ranked = {h: Ranked(extractor, b) for h, b in halves.items()}
    pooled = {h: Ranked(every, b) for h, b in halves.items()}
    logistic = lambda: LogisticRegression(C=CALIBRATION_C, max_iter=5000)  # noqa: E731
    boosted = lambda: HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=7,  # noqa: E731
                                                     min_samples_leaf=80, random_state=0)
    results = {}
    for name, make, extra in (("logistic (shipped features)", logistic, None), ("gradient boosting", boosted, None),
                              ("+ every-label score", logistic, "labels"), ("+ ad context", logistic, "ad")):
        data = {h: (halves[h], rows_of(extractor, ranked[h], pooled[h], extra)) for h in halves}
        results[name] = variant(make, data["select"], data["report"])
        print(f"{name:<30} select (cross-fitted) F1 {results[name]['select_crossfit']['f1']:.4f}  "
              f"report F1 {results[name]['report']['f1']:.4f}")

    grouping = {}
    for name in ("shipped grouping", "+ label-variant pairs"):
        if name != "shipped grouping":
            extractor.redundancy.pairs |= variant_pairs(extractor.esco, extractor._skill_index)
            extractor.redundancy._neighbours = None
        m = ranked["select"].metrics(shipped, grouping=True)["sentence"]
        grouping[name] = {k: round(m[k], 4) if isinstance(m[k], float) else m[k]
                          for k in ("precision", "recall", "f1", "redundant", "reported")}
        print(f"{name:<30} select F1 {m['f1']:.4f}  redundant {m['redundant']}")
    out = RESULTS_DIR / "selection_variants.json"
    out.write_text(json.dumps({"command": "python scripts/selection_variants.py", "model": Path(folder).name,
                               "chosen_on": "skill-xl select, 10-fold cross-fitted by ad (sentence-level F1)",
                               "calibration_variants": results, "grouping_on_select": grouping}, indent=2) + "\n",
                   encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
