"""The ``contextmatch`` command line."""

from __future__ import annotations

import argparse
import importlib
import itertools
import os
import sys

from ..inputs import FORMATS, InputError
from ..skills.render import OUTPUT_FORMATS

# Modules that add subcommands; each has register(commands) that calls set_defaults(handler=...) on its parsers.
COMMAND_MODULES: tuple[str, ...] = (
    "contextmatch.cli.evaluate", "contextmatch.cli.train", "contextmatch.cli.titles", "contextmatch.cli.batch",
    "contextmatch.cli.release",
)

EPILOG = "This service uses the ESCO classification of the European Commission."


def add_encoder_options(parser) -> None:
    """--quantize/--int8 and --backend: how the sentence encoder runs (``extract`` and ``batch``)."""
    parser.add_argument("--quantize", choices=("auto", "fp32", "int8", "bf16"), default="auto",
                        help="sentence encoder precision: auto (default: int8 on CPU where it runs, else fp32; the "
                             "fastest within 0.5 RP@5 of fp32, see the README's Speed section), fp32, int8 (CPU) or "
                             "bf16 (CPUs with AVX512-BF16/AMX, GPUs); skill embeddings stay float32")
    parser.add_argument("--int8", dest="quantize", action="store_const", const="int8", help="same as --quantize int8")
    parser.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                        help="run the sentence encoder on torch (default) or ONNX Runtime (CPU, float32 or int8; "
                             "pip install \"contextmatch[onnx]\")")


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="contextmatch",
        description="Skill extraction from job ads with ConTeXT-match: rank all ESCO skills for each sentence.",
        epilog=EPILOG,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

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
    extract.add_argument("--top-k", type=_positive, default=5, help="most skills per sentence (default: 5)")
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
    extract.add_argument("--label-pool", type=_positive, metavar="N",
                         help="with all labels: rank by preferred label first and score every label of only the "
                              "N best skills (close to the exact ranking at the preferred-label speed; default: "
                              "exact over all labels)")
    extract.add_argument("--batch-size", type=_positive, default=32, help="sentences encoded at once (default: 32)")
    extract.add_argument("--ads-per-chunk", type=_positive, default=64,
                         help="ads read and scored together when streaming JSONL/CSV (default: 64)")
    extract.add_argument("--device", help="torch device, e.g. cpu or cuda (default: cuda when available)")
    add_encoder_options(extract)
    extract.add_argument("--threads", type=_positive,
                         help="CPU threads (default: the cores this process may use)")
    extract.add_argument("--verbose", action="store_true",
                         help="print the encoder, threads and scoring in use to standard error")

    export = commands.add_parser(
        "export", help="write a hub-style model folder",
        description="Write a complete model folder (config.json with auto_map, tokenizer, the remote-code files, a "
                    "model card, the encoder weights in encoder/ and the sentence-transformers module files) that "
                    "AutoModel.from_pretrained(DIR, trust_remote_code=True) loads, and SentenceTransformer(DIR) and "
                    "WorkRB's ConTeXTMatchModel(DIR) load without remote code.",
    )
    export.add_argument("--out", required=True, metavar="DIR", help="new or empty folder to write")
    export.add_argument("--model", help="model to export (default: the shipped default model)")
    export.add_argument("--repo", help="hub id named in the model card (default: the folder name)")
    extract.set_defaults(handler=_extract)
    export.set_defaults(handler=_export)
    for name in COMMAND_MODULES:  # other commands register themselves: register(commands) adds their parsers
        importlib.import_module(name).register(commands)
    return parser


def _extract(args) -> int:
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


def _export(args) -> int:
    from ..hub.export import export_model

    folder = export_model(args.out, args.model, args.repo)
    print(f"wrote {folder}: load it with AutoModel.from_pretrained({str(folder)!r}, trust_remote_code=True)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # weight-loading bars would drown the CLI's own output
    try:
        return args.handler(args)
    except (InputError, FileExistsError, ValueError) as err:
        print(f"contextmatch {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
