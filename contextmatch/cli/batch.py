"""``contextmatch batch``: a corpus of job ads into resumable Parquet shards."""

from __future__ import annotations

import argparse

from ..corpus.batch import DEFAULT_CHUNK_SIZE, DUPLICATE_POLICIES
from ..inputs import RECORD_FORMATS
from .options import add_encoder_options, positive

EPILOG = """output folder:
  manifest.json          input fingerprint, options, counts; "status": "complete" at the end
  sentences/part-*.parquet  one row per sentence: row, id, sentence_index, start, end, sentence,
                         skills (uri, label, score, evidence: start, end, text, weight)
  ads/part-*.parquet     one row per ad: row, id, sentences, skills (uri, label, skill_type, score, sentences)
  errors/part-*.parquet  one row per bad record: row, id, error (empty text, binary data, missing id, ...)
  duplicate_ids.parquet  ids that more than one record carries (with --id-column)

resuming: run the same command again after a crash or a kill; finished shards are kept, the rest is redone.
A run over another input or with other options is refused: choose a new --out for that.

examples:
  contextmatch batch ads.jsonl --out skills/ --id-column id
  contextmatch batch ads.parquet --out skills/ --text-column description --chunk-size 500 --device cuda
  python -c "import pandas as pd; print(pd.read_parquet('skills/ads'))"

This service uses the ESCO classification of the European Commission."""


def register(commands) -> None:
    batch = commands.add_parser(
        "batch", help="extract skills from a corpus of job ads into resumable Parquet shards",
        description="Extract the ESCO skills of every job ad of a JSONL, CSV or Parquet file into Parquet shards "
                    "(per sentence, per ad, and the bad records), streaming the input in chunks with a progress "
                    "bar. Killed at any moment, the same command resumes where it stopped.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    batch.add_argument("input", metavar="INPUT", help="JSONL, CSV or Parquet file with one job ad per record")
    batch.add_argument("--out", required=True, metavar="DIR", help="output folder: new, empty, or a run to resume")
    batch.add_argument("--input-format", choices=RECORD_FORMATS,
                       help="how to read INPUT (default: from its extension: .jsonl/.ndjson, .csv, .parquet)")
    batch.add_argument("--text-column", default="text", metavar="NAME", help="column with the ad text (default: text)")
    batch.add_argument("--id-column", metavar="NAME", help="column with the ad id (default: the record number)")
    batch.add_argument("--chunk-size", type=positive, metavar="N", default=DEFAULT_CHUNK_SIZE,
                       help=f"records per shard: the work a kill can lose and the memory a chunk takes (default: "
                            f"{DEFAULT_CHUNK_SIZE})")
    batch.add_argument("--duplicate-ids", choices=DUPLICATE_POLICIES, default="keep",
                       help="keep: extract every record and list shared ids in duplicate_ids.parquet (default); "
                            "skip: the first record of an id is extracted, later ones go to errors")
    batch.add_argument("--top-k", type=positive, metavar="K", default=5, help="most skills per sentence (default: 5)")
    batch.add_argument("--threshold", type=float, metavar="SCORE",
                       help="least score for a skill to be reported (default: the model's tuned threshold)")
    batch.add_argument("--model", metavar="MODEL", help="model folder, 'all-MiniLM-L6-v2', 'all-mpnet-base-v2' or a hub id "
                                       "(default: the shipped default model)")
    batch.add_argument("--batch-size", type=positive, metavar="N", default=32,
                       help="sentences encoded at once (default: 32)")
    batch.add_argument("--device", metavar="DEVICE", help="torch device, e.g. cpu or cuda (default: cuda when available)")
    add_encoder_options(batch)
    batch.add_argument("--quiet", action="store_true", help="no progress output")
    batch.set_defaults(handler=_batch)


def _batch(args) -> int:
    from ..corpus.batch import run_batch

    manifest = run_batch(args.input, args.out, model=args.model, input_format=args.input_format,
                         text_column=args.text_column, id_column=args.id_column, chunk_size=args.chunk_size,
                         top_k=args.top_k, threshold=args.threshold, duplicate_ids=args.duplicate_ids,
                         batch_size=args.batch_size, device=args.device, quantize=args.quantize,
                         backend=args.backend, progress=False if args.quiet else None)
    counts = manifest["counts"]
    print(f"done: {counts['records']:,} records -> {counts['ads']:,} ads ({counts['sentences']:,} sentences) in "
          f"{args.out}/ads and {args.out}/sentences; {counts['errors']:,} bad records in {args.out}/errors")
    if counts.get("duplicate_ids"):
        shared = "1 id is" if counts["duplicate_ids"] == 1 else f"{counts['duplicate_ids']:,} ids are"
        print(f"note: {shared} shared by several records: see "
              f"{args.out}/duplicate_ids.parquet (or rerun into a new --out with --duplicate-ids skip)")
    return 0
