"""``contextmatch export``: a hub-style model folder that AutoModel, SentenceTransformer and WorkRB load."""

from __future__ import annotations


def register(commands) -> None:
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
    export.set_defaults(handler=run)


def run(args) -> int:
    from ..hub.export import export_model

    folder = export_model(args.out, args.model, args.repo)
    print(f"wrote {folder}: load it with AutoModel.from_pretrained({str(folder)!r}, trust_remote_code=True)")
    return 0
