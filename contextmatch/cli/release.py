"""``contextmatch release`` and ``contextmatch publish``."""

from __future__ import annotations

import argparse


def register(commands) -> None:
    from ..hub.artifacts import ARTIFACTS, DEFAULT_NAMESPACE

    names = ", ".join(f"{a.name} ({a.repo_type})" for a in ARTIFACTS)
    release = commands.add_parser(
        "release", help="build one hub-ready folder per artifact",
        description=f"Write one folder per repository, ready to push as it is: {names}, plus manifest.json. "
                    "Cards are filled from the results files; cross-references name --namespace.",
        epilog="example:\n  contextmatch release --out release && "
               "contextmatch publish release --namespace my-org --dry-run",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    release.add_argument("--out", required=True, metavar="DIR", help="new or empty folder to write")
    release.add_argument("--namespace", default=DEFAULT_NAMESPACE, metavar="NS",
                         help=f"hub user or organisation the cards and the Space name (default: {DEFAULT_NAMESPACE}; "
                              "publish --namespace moves them)")
    release.add_argument("--source", metavar="DIR",
                         help="repository checkout with model_cards/, results/, skill_xl/, metrics/ and spaces_demo/ "
                              "(default: the checkout of this package, else the current folder)")
    release.set_defaults(handler=_release)

    publish = commands.add_parser(
        "publish", help="upload a release to the Hugging Face Hub",
        description="Check a release folder offline (files, card metadata, cross-references, sizes, loading each "
                    "artifact from its folder), then create the repositories, upload the folders and tag them with "
                    "the package version. Needs a token (`hf auth login` or HF_TOKEN) unless --dry-run.")
    publish.add_argument("folder", metavar="DIR", help="folder written by `contextmatch release`")
    publish.add_argument("--namespace", required=True, metavar="NS", help="hub user or organisation to publish to")
    publish.add_argument("--dry-run", action="store_true", help="check and list what would be uploaded; upload nothing")
    publish.set_defaults(handler=_publish)


def _release(args) -> int:
    from ..hub.build import build_release

    folder = build_release(args.out, args.namespace, args.source)
    print(f"wrote {folder}; check it with: contextmatch publish {folder} --namespace {args.namespace} --dry-run")
    return 0


def _publish(args) -> int:
    from ..hub.publish import publish

    publish(args.folder, args.namespace, dry_run=args.dry_run)
    return 0
