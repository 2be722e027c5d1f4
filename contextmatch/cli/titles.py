"""``contextmatch normalize`` (job titles -> ESCO occupations) and ``contextmatch train-titles``."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from ..esco import ATTRIBUTION
from ..inputs import InputError
from .options import positive

NORMALIZE_FORMATS = ("table", "json", "jsonl", "csv")


def register(commands) -> None:
    normalize = commands.add_parser(
        "normalize", help="map job titles to ESCO occupations",
        description="Map job titles to ESCO v1.1.0 occupations with the title model: the best occupations for each "
                    "title with score (similarity with the occupation's labels, plus the 'prior' bonus of "
                    "occupations common on job boards), ISCO/ESCO code and URI.",
        epilog="examples:\n  contextmatch normalize \"sr. java dev\"\n"
               "  contextmatch normalize --file titles.txt --format csv > occupations.csv\n"
               "  contextmatch normalize --file titles.txt --out occupations.jsonl   # resumable\n"
               "  contextmatch normalize \"registered nurse\" --skills\n\n" + ATTRIBUTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    normalize.add_argument("titles", nargs="*", metavar="TITLE", help="job titles (or use --file)")
    normalize.add_argument("--file", metavar="FILE",
                           help="text file with one title per line ('-' reads standard input); blank lines skipped")
    normalize.add_argument("--format", choices=NORMALIZE_FORMATS, default="table",
                           help="output: a readable table (default), json, jsonl (one title per line) or csv (one "
                                "row per title-occupation pair)")
    normalize.add_argument("--out", metavar="FILE",
                           help="with --file: write JSON Lines to FILE, one record per title with its input line "
                                "number, chunk by chunk; a stopped run continues where it was when run again")
    normalize.add_argument("--chunk-size", type=positive, default=256,
                           help="titles per write with --out (default: 256)")
    normalize.add_argument("--top-k", type=positive, default=5, help="occupations per title (default: 5)")
    normalize.add_argument("--skills", action="store_true", help="also list the ESCO skills each title implies")
    normalize.add_argument("--skills-k", type=positive, default=10, help="skills per title with --skills (default: 10)")
    normalize.add_argument("--model", help="title-model folder, or a base encoder such as 'all-MiniLM-L6-v2' for "
                                           "zero-shot matching (default: the shipped title model)")
    normalize.add_argument("--no-prior", action="store_true",
                           help="rank by similarity alone, without the title model's occupation prior (the job "
                                "board's occupation mix learnt from labelled titles)")
    normalize.add_argument("--prior", metavar="CSV",
                           help="use the occupation mix of your own board instead: a CSV (optionally .gz) of coded "
                                "titles whose --prior-column holds ESCO occupation URIs")
    normalize.add_argument("--prior-column", default="conceptUri",
                           help="ESCO occupation URI column of --prior (default: conceptUri)")
    normalize.add_argument("--prior-weight", type=float,
                           help="weight of the prior (default: the title model's, chosen on held-out titles)")
    normalize.add_argument("--batch-size", type=positive, default=64, help="titles encoded at once (default: 64)")
    normalize.add_argument("--device", help="torch device, e.g. cpu or cuda (default: cuda when available)")
    normalize.set_defaults(handler=_normalize)

    train = commands.add_parser(
        "train-titles", help="train a title model on ESCO (and your labelled titles)",
        description="Train a JobBERT-v2-style title model (mean pooling, a title head and a skill-list head) on ESCO "
                    "v1.1.0 occupation labels paired with each other and with their occupations' skill lists, and "
                    "optionally on labelled vacancy titles (--pairs) with an occupation prior learnt from them. "
                    "Labels equal to an evaluation title are never trained on. Interrupted runs continue with "
                    "--resume.",
        epilog="examples:\n  contextmatch train-titles --recipe cpu --out runs/title-minilm\n"
               "  contextmatch train-titles --recipe cpu --pairs contextmatch/data/benchmarks/jobbert_titles.csv.gz "
               "--out runs/title-pairs\n"
               "  contextmatch train-titles --recipe gpu --out runs/title-mpnet   # all-mpnet-base-v2 on a GPU\n"
               "  contextmatch train-titles --recipe cpu --out runs/title-minilm --resume\n\n" + ATTRIBUTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("--recipe", choices=("cpu", "gpu"), default="cpu",
                       help="cpu: all-MiniLM-L6-v2, 512-d heads, about 20-25 minutes on one CPU core (default); gpu: "
                            "all-mpnet-base-v2, 1024-d heads")
    train.add_argument("--out", required=True, metavar="DIR", help="folder for the model (and its checkpoints)")
    train.add_argument("--resume", action="store_true", help="continue the interrupted run in --out")
    train.add_argument("--base", help="base encoder (default: the recipe's)")
    train.add_argument("--head-dim", type=positive, help="width of the projection heads")
    train.add_argument("--epochs", type=float, help="passes over the training labels (fractions allowed)")
    train.add_argument("--batch-size", type=positive, help="anchors per step (in-batch negatives)")
    train.add_argument("--lr", type=float, help="learning rate of the encoder")
    train.add_argument("--head-lr", type=float, help="learning rate of the heads")
    train.add_argument("--skill-fraction", type=float, help="share of anchors also paired with a skill list")
    train.add_argument("--augment", type=float,
                       help="share of anchors turned into job-ad-like variants (default: 0; 0.5 measured no gain)")
    train.add_argument("--seed", type=int, help="random seed (default: 13)")
    train.add_argument("--max-steps", type=positive, help="stop after this many steps (smoke tests)")
    train.add_argument("--val-every", type=float, help="validate every this many epochs (default: 0.5)")
    train.add_argument("--val-at-start", action="store_true", help="also validate the untrained model")
    train.add_argument("--exclude", action="append", default=[], metavar="CSV",
                       help="another evaluation CSV whose titles (column --exclude-column) must not be trained on; "
                            "the shipped JobBERT titles are always excluded")
    train.add_argument("--exclude-column", help="title column of the --exclude files (default: vacancyTitle)")
    train.add_argument("--pairs", metavar="CSV",
                       help="labelled vacancy titles (a CSV, optionally .gz, of title and ESCO occupation URI) to "
                            "train on besides ESCO: the train side of their split by title is trained on, the select "
                            "side (20%%) chooses the checkpoint and the occupation prior's weight")
    train.add_argument("--title-column", help="title column of --pairs (default: vacancyTitle)")
    train.add_argument("--uri-column", help="ESCO occupation URI column of --pairs (default: conceptUri)")
    train.add_argument("--checkpoint-every", type=positive, help="steps between checkpoints (default: 100)")
    train.add_argument("--device", help="torch device (default: cuda when available)")
    train.add_argument("--threads", type=positive, help="torch CPU threads (default: torch's choice)")
    train.add_argument("--fp32", action="store_true", help="store float32 weights (default: float16, half the size)")
    train.set_defaults(handler=_train)


def _read_titles(args) -> list[str]:
    from ..corpus.titles import read_title_lines

    titles = [t.strip() for t in args.titles if t.strip()]
    if args.file == "-":
        try:
            titles += [line.strip() for line in sys.stdin if line.strip()]
        except UnicodeDecodeError as err:
            raise InputError(f"cannot read standard input as UTF-8 text: {err}") from None
    elif args.file:
        titles += [title for _, title in read_title_lines(Path(args.file))]
    if not titles:
        raise InputError("give one or more job titles, or --file FILE with one title per line")
    return titles


def read_prior_counts(path: str, column: str) -> dict[str, int]:
    """Occupation counts from the ``column`` of a CSV of coded titles; unknown URIs are reported and skipped."""
    from ..esco import load_esco
    from ..evaluation.title_benchmarks import _open_csv
    from ..titles.prior import count_uris

    file = Path(path)
    if not file.is_file():
        raise InputError(f"--prior file not found: {path}")
    try:
        with _open_csv(file) as handle:
            reader = csv.DictReader(handle)
            if column not in (reader.fieldnames or []):
                raise InputError(f"{file.name} has no column {column!r} (its columns: "
                                 f"{', '.join(map(repr, reader.fieldnames or [])) or 'none'}); name it with "
                                 f"--prior-column")
            uris = [(row[column] or "").strip() for row in reader]
    except (UnicodeDecodeError, csv.Error, OSError, EOFError) as err:
        raise InputError(f"cannot read {path} as a UTF-8 CSV file: {err}") from None
    counts, dropped = count_uris(uris, set(load_esco().occupation_by_uri))
    if not counts:
        raise InputError(f"{file.name}: no ESCO occupation URI in column {column!r}")
    if dropped:
        print(f"note: {dropped:,} row(s) of {file.name} are not ESCO occupation URIs and do not count", file=sys.stderr)
    return counts


def _normalizer(args):
    """The TitleNormalizer the options ask for (model, device, prior)."""
    from ..titles.normalizer import TitleNormalizer

    if args.no_prior and (args.prior or args.prior_weight):
        raise InputError("--no-prior cannot be combined with --prior or --prior-weight")
    if args.prior_weight is not None and args.prior_weight < 0:
        raise InputError(f"--prior-weight must be at least 0, got {args.prior_weight}")
    counts = read_prior_counts(args.prior, args.prior_column) if args.prior else None
    weight = 0.0 if args.no_prior else args.prior_weight
    normalizer = TitleNormalizer(args.model, device=args.device, batch_size=args.batch_size, prior_weight=0.0)
    try:
        normalizer.set_prior(weight, counts)
    except ValueError as err:
        raise InputError(f"{err}; give --prior-weight W with --prior FILE") from None
    return normalizer


def _normalize(args) -> int:
    from tqdm.auto import tqdm

    if args.out:
        return _normalize_to_file(args)
    titles = _read_titles(args)
    normalizer = _normalizer(args)
    if not normalizer.model.has_heads:
        print("note: no trained title model found; matching zero-shot with the base encoder", file=sys.stderr)
    results, skills = [], []
    chunk = max(args.batch_size, 256)
    bar = tqdm(total=len(titles), desc="Titles", unit="title", file=sys.stderr, disable=len(titles) < 2 * chunk)
    for start in range(0, len(titles), chunk):
        batch = titles[start:start + chunk]
        results += normalizer.normalize(batch, top_k=args.top_k)
        if args.skills:
            skills += [normalizer.implied_skills(title, args.skills_k) for title in batch]
        bar.update(len(batch))
    bar.close()
    _write(sys.stdout, args.format, titles, results, skills if args.skills else None)
    return 0


def _normalize_to_file(args) -> int:
    from tqdm.auto import tqdm

    from ..corpus.titles import normalize_file

    if not args.file or args.file == "-" or args.titles:
        raise InputError("--out needs --file FILE (a file, not standard input) and no titles on the command line")
    if args.format not in ("table", "jsonl"):
        raise InputError(f"--out writes JSON Lines; leave out --format {args.format}")
    if not Path(args.file).is_file():
        raise InputError(f"--file not found: {args.file}")
    normalizer = _normalizer(args)
    options = {"model": normalizer.model.name, "top_k": args.top_k, "skills_k": args.skills_k if args.skills else None,
               "esco_version": normalizer.esco_version, "centroid_weight": normalizer.centroid_weight,
               "prior_weight": normalizer.prior_weight, "prior": args.prior}
    bar = tqdm(desc="Titles", unit="title", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    normalize_file(args.file, args.out, normalizer, options, top_k=args.top_k,
                   skills_k=args.skills_k if args.skills else None, chunk_size=args.chunk_size, progress=progress)
    bar.close()
    return 0


def _write(out, fmt: str, titles, results, skills) -> None:
    from ..corpus.titles import title_record

    records = [title_record(title, matches, skills[i] if skills is not None else None)
               for i, (title, matches) in enumerate(zip(titles, results))]
    if fmt == "json":
        json.dump(records, out, indent=2, ensure_ascii=False)
        out.write("\n")
    elif fmt == "jsonl":
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(["title", "rank", "score", "isco_code", "occupation", "uri", "matched_label", "similarity"])
        for record in records:
            for rank, m in enumerate(record["occupations"], 1):
                writer.writerow([record["title"], rank, f"{m['score']:.4f}", m["isco_code"], m["label"], m["uri"],
                                 m["matched_label"], f"{m['similarity']:.4f}"])
    else:
        for record in records:
            out.write(f"{record['title']}\n")
            width = max([len(m["label"]) for m in record["occupations"]] + [10])
            out.write(f"  {'#':>2}  {'score':>6}  {'prior':>6}  {'ISCO':<9} {'occupation':<{width}}  matched label\n")
            for rank, m in enumerate(record["occupations"], 1):
                out.write(f"  {rank:>2}  {m['score']:>6.3f}  {m['score'] - m['similarity']:>+6.3f}  "
                          f"{m['isco_code']:<9} {m['label']:<{width}}  {m['matched_label']}\n")
            if "implied_skills" in record:
                out.write("  implied skills: " + "; ".join(f"{s['label']} ({s['score']:.2f})"
                                                           for s in record["implied_skills"]) + "\n")
            out.write("\n")
        out.write(ATTRIBUTION + "\n")


def _train(args) -> int:
    import torch

    from ..training.titles import TrainConfig, train_titles

    if args.threads:
        torch.set_num_threads(args.threads)
    config = TrainConfig.from_recipe(
        args.recipe, out=args.out, base=args.base, head_dim=args.head_dim, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, head_lr=args.head_lr, skill_fraction=args.skill_fraction,
        augment=args.augment,
        seed=args.seed, max_steps=args.max_steps, val_every=args.val_every, val_at_start=args.val_at_start or None,
        exclude_files=args.exclude or None, exclude_column=args.exclude_column, pairs=args.pairs,
        pairs_title_column=args.title_column, pairs_uri_column=args.uri_column,
        checkpoint_every=args.checkpoint_every, device=args.device, half=False if args.fp32 else None)
    for path in config.exclude_files:
        if not Path(path).is_file():
            raise InputError(f"--exclude file not found: {path}")
    if config.pairs:
        from ..evaluation.title_benchmarks import read_title_benchmark

        pairs = read_title_benchmark(config.pairs, config.pairs_title_column, config.pairs_uri_column, "train")
        if not pairs.n_queries:
            raise InputError(f"--pairs {config.pairs}: no (title, ESCO occupation URI) row to train on "
                             f"({pairs.n_dropped:,} row(s) with a URI that is not an ESCO occupation)")
    folder = train_titles(config, resume=args.resume, log=lambda message: print(message, file=sys.stderr))
    print(f"wrote {folder}: load it with SentenceTransformer({str(folder)!r}) and encode with task='title' or "
          f"task='skills', or use it with: contextmatch normalize --model {folder} \"job title\"")
    return 0
