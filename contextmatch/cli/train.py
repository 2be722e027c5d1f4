"""``contextmatch build-training-data`` and ``contextmatch train``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..training.recipes import LEXICAL_SCOPES, PRECISIONS, RECIPES

# recipe settings that a flag of the same name overrides (besides --base and --sources)
RECIPE_OVERRIDES = (("batch-size", int), ("lr", float), ("epochs", float), ("max-steps", int), ("eval-every", int),
                    ("max-text-length", int), ("scale", float), ("train-layers", int), ("hard-negatives", int),
                    ("lexical-negatives", int), ("alt-label-rate", float), ("stop-at", int), ("soup", int),
                    ("train-labels", int), ("label-mix", float))


def register(commands) -> None:
    build = commands.add_parser(
        "build-training-data", help="build the ConTeXT-match training set from ESCO, SkillSkape and SkillSpan",
        description="Write train.jsonl.gz, stats.json and a data card. Every text that occurs in a TECH, HOUSE or "
                    "Skill-XL file is removed and counted.")
    build.add_argument("--out", type=Path, default=Path("training_data/v1"), help="folder (default: training_data/v1)")
    build.add_argument("--templates-per-skill", type=int, default=2, help="template sentences per skill (default: 2)")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--link-spans", action="store_true",
                       help="also link SkillSpan spans that equal no ESCO label with all-MiniLM-L6-v2 (source "
                            "skillspan-linked; a few minutes); use with another --out")
    build.add_argument("--self-train", metavar="MODEL",
                       help="also label span-holding SkillSpan train sentences with MODEL's confident skills (a model "
                            "folder or 'default'; source self-training; about a minute); use with another --out")
    build.set_defaults(handler=_build)

    train = commands.add_parser(
        "train", help="train a ConTeXT-match model contrastively",
        description="Contrastive training through the ConTeXT score with in-batch negatives; validates RP@5 on TECH "
                    "and HOUSE validation, keeps the best model in OUT/best, checkpoints for --resume.",
        epilog="recipes (all train on every source but the ESCO alternative labels, see results/ablation;\n"
               "runs compared in results/training):\n"
               "  cpu = all-MiniLM-L6-v2 fully fine-tuned, batch 64, the first 300 steps of a 900-step schedule,\n"
               "        the SkillSpan pairs five times over (--repeat skillspan=5), six seeds (OUT/seed-K)\n"
               "        averaged into OUT/best (2 CPU cores, about 25 minutes);\n"
               "  gpu = all-mpnet-base-v2, batch 128, 3 epochs;\n"
               "  cpu-mpnet = all-mpnet-base-v2 fully fine-tuned like cpu (lr 2e-5), two seeds averaged, bf16\n"
               "              autocast where the CPU has AMX (2 cores: about 30 minutes with AMX, longer without);\n"
               "              ships as contextmatch-mpnet: more accurate, about a quarter of the speed.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("--data", default="training_data/v1", help="folder from build-training-data")
    train.add_argument("--out", required=True, help="run folder (checkpoint, history, best model)")
    train.add_argument("--recipe", choices=tuple(RECIPES), default="cpu",
                       help="default settings (default: cpu)")
    train.add_argument("--base", help="encoder to start from (default: the recipe's)")
    train.add_argument("--sources", nargs="+", help="train on these sources only (default: the recipe's)")
    for name, kind in RECIPE_OVERRIDES:
        train.add_argument(f"--{name}", type=kind, help="override the recipe")
    train.add_argument("--lexical-scope", choices=LEXICAL_SCOPES,
                       help="which word-sharing skills --lexical-negatives may add: any (default) or only those "
                            "outside every gold skill's ESCO branch (S1-S8, knowledge field, T1-T6, language)")
    train.add_argument("--precision", choices=PRECISIONS,
                       help="fp32, bf16 (the forward pass under bfloat16 autocast, faster on CPUs with AMX; "
                            "weights, optimizer and validation stay float32) or auto (bf16 on CUDA and AMX CPUs, else "
                            "fp32); default: the recipe's (cpu-mpnet: auto, others fp32)")
    train.add_argument("--repeat", nargs="+", metavar="SOURCE=N", type=_repeat,
                       help="oversample: each pair of SOURCE is in the data N times (default: the recipe's; "
                            "cpu: skillspan=5, others once)")
    train.add_argument("--threads", type=int, help="CPU threads (default: torch's choice)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    train.set_defaults(handler=_train)


def _repeat(value: str) -> tuple[str, int]:
    source, _, times = value.partition("=")
    if not source or not times.isdigit() or int(times) < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: write SOURCE=N with N a whole number of at least 1")
    return source, int(times)


def _build(args) -> int:
    from ..training.skill_data import build_training_data

    stats = build_training_data(args.out, templates_per_skill=args.templates_per_skill, seed=args.seed,
                                link_spans=args.link_spans, self_train=args.self_train)
    print(json.dumps(stats, indent=2))
    return 0


def _train(args) -> int:
    from ..training.skills import TrainConfig, train

    settings = dict(RECIPES[args.recipe])
    named = ["base", "sources", "lexical_scope", "precision"]
    for key in named + [name.replace("-", "_") for name, _ in RECIPE_OVERRIDES]:
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    if args.repeat:
        settings["repeat"] = dict(args.repeat)
    elif args.sources:  # the recipe's oversampling, of the sources still trained on
        settings["repeat"] = {s: n for s, n in settings.get("repeat", {}).items() if s in args.sources}
    config = TrainConfig(data=args.data, out=args.out, seed=args.seed, device=args.device,
                         threads=args.threads, **settings)
    state = train(config, resume=args.resume)
    best = state["best"]
    if config.soup > 1:
        steps, kept = f"{config.soup} x {state['step']}", f"the average of {config.soup} seeds' best models"
    else:
        steps, kept = state["step"], f"step {best['step']}"
    print(f"done: {steps} steps in {state['seconds'] / 60:.1f} min; validation RP@5 {best['rp@5']} of "
          f"{kept} -> {Path(args.out) / 'best'}")
    return 0
