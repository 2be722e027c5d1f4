"""The ``contextmatch`` command line: the parser, whose subcommands each module of this package registers, and
:func:`main`, which turns input errors into one line on standard error."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..inputs import InputError
from .options import EPILOG

# Modules that add subcommands; each has register(commands) that calls set_defaults(handler=...) on its parsers.
COMMAND_MODULES: tuple[str, ...] = (
    "contextmatch.cli.extract", "contextmatch.cli.export", "contextmatch.cli.evaluate", "contextmatch.cli.train",
    "contextmatch.cli.titles", "contextmatch.cli.batch", "contextmatch.cli.release",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="contextmatch",
        description="Skill extraction from job ads with ConTeXT-match: rank all ESCO skills for each sentence.",
        epilog=EPILOG,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for name in COMMAND_MODULES:  # each command registers itself: register(commands) adds its parser
        importlib.import_module(name).register(commands)
    return parser


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
