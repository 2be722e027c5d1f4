"""Choose how a skill's label scores aggregate (``SkillExtractor(skill_labels="all", label_aggregation=...)``) on the
pooled validation queries of TECH, HOUSE and Skill-XL, with a bootstrap over queries for the noise.

Every window of every validation sentence is scored against every ESCO label once; each candidate aggregation then
ranks the skills exactly as ``contextmatch evaluate`` does (aggregate per window, best window per sentence).

Then the pool (``SkillExtractor(label_pool=N)``: only the N best skills by preferred label are scored with all their
labels) for the shipped aggregation: the smallest pool not worse than the exact ranking over every label (its paired
95% interval against it reaches zero) is the recommended one (a pool costs the preferred-label ranking plus N
skills' labels).

    python scripts/select_label_aggregation.py [--model M] [--out results/labels/aggregation.json]

A results file keeps each query's RP@5 under the preferred label, the default aggregation and its pools, so that
another model can be compared with it query by query (``--against FILE``: paired bootstrap of this model minus that
one, as for a training change).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contextmatch.evaluation.benchmarks import load_benchmark  # noqa: E402
from contextmatch.evaluation.extraction import selection_benchmarks  # noqa: E402
from contextmatch.esco import load_esco  # noqa: E402
from contextmatch.evaluation.ranking import load_metric, ranking_metrics  # noqa: E402
from contextmatch.skills.extractor import SkillExtractor  # noqa: E402
from contextmatch.skills.labels import DEFAULT_AGGREGATION, parse_aggregation  # noqa: E402
from contextmatch.skills.topk import OUTSIDE_POOL, pool_ranking  # noqa: E402
from modeling_contextmatch import aggregate_label_scores  # noqa: E402

VALIDATION = [("tech", "validation"), ("house", "validation"), ("skill-xl", "validation")]
PREFERRED = "mix:1"  # the preferred label only: today's scoring
POOLS = (10, 20, 50, 100)
KEPT_PER_QUERY = [PREFERRED, DEFAULT_AGGREGATION]  # (and every pool): what --against compares
CANDIDATES = [PREFERRED, *(f"mix:{w / 10:g}" for w in range(9, -1, -1)),
              *(f"softmax:{t:g}" for t in (0.01, 0.02, 0.05, 0.1))]


def window_label_scores(extractor: SkillExtractor, sentences: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores (windows, labels) of every window of ``sentences`` against every label, and each window's sentence."""
    rows, owners = [], []
    for windows, tokens, mask, _ in extractor._encoded_batches(sentences, progress=True):
        rows.append(extractor.model.score(tokens, mask, extractor.label_embeddings).cpu())
        owners.extend(w.sentence for w in windows)
    return torch.cat(rows), torch.tensor(owners)


def skill_scores(label_scores: torch.Tensor, owners: torch.Tensor, sentences: int, table: torch.Tensor,
                 spec: str, chunk: int = 32) -> torch.Tensor:
    """Scores (sentences, skills) under one aggregation: as ``SkillExtractor.score_sentences``."""
    weight, temperature = parse_aggregation(spec)
    scores = torch.full((sentences, table.shape[0]), -2.0)
    for start in range(0, len(owners), chunk):
        aggregated = aggregate_label_scores(label_scores[start : start + chunk], table, weight, temperature)
        scores.index_reduce_(0, owners[start : start + chunk], aggregated, "amax")
    return scores


def pooled_skill_scores(label_scores: torch.Tensor, owners: torch.Tensor, sentences: int, table: torch.Tensor,
                        spec: str, pool: int, chunk: int = 32) -> torch.Tensor:
    """Scores (sentences, skills) with a label pool: as ``SkillExtractor(label_pool=pool).score_sentences``."""
    weight, temperature = parse_aggregation(spec)
    scores = torch.full((sentences, table.shape[0]), -2.0 - OUTSIDE_POOL)
    for start in range(0, len(owners), chunk):
        part = label_scores[start : start + chunk]
        preferred = part[:, table[:, 0]]
        members = preferred.topk(min(pool, preferred.shape[1]), dim=1).indices
        aggregated = aggregate_label_scores(part, table, weight, temperature).gather(1, members)
        scores.index_reduce_(0, owners[start : start + chunk], pool_ranking(preferred, members, aggregated), "amax")
    return scores


def per_query_rp(scores: torch.Tensor, gold: list[list[str]], labels: list[str], metric, k: int = 5) -> list[float]:
    """RP@k of each query, ranked as :func:`contextmatch.evaluation.ranking.ranking_metrics` ranks (stable sort)."""
    return [metric.r_precision_at_k([labels[i] for i in torch.argsort(row, descending=True, stable=True)[:k]],
                                    golds, k) for row, golds in zip(scores, gold)]


def bootstrap(per_query: dict[str, list[torch.Tensor]], rounds: int, seed: int) -> dict[str, torch.Tensor]:
    """Pooled RP@5 of each candidate on ``rounds`` resamples of the queries (each benchmark resampled with
    replacement to its own size; the same resamples for every candidate, so differences are paired)."""
    gen = torch.Generator().manual_seed(seed)
    sizes = [len(part) for part in next(iter(per_query.values()))]
    draws = [torch.randint(0, n, (rounds, n), generator=gen) for n in sizes]
    return {spec: torch.cat([part[d] for part, d in zip(parts, draws)], dim=1).mean(dim=1) * 100
            for spec, parts in per_query.items()}


def interval(values: torch.Tensor) -> list[float]:
    return [round(float(values.quantile(q)), 2) for q in (0.025, 0.975)]


def compare(per_query: dict[str, list[torch.Tensor]], other: dict, args) -> dict:
    """This model minus the model of ``other`` (a results file of this script) on each scoring both files hold:
    the pooled RP@5 difference and its paired 95% bootstrap interval (the same resamples for both models)."""
    out = {"model": other["model"], "command": other["command"], "differences": {}}
    for spec, theirs in other.get("per_query_rp@5", {}).items():
        if spec not in per_query:
            continue
        mine, theirs = per_query[spec], [torch.tensor(part) for part in theirs]
        if [len(p) for p in mine] != [len(p) for p in theirs]:
            raise ValueError(f"{args.against} scored other queries ({spec}): run both on the same benchmark files")
        resampled = bootstrap({"mine": mine, "theirs": theirs}, args.rounds, args.seed)
        difference = float(torch.cat(mine).mean() - torch.cat(theirs).mean()) * 100
        out["differences"][spec] = {"minus_other": round(difference, 2),
                                    "ci95": interval(resampled["mine"] - resampled["theirs"])}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model folder or name (default: the shipped default model)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "labels" / "aggregation.json")
    parser.add_argument("--rounds", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--queries", choices=("select", "validation"), default="select",
                        help="select (default): TECH and HOUSE validation and the Skill-XL select half, the pooled "
                             "selection queries; validation: all of Skill-XL validation instead of its select half "
                             "(the 935 queries of the results before 2026-12-04)")
    parser.add_argument("--against", type=Path, help="an earlier results file of this script (another model) to "
                                                     "compare with, query by query")
    args = parser.parse_args()

    extractor = SkillExtractor(args.model, skill_labels="all")
    labels = load_esco().skill_labels
    known, metric = set(labels), load_metric()
    table = extractor.skill_labels.cpu()
    pools = [f"{DEFAULT_AGGREGATION} pool {n}" for n in POOLS]
    per_query: dict[str, list[torch.Tensor]] = {spec: [] for spec in CANDIDATES + pools}
    metrics: dict[str, dict] = {spec: {} for spec in CANDIDATES + pools}
    sizes, seconds = {}, {}
    named = selection_benchmarks(known) if args.queries == "select" else \
        {f"{name} {split}": load_benchmark(name, split, known) for name, split in VALIDATION}
    for name, benchmark in named.items():
        start = time.perf_counter()
        label_scores, owners = window_label_scores(extractor, benchmark.sentences)
        seconds[name] = round(time.perf_counter() - start, 1)
        sizes[name] = benchmark.n_queries
        for spec in CANDIDATES + pools:
            scores = (skill_scores(label_scores, owners, len(benchmark.sentences), table, spec) if spec in CANDIDATES
                      else pooled_skill_scores(label_scores, owners, len(benchmark.sentences), table,
                                               DEFAULT_AGGREGATION, int(spec.rsplit(" ", 1)[1])))
            per_query[spec].append(torch.tensor(per_query_rp(scores, benchmark.gold, labels, metric)))
            raw = ranking_metrics(scores, benchmark.gold, labels, metric)
            metrics[spec][name] = {key: round(100 * raw[key], 2) for key in ("rp@1", "rp@5", "rp@10")}
            metrics[spec][name]["mrr"] = round(raw["mrr"], 4)
        del label_scores
        print(f"{name}: {benchmark.n_queries} queries scored in {seconds[name]} s", file=sys.stderr)

    pooled = {spec: float(torch.cat(parts).mean() * 100) for spec, parts in per_query.items()}
    chosen = max(CANDIDATES, key=lambda spec: pooled[spec])  # first of equals: the list order
    resampled = bootstrap(per_query, args.rounds, args.seed)
    best_each_round = torch.stack([resampled[spec] for spec in CANDIDATES]).argmax(dim=0)
    pool_rows = {spec: {"pooled_rp@5": round(pooled[spec], 2),
                        "minus_exact_ci95": interval(resampled[spec] - resampled[DEFAULT_AGGREGATION]),
                        "minus_preferred_ci95": interval(resampled[spec] - resampled[PREFERRED]), **metrics[spec]}
                 for spec in pools}
    recommended = next((spec for spec in pools if pool_rows[spec]["minus_exact_ci95"][1] >= 0), None)

    candidates = {spec: {"pooled_rp@5": round(pooled[spec], 2), "bootstrap_std": round(float(resampled[spec].std()), 2),
                         "minus_preferred_ci95": interval(resampled[spec] - resampled[PREFERRED]),
                         "minus_chosen_ci95": interval(resampled[spec] - resampled[chosen]),
                         "best_in_share_of_resamples": round(float((best_each_round == i).float().mean()), 3),
                         **metrics[spec]}
                  for i, spec in enumerate(CANDIDATES)}
    result = {
        "command": "python scripts/select_label_aggregation.py" + (f" --model {args.model}" if args.model else "") +
                   (" --queries validation" if args.queries == "validation" else "") +
                   (f" --against {args.against} --out {args.out}" if args.against else ""),
        "date": datetime.date.today().isoformat(),
        "model": args.model or "contextmatch-default",
        "skill_labels": "all",
        "n_labels": len(extractor.labels),
        "benchmarks": sizes,
        "pooled_queries": sum(sizes.values()),
        "selection": "highest pooled RP@5: the mean RP@5 over the queries of " +
                     ("the pooled selection queries" if args.queries == "select" else "all three validation sets"),
        "noise": f"bootstrap over queries, {args.rounds} resamples (seed {args.seed}), each benchmark resampled to "
                 f"its size; ci95 of paired differences in RP@5 points",
        "label_scoring_seconds": seconds,
        "chosen": chosen,
        "chosen_minus_preferred": round(pooled[chosen] - pooled[PREFERRED], 2),
        "candidates": candidates,
        "pools": {"aggregation": DEFAULT_AGGREGATION, "recommended": recommended,
                  "rule": "smallest pool not worse than the exact all-label ranking: its paired 95% interval reaches 0",
                  "candidates": pool_rows},
        "units": "rp@K in percent, mrr as a fraction",
        "per_query_rp@5": {spec: [[round(float(v), 4) for v in part] for part in per_query[spec]]
                           for spec in KEPT_PER_QUERY + pools},
    }
    if args.against:
        result["against"] = compare(per_query, json.loads(args.against.read_text(encoding="utf-8")), args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"{'aggregation':<13} {'pooled':>7} {'std':>5}  minus preferred (95%)  " +
          "  ".join(f"{name.split()[0]:>8}" for name in named))
    for spec, row in candidates.items():
        low, high = row["minus_preferred_ci95"]
        print(f"{spec:<13} {row['pooled_rp@5']:7.2f} {row['bootstrap_std']:5.2f}  [{low:+6.2f}, {high:+6.2f}]       " +
              "  ".join(f"{row[name]['rp@5']:8.2f}" for name in named))
    for spec, row in pool_rows.items():
        low, high = row["minus_exact_ci95"]
        print(f"{spec:<20} {row['pooled_rp@5']:7.2f}  minus exact [{low:+6.2f}, {high:+6.2f}]")
    for spec, row in result.get("against", {}).get("differences", {}).items():
        print(f"{spec:<20} minus {result['against']['model']}: {row['minus_other']:+.2f} "
              f"[{row['ci95'][0]:+.2f}, {row['ci95'][1]:+.2f}]")
    print(f"chosen: {chosen}; recommended pool: {recommended}; written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
