"""Does a per-skill prior, or the skill's ESCO description, add to the ConTeXT score? A measurement on the pooled
selection queries (TECH and HOUSE validation, the Skill-XL ``select`` half), with a paired bootstrap over queries;
the test splits are scored only under the weight each candidate chose there.

Each candidate adds ``w * feature[skill]`` to every score (``w = 0`` is today's ranking):

- ``occupations``: log(1 + number of ESCO occupations that list the skill as essential or optional), from the
  taxonomy alone;
- ``job-ads``: log(1 + number of span-holding SkillSpan *train* sentences, benchmark sentences removed, whose best
  skill under the model is this one), an empirical prior of what real job ads ask for;
- ``description``: not a prior, a second skill vector: ``(1 - w) * score + w * ConTeXT score against the skill's
  ESCO description`` (descriptions truncated at 64 tokens).

It also reports where the gold skills of the selection queries sit under each prior (the median percentile rank of
a gold skill among all 13,891; 50 is chance).

    python scripts/skill_priors.py [--model M] [--out results/ranking/skill_priors.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from contextmatch.cache import skill_matrix  # noqa: E402
from contextmatch.esco import load_esco  # noqa: E402
from contextmatch.evaluation.benchmarks import load_benchmark  # noqa: E402
from contextmatch.evaluation.extraction import selection_benchmarks  # noqa: E402
from contextmatch.evaluation.ranking import load_metric  # noqa: E402
from contextmatch.skills.extractor import SkillExtractor  # noqa: E402
from contextmatch.skills.gate import skillspan_sentences  # noqa: E402
from contextmatch.training.skill_data import SKILLSPAN_TRAIN, benchmark_sentences, normalise  # noqa: E402
from select_label_aggregation import bootstrap, interval, per_query_rp  # noqa: E402

WEIGHTS = {"occupations": (0.0, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05),
           "job-ads": (0.0, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05),
           "description": (0.0, 0.1, 0.2, 0.3, 0.5)}
DESCRIPTION_TOKENS = 64


def occupation_counts(esco) -> torch.Tensor:
    """How many occupations list each skill (essential or optional), in the order of ``esco.skills``."""
    index = {skill.uri: i for i, skill in enumerate(esco.skills)}
    counts = torch.zeros(len(esco.skills))
    for relations in esco.occupation_skills.values():
        for uri in relations["essential"] + relations["optional"]:
            if uri in index:
                counts[index[uri]] += 1
    return counts


def job_ad_counts(extractor: SkillExtractor) -> tuple[torch.Tensor, int]:
    """How often each skill is the model's best on the span-holding SkillSpan train sentences (none of them in a
    benchmark file), and how many sentences that is."""
    texts, holds_span = skillspan_sentences(SKILLSPAN_TRAIN)
    held_out = benchmark_sentences()
    texts = [t for t, span in zip(texts, holds_span) if span and normalise(t) not in held_out]
    best = extractor.score_sentences(texts, progress=True).argmax(dim=1)
    return torch.bincount(best, minlength=len(extractor.skills)).float(), len(texts)


def description_scores(extractor: SkillExtractor, sentences: list[str], matrix: torch.Tensor) -> torch.Tensor:
    """ConTeXT scores (sentences, skills) against the description vectors (best window per sentence)."""
    scores = torch.full((len(sentences), matrix.shape[0]), -2.0)
    for windows, tokens, mask, _ in extractor._encoded_batches(sentences, False):
        for window, row in zip(windows, extractor.model.score(tokens, mask, matrix)):
            scores[window.sentence] = torch.maximum(scores[window.sentence], row.cpu())
    return scores


def percentile_rank(feature: torch.Tensor, gold: list[list[str]], index: dict[str, int]) -> float:
    """Median share (in percent) of skills with a strictly larger feature than a gold skill.

    >>> percentile_rank(torch.tensor([3.0, 2.0, 1.0, 0.0]), [["b"], ["c", "a"]], {"a": 0, "b": 1, "c": 2})
    25.0
    """
    ranks = [float((feature > feature[index[g]]).float().mean()) for golds in gold for g in golds]
    return round(100 * float(torch.tensor(ranks).median()), 1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model folder or name (default: the shipped default model)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "ranking" / "skill_priors.json")
    args = parser.parse_args(argv)

    esco = load_esco()
    labels, metric = esco.skill_labels, load_metric()
    index = {label: i for i, label in enumerate(labels)}
    extractor = SkillExtractor(args.model)
    ads, n_ad_sentences = job_ad_counts(extractor)
    priors = {"occupations": torch.log1p(occupation_counts(esco)), "job-ads": torch.log1p(ads)}
    saved = extractor.model.config.max_skill_length
    extractor.model.config.max_skill_length = DESCRIPTION_TOKENS  # part of the cache key: its own cached matrix
    descriptions = skill_matrix(extractor.model, extractor.tokenizer,
                                [s.description or s.label for s in esco.skills], esco.version)
    extractor.model.config.max_skill_length = saved

    selection = selection_benchmarks(set(labels))
    tests = {"tech test": load_benchmark("tech", "test", set(labels)),
             "house test": load_benchmark("house", "test", set(labels))}
    scored = {}
    for name, benchmark in {**selection, **tests}.items():
        scored[name] = (extractor.score_sentences(benchmark.sentences, progress=True),
                        description_scores(extractor, benchmark.sentences, descriptions), benchmark.gold)

    def ranked(candidate: str, weight: float, name: str) -> list[float]:
        context, described, gold = scored[name]
        fused = ((1 - weight) * context + weight * described if candidate == "description"
                 else context + weight * priors[candidate])
        return per_query_rp(fused, gold, labels, metric)

    result = {"command": "python scripts/skill_priors.py" + (f" --model {args.model}" if args.model else ""),
              "date": datetime.date.today().isoformat(), "model": args.model or "contextmatch-default",
              "queries": {name: b.n_queries for name, b in {**selection, **tests}.items()},
              "job_ad_sentences": n_ad_sentences,
              "gold_median_percentile_rank": {
                  prior: {name: percentile_rank(feature, b.gold, index) for name, b in selection.items()}
                  for prior, feature in priors.items()},
              "noise": "paired bootstrap over the selection queries, 2000 resamples, seed 0", "candidates": {}}
    for candidate, weights in WEIGHTS.items():
        per_query = {f"{w:g}": [torch.tensor(ranked(candidate, w, name)) for name in selection] for w in weights}
        resampled = bootstrap(per_query, 2000, 0)
        pooled = {spec: round(100 * float(torch.cat(parts).mean()), 2) for spec, parts in per_query.items()}
        chosen = max(pooled, key=pooled.get)
        rows = [{"weight": float(spec), "pooled_rp@5": pooled[spec],
                 **{name: round(100 * float(part.mean()), 2) for name, part in zip(selection, parts)},
                 "minus_zero_ci95": interval(resampled[spec] - resampled["0"])}
                for spec, parts in per_query.items()]
        test = {name: {f"{w:g}": round(100 * statistics.fmean(ranked(candidate, w, name)), 2)
                       for w in (0.0, float(chosen))} for name in tests}
        result["candidates"][candidate] = {"rows": rows, "chosen_weight": float(chosen), "test_rp@5": test}
        print(f"{candidate}: chosen weight {chosen} (pooled {pooled[chosen]:.2f} against {pooled['0']:.2f}, "
              f"{interval(resampled[chosen] - resampled['0'])}); test " +
              ", ".join(f"{n} {v['0']:.2f} -> {v[chosen]:.2f}" for n, v in test.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
