"""Does the rest of the ad help decide a sentence's skills? Measured, not shipped.

    python scripts/context_experiment.py        # writes results/extraction/context.json

Two context signals re-rank each sentence's candidates before the shipped decision layer applies:
the cosine of the skill's label vector with the ad's pooled vector (the mean of the unit mean-pooled vectors of
the ad's sentences that pass the gate), weight ``beta``; and membership of the skill in the ESCO essential or
optional skills of the occupation the ad's title normalizes to (``TitleNormalizer``, top 1), weight ``gamma``. The
weights are chosen on Skill-XL ``select`` for sentence-level F1, then scored on ``report`` beside the rule without
context.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from tune_selection import TOP_K, Ranked  # noqa: E402

from contextmatch.evaluation.benchmarks import NAMED  # noqa: E402
from contextmatch.evaluation.extraction import RESULTS_DIR, extraction_metrics, load_extraction_benchmark  # noqa: E402
from contextmatch.skills.extractor import SkillExtractor  # noqa: E402
from contextmatch.skills.results import SkillMatch  # noqa: E402
from contextmatch.skills.gate import gate_vectors  # noqa: E402
from contextmatch.titles.normalizer import TitleNormalizer  # noqa: E402

BETAS = (0.0, 0.05, 0.1, 0.2)
GAMMAS = (0.0, 0.02, 0.05, 0.1)


def context_of(extractor, ranked: Ranked, titles: dict[str, str], normalizer) -> list[list[tuple[float, bool]]]:
    """Per sentence and candidate: (cosine with the ad's vector, in the title occupation's ESCO skills)."""
    benchmark, rule = ranked.benchmark, extractor.rule()
    vectors = gate_vectors(extractor, [s.text for s in benchmark.sentences])
    pooled: dict[str, list[torch.Tensor]] = {}
    for sentence, vector, (_, relevance) in zip(benchmark.sentences, vectors, ranked.rows):
        if not rule.skips(relevance):
            pooled.setdefault(sentence.ad, []).append(vector)
    ad_vector = {ad: torch.nn.functional.normalize(torch.stack(v).mean(0), dim=0) for ad, v in pooled.items()}
    ads = sorted({s.ad for s in benchmark.sentences})
    owned = {}
    for ad, matches in zip(ads, normalizer.normalize([titles[ad] for ad in ads], top_k=1)):
        relations = extractor.esco.occupation_skills.get(matches[0].uri, {})
        owned[ad] = set(relations.get("essential", [])) | set(relations.get("optional", []))
    unit = extractor.unit_skills.float()
    return [[(float(unit[extractor._skill_index[m.uri]] @ ad_vector[s.ad]) if s.ad in ad_vector else 0.0,
              m.uri in owned[s.ad]) for m in matches]
            for s, (matches, _) in zip(benchmark.sentences, ranked.rows)]


def score(extractor, ranked: Ranked, context, beta: float, gamma: float) -> dict:
    rule, depth = extractor.rule(), extractor.candidates(TOP_K)
    reported = []
    for gold, (matches, relevance), signals in zip(ranked.gold, ranked.rows, context):
        moved = sorted((SkillMatch(m.uri, m.label, m.score + beta * cos + gamma * owned)
                        for m, (cos, owned) in zip(matches, signals)), key=lambda m: -m.score)
        reported.append([m.label for m in extractor.decide(gold.text, moved[:depth], relevance, rule, TOP_K)])
    return extraction_metrics(ranked.benchmark, reported)


def main() -> int:
    extractor = SkillExtractor(None, quantize="auto")
    with open(NAMED["skill-xl"]["validation"], encoding="utf-8", newline="") as handle:
        titles = {row["ID"]: row["title"] for row in csv.DictReader(handle)}
    normalizer = TitleNormalizer()
    halves = {}
    for half in ("select", "report"):
        ranked = Ranked(extractor, load_extraction_benchmark("skill-xl", half))  # ranks with the layer switched off
        extractor.gate, extractor.grouping, extractor.margin = True, True, extractor.model.config.score_margin
        halves[half] = (ranked, context_of(extractor, ranked, titles, normalizer))
    grid = [(b, g, score(extractor, *halves["select"], b, g)["sentence"]["f1"]) for b in BETAS for g in GAMMAS]
    beta, gamma, _ = max(grid, key=lambda point: point[2])
    result = {"chosen_on": "skill-xl select (sentence-level F1)", "beta": beta, "gamma": gamma,
              "grid": [{"beta": b, "gamma": g, "select_f1": round(f, 4)} for b, g, f in grid]}
    for half, (ranked, context) in halves.items():
        for name, (b, g) in (("without context", (0.0, 0.0)), ("with context", (beta, gamma))):
            m = score(extractor, ranked, context, b, g)["sentence"]
            result.setdefault(half, {})[name] = {k: round(m[k], 4) for k in ("precision", "recall", "f1",
                                                                              "no_skill_share")}
    result["command"] = "python scripts/context_experiment.py"
    (RESULTS_DIR / "context.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({h: result[h] for h in ("select", "report")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
