"""Building a release: each artifact's folder from a checkout (cards, results, dataset, metric, Space) and the
installed package (weights), then ``manifest.json``.

Model cards, results, the dataset, metric and Space folders come from a checkout of the repository (see
:func:`find_sources`); the weights come from the installed package.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from importlib import metadata
from pathlib import Path
from typing import Callable

from .. import __version__
from .artifacts import (APP_REQUIREMENTS, ARTIFACTS, BENCHMARK_DATASETS, CARD_PATHS, DATASET, DEFAULT_NAMESPACE,
                        IGNORED, MANIFEST, METRIC, ReleaseError, SKILL_METRICS, SKILL_MODEL, SOURCE_PATHS, SPACE,
                        SPACE_MODELS_FILE, TITLE_METRICS, TITLE_MODEL, TITLE_RESULTS_POINTER, TORCH_CPU_INDEX,
                        check_namespace, folder_files, human_size, manifest, release_tag, repo_id)
from .export import ENCODER_FOLDER, REPO_DIR


# -- sources ---------------------------------------------------------------------------------------------------------
def missing_sources(root: Path) -> list[str]:
    return [path for path in SOURCE_PATHS if not (Path(root) / path).exists()]


def find_sources(root: str | Path | None = None) -> Path:
    """The checkout that holds the cards, results and folders a release needs: ``root`` when given, else the checkout
    this package runs from (editable install), else the current folder."""
    candidates = [Path(root)] if root else list(dict.fromkeys([REPO_DIR, Path.cwd()]))
    for candidate in candidates:
        if not missing_sources(candidate):
            return candidate.resolve()
    raise ReleaseError(
        f"a release needs a checkout of the contextmatch repository, and none was found in "
        f"{' or '.join(map(str, candidates))} (missing {', '.join(missing_sources(candidates[-1]))}): run it in a "
        "clone or pass --source DIR")


def read_results(folder: Path, keep: Callable[[dict], bool]) -> list[dict]:
    """The results files in ``folder`` that ``keep`` accepts, ordered by benchmark and split."""
    results = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(Path(folder).glob("*.json"))]
    return sorted((r for r in results if keep(r)), key=lambda r: (r["benchmark"], r["split"]))


# -- cleaning --------------------------------------------------------------------------------------------------------
def _is_local_path(value) -> bool:
    return isinstance(value, str) and bool(re.match(r"^(/|~|[A-Za-z]:[\\/])", value))


def scrub_paths(value, base_model: str):
    """``value`` (parsed JSON) without local paths: a local ``_name_or_path`` becomes ``base_model``, any other
    absolute path its last part.

    >>> scrub_paths({"encoder": {"_name_or_path": "/venv/site-packages/m", "n": 1}, "out": "/tmp/run/final"}, "org/b")
    {'encoder': {'_name_or_path': 'org/b', 'n': 1}, 'out': 'final'}
    """
    if isinstance(value, dict):
        return {key: base_model if key == "_name_or_path" and _is_local_path(item) else scrub_paths(item, base_model)
                for key, item in value.items()}
    if isinstance(value, list):
        return [scrub_paths(item, base_model) for item in value]
    return Path(value).name if _is_local_path(value) else value


def scrub_json_files(folder: Path, base_model: str) -> None:
    """Apply :func:`scrub_paths` to every JSON file under ``folder`` that mentions a local path."""
    for path in Path(folder).rglob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        clean = scrub_paths(data, base_model)
        if clean != data:
            path.write_text(json.dumps(clean, indent=2) + "\n", encoding="utf-8")


def store_float16(weights: Path) -> None:
    """Rewrite safetensors weights in float16 (half the download); ``config.json`` keeps ``dtype: float32``, so
    ``from_pretrained`` computes in float32."""
    from safetensors.torch import load_file, save_file

    tensors = load_file(weights)
    save_file({k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}, weights,
              metadata={"format": "pt"})


def point_to_hub(text: str, local: str, hub: str) -> str:
    """Replace the quoted local path of a usage snippet by the hub id.

    >>> point_to_hub('evaluate.load("metrics/skill_ranking")', "metrics/skill_ranking", "my-org/skill_ranking")
    'evaluate.load("my-org/skill_ranking")'
    """
    return text.replace(f'"{local}"', f'"{hub}"')


def _copytree(source: Path, target: Path, *extra_ignored: str) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*IGNORED, *extra_ignored))


# -- cards -----------------------------------------------------------------------------------------------------------
def eval_results(results: list[dict], metrics: dict[str, str], task_type: str, task_name: str, namespace: str):
    """``huggingface_hub.EvalResult`` entries (the card's ``model-index``) for results files."""
    from huggingface_hub import EvalResult

    entries = []
    for result in results:
        name, dataset = BENCHMARK_DATASETS.get(result["benchmark"], (result["benchmark"], result["benchmark"]))
        for key, label in metrics.items():
            if key in result:
                entries.append(EvalResult(
                    task_type=task_type, task_name=task_name, dataset_type=dataset or repo_id(namespace, DATASET),
                    dataset_name=name, dataset_split=result["split"], metric_type=key, metric_name=label,
                    metric_value=result[key]))
    return entries


def with_metadata(card_text: str, model_name: str, datasets: list[str], metrics: list[str], results: list) -> str:
    """A model card with ``datasets``, ``metrics`` and the results as ``model-index`` added to its YAML."""
    from huggingface_hub import ModelCard

    card = ModelCard(card_text)
    card.data.model_name = model_name
    card.data.datasets = datasets
    card.data.metrics = metrics
    card.data.eval_results = results
    return str(card)


def title_results_markdown(results: list[dict]) -> str:
    lines = ["## Results", "",
             "Ranking all 3,008 ESCO v1.1.0 occupations for each title (MRR a fraction, Acc@K in percent; ties at "
             "their expectation), measured with `python -m contextmatch.evaluation.titles` in the contextmatch "
             "repository:",
             "", "| benchmark | split | MRR | Acc@1 | Acc@5 | Acc@10 | queries |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {BENCHMARK_DATASETS.get(r['benchmark'], (r['benchmark'],))[0]} | {r['split']} | {r['mrr']:.3f} | "
              f"{r['acc@1']:.2f} | {r['acc@5']:.2f} | {r['acc@10']:.2f} | {r['n_queries']:,} |" for r in results]
    return "\n".join(lines)


@contextlib.contextmanager
def _card_templates(folder: Path):
    """Let :func:`contextmatch.hub.export.model_card` read its template from ``folder`` (the checkout found)."""
    from . import export

    previous, export.MODEL_CARDS = export.MODEL_CARDS, folder
    try:
        yield
    finally:
        export.MODEL_CARDS = previous


# -- building --------------------------------------------------------------------------------------------------------
def shipped_models() -> tuple[Path, Path]:
    """The trained skill and title model folders of the installed package (never a zero-shot fallback)."""
    from ..models import SHIPPED_MODEL_DIR
    from ..titles.model import SHIPPED_TITLE_MODEL_DIR

    for folder, marker in ((SHIPPED_MODEL_DIR, "config.json"), (SHIPPED_TITLE_MODEL_DIR, "modules.json")):
        if not (folder / marker).exists():
            raise ReleaseError(f"the trained model {folder.name} is not installed ({folder / marker} is missing)")
    return SHIPPED_MODEL_DIR, SHIPPED_TITLE_MODEL_DIR


def build_skill_model(folder: Path, namespace: str, sources: Path) -> None:
    """The ConTeXT-match model: :func:`contextmatch.hub.export.export_model` (which loads with AutoModel,
    SentenceTransformer and WorkRB), float16 weights, clean config, full card."""
    from ..evaluation.ranking import System, results_markdown
    from .export import export_model

    skill_dir, _ = shipped_models()
    system = System("contextmatch", str(skill_dir)).name
    results = read_results(sources / "results" / "skills", lambda r: r.get("system") == system)
    if not results:
        raise ReleaseError(f"no results for {system!r} in {sources / 'results' / 'skills'}: run `contextmatch "
                           "evaluate` first")
    with _card_templates(sources / "model_cards"):
        export_model(folder, str(skill_dir), repo_id(namespace, SKILL_MODEL),
                     results_markdown(system, sources / "results" / "skills"))
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["dtype"] = "float32"  # the weights are stored in float16 below; loaders compute in float32
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    scrub_json_files(folder, config["base_model"])
    store_float16(folder / ENCODER_FOLDER / "model.safetensors")
    entries = eval_results(results, SKILL_METRICS, "text-retrieval", "ESCO skill extraction (ranking all skills per "
                           "sentence)", namespace)
    datasets = list(dict.fromkeys(entry.dataset_type for entry in entries))
    card = with_metadata((folder / "README.md").read_text(encoding="utf-8"), SKILL_MODEL.name, datasets,
                         [repo_id(namespace, METRIC)], entries)
    (folder / "README.md").write_text(card, encoding="utf-8")


def build_title_model(folder: Path, namespace: str, sources: Path) -> None:
    """The title model: the shipped sentence-transformers folder, clean JSON, full card."""
    from ..titles.normalizer import CENTROID_WEIGHT
    from ..titles.prior import read_prior
    from ..training.title_card import model_card

    _, title_dir = shipped_models()
    trained = json.loads((title_dir / "training_info.json").read_text(encoding="utf-8"))
    # a model trained on the JobBERT titles' train side is reported on their select side only
    split = "select" if trained.get("data", {}).get("pair_anchors") else "all"
    prior_weight = (read_prior(title_dir) or {}).get("weight", 0.0)
    results = read_results(sources / "results" / "titles", lambda r: r.get("split") == split
                           and Path(str(r.get("model"))).name == title_dir.name
                           and r.get("centroid_weight") == CENTROID_WEIGHT
                           and (r.get("prior_weight") or 0.0) == prior_weight)
    if not results:
        raise ReleaseError(f"no results for the title model in {sources / 'results' / 'titles'}: run "
                           f"`python -m contextmatch.evaluation.titles --system default --split {split}` first")
    _copytree(title_dir, folder)
    base = json.loads((folder / "training_info.json").read_text(encoding="utf-8"))["base"]
    scrub_json_files(folder, base)
    info = json.loads((folder / "training_info.json").read_text(encoding="utf-8"))
    card = model_card(info, TITLE_MODEL.name, repo_id(namespace, TITLE_MODEL))
    table = title_results_markdown(results)
    card = card.replace(TITLE_RESULTS_POINTER, table) if TITLE_RESULTS_POINTER in card else f"{card}\n{table}\n"
    entries = eval_results(results, TITLE_METRICS, "sentence-similarity", "Job-title normalization to ESCO "
                           "occupations", namespace)
    datasets = list(dict.fromkeys(entry.dataset_type for entry in entries))
    card = with_metadata(card, TITLE_MODEL.name, datasets, ["mrr", "accuracy"], entries)
    (folder / "README.md").write_text(card, encoding="utf-8")


def build_dataset(folder: Path, namespace: str, sources: Path) -> None:
    """Skill-XL: the card, the Parquet files and the raw inputs with their builder (not a loading script: its name
    is not the repository's)."""
    _copytree(sources / "skill_xl", folder)
    card = folder / "README.md"
    card.write_text(point_to_hub(card.read_text(encoding="utf-8"), CARD_PATHS[DATASET], repo_id(namespace, DATASET)),
                    encoding="utf-8")


def build_metric(folder: Path, namespace: str, sources: Path) -> None:
    """The metric Space: module, card, requirements and app.py, as evaluate's metric Spaces have them."""
    folder.mkdir(parents=True)
    for name in (f"{METRIC.name}.py", "README.md", "requirements.txt", "app.py"):
        shutil.copy(sources / "metrics" / METRIC.name / name, folder / name)
    card = folder / "README.md"
    card.write_text(point_to_hub(card.read_text(encoding="utf-8"), CARD_PATHS[METRIC], repo_id(namespace, METRIC)),
                    encoding="utf-8")


def space_requirements(requires: list[str], installed: Callable[[str], str | None], extra: str = "demo",
                       also: tuple[str, ...] = APP_REQUIREMENTS) -> list[str]:
    """The package's requirements and its ``extra``, plus ``also``; an unpinned one is pinned to ``installed``.

    >>> space_requirements(["torch==2.13.0", "tqdm", 'gradio==6.31.0; extra == "demo"', 'pytest; extra == "dev"'],
    ...                    {"tqdm": "4.70.1", "pandas": "3.1.1"}.get)
    ['torch==2.13.0', 'tqdm==4.70.1', 'gradio==6.31.0', 'pandas==3.1.1']
    """
    from packaging.requirements import Requirement

    lines = []
    for text in [*requires, *also]:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        requirement.marker = None
        if not requirement.specifier and installed(requirement.name):
            requirement.specifier = f"=={installed(requirement.name)}"
        lines.append(str(requirement))
    return list(dict.fromkeys(lines))


def _installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def build_space(folder: Path, namespace: str, sources: Path) -> None:
    """The demo Space: app, examples, the library (without bundled models), pinned requirements, the models' hub ids
    and local folders (``release.json``), and a README whose metadata names the models and dataset by hub id."""
    import configuration_contextmatch
    import modeling_contextmatch
    from huggingface_hub import SpaceCard

    demo = sources / "spaces_demo"
    folder.mkdir(parents=True)
    for name in ("app.py", "callbacks.py"):
        shutil.copy(demo / name, folder / name)
    _copytree(demo / "examples", folder / "examples")
    _copytree(Path(__file__).resolve().parents[1], folder / "contextmatch", "models")
    for module in (configuration_contextmatch, modeling_contextmatch):
        shutil.copy(module.__file__, folder / Path(module.__file__).name)
    for name in ("LICENSE", "NOTICE"):
        if (sources / name).exists():
            shutil.copy(sources / name, folder / name)
    readme = (demo / "README.md").read_text(encoding="utf-8")
    if (sources / "docs" / "screenshots").is_dir():
        _copytree(sources / "docs" / "screenshots", folder / "screenshots")
        readme = readme.replace("../docs/screenshots/", "screenshots/")
    card = SpaceCard(readme)
    card.data.models = [repo_id(namespace, SKILL_MODEL), repo_id(namespace, TITLE_MODEL)]
    card.data.datasets = [repo_id(namespace, DATASET)]
    (folder / "README.md").write_text(str(card), encoding="utf-8")
    try:
        requires = metadata.requires("contextmatch") or []
    except metadata.PackageNotFoundError:
        raise ReleaseError("contextmatch is not installed (pip install -e .): its metadata gives the Space's "
                           "pins") from None
    pins = space_requirements(requires, _installed_version)
    (folder / "requirements.txt").write_text(
        f"# Hugging Face Space requirements (CPU) of contextmatch {__version__}: the release's pinned set. The\n"
        "# contextmatch library is in this folder; the models load from their hub repositories (release.json).\n"
        + "\n".join([TORCH_CPU_INDEX, *pins]) + "\n", encoding="utf-8")
    models = {key: {"hub_id": repo_id(namespace, artifact), "local": f"../{artifact.name}"}
              for key, artifact in (("skill_model", SKILL_MODEL), ("title_model", TITLE_MODEL))}
    (folder / SPACE_MODELS_FILE).write_text(json.dumps(models, indent=2) + "\n", encoding="utf-8")


BUILDERS = {SKILL_MODEL: build_skill_model, TITLE_MODEL: build_title_model, DATASET: build_dataset,
            METRIC: build_metric, SPACE: build_space}


def build_release(out: str | Path, namespace: str = DEFAULT_NAMESPACE, source: str | Path | None = None,
                  log: Callable[[str], None] = print) -> Path:
    """Write one folder per artifact and ``manifest.json`` into the new or empty folder ``out``."""
    check_namespace(namespace)
    sources = find_sources(source)
    shipped_models()
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ReleaseError(f"{out} exists and is not empty: choose a new folder or remove it first")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    log(f"contextmatch {__version__} release for namespace {namespace} (tag {release_tag()}), from {sources}:")
    try:
        for artifact in ARTIFACTS:
            BUILDERS[artifact](out / artifact.name, namespace, sources)
            size = sum(size for _, size in folder_files(out / artifact.name))
            log(f"  {artifact.role:<12} {out / artifact.name}  ({human_size(size)}) -> {repo_id(namespace, artifact)}")
    except BaseException:  # leave no half-built release behind
        if created:
            shutil.rmtree(out, ignore_errors=True)
        else:
            for item in out.iterdir():
                if item.is_dir():
                    shutil.rmtree(item)
                else:
                    item.unlink()
        raise
    (out / MANIFEST).write_text(json.dumps(manifest(namespace), indent=2) + "\n", encoding="utf-8")
    return out
