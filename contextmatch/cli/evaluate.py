"""``contextmatch evaluate``: benchmark a model (and baselines) and write results files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..evaluation.benchmarks import benchmark_names


def register(commands) -> None:
    parser = commands.add_parser(
        "evaluate", help="evaluate a model and baselines on skill-extraction benchmarks",
        description="Rank all ESCO skills for each benchmark sentence and report RP@1/5/10 and MRR (DESIGN.md §4: "
                    "gold labels without LABEL NOT PRESENT/UNDERSPECIFIED, duplicates merged, sentences without gold "
                    "dropped and counted). Writes one JSON results file per system and benchmark.",
        epilog="examples:\n  contextmatch evaluate --benchmark tech --split test\n"
               "  contextmatch evaluate --benchmark tech house skill-xl --split validation\n"
               "  contextmatch evaluate --benchmark my_sentences.csv --no-baselines --format json\n"
               "  contextmatch evaluate --task extraction --benchmark skill-xl --split report\n"
               "  contextmatch evaluate --task titles --benchmark jobbert --split select\n\n"
               "CSV files may have the columns sentence,span,sub_span,label (TECH/HOUSE), sentence,label, or the "
               "Skill-XL columns ID,subset,title,sentence,relevant,cluster,skill.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--task", choices=("skills", "extraction", "titles"), default="skills",
                        help="skills: rank ESCO skills per sentence (default); extraction: score the skill set that "
                             "`extract` reports (gate, selection, grouping: precision, recall, F1, no-skill share, "
                             "redundancy; Skill-XL splits validation/select/report, default report); titles: rank ESCO "
                             "occupations per job title (--benchmark jobbert or a CSV with --title-column and "
                             "--uri-column)")
    parser.add_argument("--title-column", default="vacancyTitle", help="titles CSV: title column (default: vacancyTitle)")
    parser.add_argument("--uri-column", default="conceptUri", help="titles CSV: ESCO occupation URI column "
                                                                   "(default: conceptUri)")
    parser.add_argument("--model", help="model folder or base name (default: the shipped default model)")
    parser.add_argument("--benchmark", nargs="+", metavar="B",
                        help=f"named benchmarks ({', '.join(benchmark_names())}; titles: jobbert) or CSV paths "
                             f"(default: tech; titles: jobbert)")
    parser.add_argument("--split", help="validation or test (default: test where the benchmark has it); titles: all, "
                                        "even, odd, or train/select (the split by title; the shipped title model "
                                        "learnt from the JobBERT train side, so report it on select)")
    parser.add_argument("--baselines", action=argparse.BooleanOptionalAction, default=True,
                        help="also evaluate BM25, the base encoder's mean-pooled cosine and zero-shot ConTeXT scoring "
                             "on the same queries (default: on; --no-baselines evaluates --model alone)")
    parser.add_argument("--system", choices=("contextmatch", "cosine", "bm25"), default="contextmatch",
                        help="how --model ranks skills with --no-baselines (default: contextmatch)")
    parser.add_argument("--skill-labels", choices=("preferred", "all"), default="preferred",
                        help="score each skill of the --model system by its preferred label (default) or by all its "
                             "ESCO labels, aggregated by --label-aggregation")
    parser.add_argument("--label-aggregation", metavar="SPEC",
                        help="with --skill-labels all: mix:W (W x preferred + (1 - W) x best label), max or "
                             "softmax:T (default: the one chosen on validation, "
                             "contextmatch.skills.labels.DEFAULT_AGGREGATION)")
    parser.add_argument("--label-pool", type=int, metavar="N",
                        help="with --skill-labels all: score every label of only the N best skills by preferred "
                             "label (default: exact over all labels)")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="stdout format (default: table)")
    parser.add_argument("--results-dir", type=Path, help="where results files go (default: results/skills)")
    parser.add_argument("--no-save", action="store_true", help="do not write results files")
    parser.set_defaults(handler=run)


def run_titles(args) -> int:
    from ..evaluation.titles import evaluate_title_system

    from ..evaluation.title_benchmarks import JOBBERT_TITLES

    systems = [args.model, "bm25", "all-MiniLM-L6-v2"] if args.baselines else [args.model]
    results = []
    for benchmark in args.benchmark or ["jobbert"]:
        path = JOBBERT_TITLES if benchmark == "jobbert" else Path(benchmark)
        for system in dict.fromkeys(systems):
            results.append(evaluate_title_system(
                system, path, args.title_column, args.uri_column, split=args.split or "all",
                results_dir=None if args.no_save else (args.results_dir or Path("results/titles"))))
    if args.format == "json":
        json.dump(results, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"{'system':<48} {'MRR':>6} {'Acc@1':>6} {'Acc@5':>6} {'Acc@10':>6} {'queries':>7} {'dropped':>7}")
        for r in results:
            print(f"{r['system'][:48]:<48} {r['mrr']:6.3f} {r['acc@1']:6.2f} {r['acc@5']:6.2f} {r['acc@10']:6.2f} "
                  f"{r['n_queries']:7d} {r['n_dropped']:7d}")
    return 0


def run_extraction(args) -> int:
    from ..esco import load_esco
    from ..evaluation.extraction import (
        RESULTS_DIR, evaluate_extraction, format_extraction_table, load_extraction_benchmark,
    )

    kinds = ["pipeline", "global-threshold", "cosine"] if args.baselines else ["pipeline"]
    results_dir = None if args.no_save else (args.results_dir or RESULTS_DIR)
    known = set(load_esco().skill_labels)
    results = []
    for name in args.benchmark or ["skill-xl"]:
        benchmark = load_extraction_benchmark(name, args.split, known)
        results.extend(evaluate_extraction(kind, args.model, benchmark, results_dir=results_dir) for kind in kinds)
    if args.format == "json":
        json.dump(results, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_extraction_table(results))
        if results_dir is not None:
            print(f"\nresults written to {results_dir}/ (sentence-level P/R/F1; no-skill: share of reported skills on "
                  "sentences with no gold skill; redund: second labels of one gold cluster)")
    return 0


def run(args) -> int:
    if args.task == "titles":
        return run_titles(args)
    if args.task == "extraction":
        return run_extraction(args)
    from ..evaluation.ranking import RESULTS_DIR, System, baseline_systems, evaluate_benchmarks, format_table

    from ..skills.labels import DEFAULT_AGGREGATION

    labels = (args.skill_labels, args.label_aggregation or DEFAULT_AGGREGATION, args.label_pool)
    systems = baseline_systems(args.model, *labels) if args.baselines else [System(args.system, args.model, *labels)]
    results_dir = None if args.no_save else (args.results_dir or RESULTS_DIR)
    results = evaluate_benchmarks(systems, [(b, args.split) for b in args.benchmark or ["tech"]],
                                  results_dir=results_dir)
    if args.format == "json":
        json.dump(results, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_table(results))
        if results_dir is not None:
            print(f"\nresults written to {results_dir}/ (RP in percent, MRR as a fraction)")
    return 0
