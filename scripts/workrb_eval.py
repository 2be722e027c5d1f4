"""WorkRB's own scorer and metrics on the local TECH and HOUSE test copies, for a ConTeXT-match model exported with
``contextmatch export`` (the shipped default unless ``--model``).

WorkRB's task runner downloads its benchmarks from the hub (``TechWolf/skill-extraction-tech``, ``...-house``) and
ESCO from the European Commission's portal, and neither is reachable here. So the script runs WorkRB's own task
classes with their two data sources pointed at the repository's copies: ``load_dataset`` in WorkRB's
skill-extraction module reads the local CSV (with the datasets CSV builder), and WorkRB's ESCO reader finds the local
ESCO v1.1.0 files in its cache folder. The rest is WorkRB's code: grouping the annotations per sentence, the label
filter, ``ConTeXTMatchModel`` / ``BiEncoderModel.compute_rankings`` on the exported folder, ``task.evaluate`` and
its ranking metrics.

    python scripts/workrb_eval.py            # writes results/workrb/<benchmark>__test__<model class>.json
    python scripts/workrb_eval.py --table    # the table of docs/interop.md, from those files
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import hashlib
import json
import os
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contextmatch.evaluation.benchmarks import NAMED, PACKAGE_DIR  # noqa: E402

OUT_DIR = ROOT / "results" / "workrb"
ESCO_DIR = PACKAGE_DIR / "data" / "esco" / "v1.1.0"
ESCO_FILES = {"skills_en.csv": "skills_en.csv.gz", "occupations_en.csv": "occupations_en.csv.gz",
              "occupationSkillRelations_en.csv": "occupationSkillRelations.csv.gz"}  # WorkRB's name: ours
TASKS = {"tech": ("TechSkillExtractRanking", "TechWolf/skill-extraction-tech"),
         "house": ("HouseSkillExtractRanking", "TechWolf/skill-extraction-house")}
METRICS = ["rp@1", "rp@5", "rp@10", "mrr", "map"]
MODELS = ("ConTeXTMatchModel", "BiEncoderModel")  # WorkRB's classes that load the export


def point_workrb_at_local_data(cache: Path, cache_dir: Path) -> None:
    """WorkRB's ESCO reader and its hub ``load_dataset`` call, served from the repository's copies."""
    import datasets
    from workrb.tasks.ranking import skill_extraction
    from workrb.types import Language

    esco = cache / "wteb" / "esco" / "1.1.0" / Language.EN  # built as WorkRB's ESCO builds its data path
    esco.mkdir(parents=True)
    for name, ours in ESCO_FILES.items():
        with gzip.open(ESCO_DIR / ours, "rb") as source, open(esco / name, "wb") as target:
            shutil.copyfileobj(source, target)
    os.environ["XDG_CACHE_HOME"] = str(cache)
    local = {hub_id: benchmark for benchmark, (_, hub_id) in TASKS.items()}

    def load_local(name, split):
        path = NAMED[local[name]][split]
        return datasets.load_dataset("csv", data_files=str(path), split="train", cache_dir=str(cache_dir))

    skill_extraction.load_dataset = load_local


def digest(folder: Path) -> str:
    """SHA-256 (first 16 hex digits) of the exported weights."""
    return hashlib.sha256((folder / "encoder" / "model.safetensors").read_bytes()).hexdigest()[:16]


def cell(result: dict | None) -> str:
    """RP@5 / RP@10 in percent and MRR, as the results tables of the README and docs/.

    >>> cell({"rp@5": 0.571428, "rp@10": 0.698302, "mrr": 0.548311}), cell(None)
    ('57.14 / 69.83 / 0.548', '–')
    """
    return "–" if result is None else f"{100 * result['rp@5']:.2f} / {100 * result['rp@10']:.2f} / {result['mrr']:.3f}"


def markdown_table(folder: Path = OUT_DIR) -> str:
    """The docs/interop.md table of every results file in ``folder``: one row per system, TECH and HOUSE test."""
    results = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*__test__*.json"))]
    systems = list(dict.fromkeys(r["system"] for r in sorted(results, key=lambda r: r["workrb_model"] != MODELS[0])))
    found = {(r["system"], r["benchmark"]): r for r in results}
    lines = ["| system (WorkRB's scorer and metrics) | TECH test | HOUSE test |", "|---|---|---|"]
    lines += [f"| {system} | {cell(found.get((system, 'tech')))} | {cell(found.get((system, 'house')))} |"
              for system in systems]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model to export and score (default: the shipped default model)")
    parser.add_argument("--benchmark", nargs="+", choices=sorted(TASKS), default=sorted(TASKS))
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"results folder (default: {OUT_DIR})")
    parser.add_argument("--table", action="store_true", help="only print the docs/interop.md table")
    args = parser.parse_args()
    if args.table:
        print(markdown_table(args.out))
        return 0

    import torch
    import workrb.tasks
    from workrb.models import BiEncoderModel, ConTeXTMatchModel

    from contextmatch.hub.export import export_model

    torch.manual_seed(0)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        point_workrb_at_local_data(tmp / "cache", tmp / "datasets")
        folder = export_model(tmp / "model", args.model, results="-")
        model_name = Path(args.model).name if args.model else "contextmatch-default"
        models = dict(zip(MODELS, (ConTeXTMatchModel(str(folder)), BiEncoderModel(str(folder)))))
        for benchmark in args.benchmark:
            task = getattr(workrb.tasks, TASKS[benchmark][0])(split="test", languages=["en"])
            dataset = task.datasets["en"]
            for class_name, model in models.items():
                scores = task.evaluate(model, metrics=METRICS, dataset_id="en")
                result = {
                    "system": f"WorkRB {class_name}, {model_name}", "workrb_model": class_name,
                    "model": model_name, "weights_sha256": digest(folder), "benchmark": benchmark, "split": "test",
                    **{name: round(float(value), 6) for name, value in scores.items()},
                    "n_queries": len(dataset.query_texts), "n_targets": len(dataset.target_space),
                    "units": "WorkRB's fractions (rp@K, mrr, map in [0, 1])",
                    "data": f"local copy of {TASKS[benchmark][1]} (test) and ESCO v1.1.0; WorkRB's task runner "
                            "needs the hub",
                    "workrb_version": metadata.version("workrb"), "command": "python scripts/workrb_eval.py",
                    "date": datetime.date.today().isoformat(),
                }
                path = args.out / f"{benchmark}__test__{class_name}.json"
                path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
                print(f"{benchmark} {class_name}: " + ", ".join(f"{k} {result[k]:.4f}" for k in METRICS)
                      + f" ({result['n_queries']} queries) -> {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
