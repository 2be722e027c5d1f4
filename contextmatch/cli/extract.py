"""``contextmatch extract``: the ESCO skills of job ads, per sentence with evidence and per ad."""

from __future__ import annotations

import argparse
import itertools
import sys

from ..inputs import FORMATS
from ..skills.render import OUTPUT_FORMATS
from .options import EPILOG, add_encoder_options, positive


def register(commands) -> None:
    extract = commands.add_parser(
        "extract", help="extract ESCO skills from job ads",
        description="Extract ESCO skills from job ads: the top skills of each sentence with their evidence, and a "
                    "summary per ad. Input is plain text (Markdown and HTML are cleaned), or JSONL/CSV with one ad "
                    "per row.",
        epilog="examples:\n  contextmatch extract examples/job_ad.txt\n"
               "  contextmatch extract ads.jsonl --text-column description --format jsonl > skills.jsonl\n"
               "  cat ad.html | contextmatch extract - --format json\n\n" + EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    extract.add_argument("input", metavar="FILE", help="text, JSONL or CSV file; '-' reads standard input")
    extract.add_argument("--input-format", choices=FORMATS,
                         help="how to read FILE (default: from its extension: .jsonl/.ndjson, .csv, .parquet, "
                              "else text)")
    extract.add_argument("--text-column", default="text", help="JSONL/CSV column with the ad text (default: text)")
    extract.add_argument("--id-column", help="JSONL/CSV column with the ad id (default: the row number)")
    extract.add_argument("--format", choices=OUTPUT_FORMATS, default="table",
                         help="output: a readable table (default), json, jsonl (one ad per line) or csv (one row "
                              "per sentence-skill pair)")
    extract.add_argument("--top-k", type=positive, default=5, help="most skills per sentence (default: 5)")
    extract.add_argument("--threshold", type=float,
                         help="least score for a skill to be reported (default: the model's tuned threshold)")
    extract.add_argument("--margin", type=float,
                         help="report a skill only within this distance of its sentence's best score (default: the "
                              "model's tuned margin; 2 turns it off)")
    extract.add_argument("--no-gate", dest="gate", action="store_false",
                         help="report skills on every sentence, also those the relevance gate rejects as stating no "
                              "skill (headings, benefits, company blurb)")
    extract.add_argument("--no-grouping", dest="grouping", action="store_false",
                         help="list skills that name the same thing separately instead of as one group with "
                              "alternatives")
    extract.add_argument("--model", help="model folder, 'all-MiniLM-L6-v2', 'all-mpnet-base-v2' or a hub id "
                                         "(default: the shipped default model)")
    extract.add_argument("--skill-labels", choices=("preferred", "all"),
                         help="score each skill by its preferred ESCO label, or by all its labels (preferred and "
                              "alternative) aggregated by --label-aggregation (default: "
                              "contextmatch.skills.labels.DEFAULT_SKILL_LABELS)")
    extract.add_argument("--label-aggregation", metavar="SPEC",
                         help="with all labels: mix:W (W x preferred + (1 - W) x best label), max or softmax:T "
                              "(default: the one chosen on validation, contextmatch.skills.labels.DEFAULT_AGGREGATION)")
    extract.add_argument("--label-pool", type=positive, metavar="N",
                         help="with all labels: rank by preferred label first and score every label of only the "
                              "N best skills (close to the exact ranking at the preferred-label speed; default: "
                              "exact over all labels)")
    extract.add_argument("--batch-size", type=positive, default=32, help="sentences encoded at once (default: 32)")
    extract.add_argument("--ads-per-chunk", type=positive, default=64,
                         help="ads read and scored together when streaming JSONL/CSV (default: 64)")
    extract.add_argument("--device", help="torch device, e.g. cpu or cuda (default: cuda when available)")
    add_encoder_options(extract)
    extract.add_argument("--threads", type=positive,
                         help="CPU threads (default: the cores this process may use)")
    extract.add_argument("--verbose", action="store_true",
                         help="print the encoder, threads and scoring in use to standard error")
    extract.set_defaults(handler=run)


def run(args) -> int:
    from tqdm.auto import tqdm

    from ..inputs import read_documents
    from ..skills.extractor import SkillExtractor
    from ..skills.labels import DEFAULT_AGGREGATION, DEFAULT_SKILL_LABELS
    from ..skills.render import Writer

    documents = read_documents(args.input, args.input_format, args.text_column, args.id_column)
    first = list(itertools.islice(documents, 1))  # surface input errors before the model loads
    extractor = SkillExtractor(args.model, top_k=args.top_k, threshold=args.threshold,
                               batch_size=args.batch_size, device=args.device, quantize=args.quantize,
                               backend=args.backend, threads=args.threads,
                               skill_labels=args.skill_labels or DEFAULT_SKILL_LABELS,
                               label_aggregation=args.label_aggregation or DEFAULT_AGGREGATION,
                               label_pool=args.label_pool, gate=args.gate,
                               grouping=args.grouping, margin=args.margin)
    if args.verbose:
        import torch

        print(f"contextmatch extract: encoder {extractor.encoder_name} (--quantize {args.quantize}), "
              f"{torch.get_num_threads()} threads, {extractor.scoring} scoring, device {extractor.model.device}",
              file=sys.stderr)
    writer = Writer(sys.stdout, args.format, extractor.rule(), args.top_k)
    bar = tqdm(desc="Job ads", unit="ad", file=sys.stderr, disable=None)
    documents = itertools.chain(first, documents)
    while chunk := list(itertools.islice(documents, args.ads_per_chunk)):
        ids, texts = zip(*chunk)
        results = extractor.extract_many(texts, progress=len(chunk) == 1)
        for ad_id, result in zip(ids, results):
            writer.write(ad_id, result)
        bar.update(len(chunk))
    bar.close()
    writer.close()
    return 0
