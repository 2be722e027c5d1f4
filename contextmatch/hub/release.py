"""Release: one folder per artifact, ready to push to the Hugging Face Hub, and their offline checks.

:func:`build_release` writes the skill model, the title model, the Skill-XL dataset, the ``skill_ranking`` metric and
the demo Space, each in a folder named after its repository, plus ``manifest.json``. :func:`check_release`
validates a release offline (files, card metadata, cross-references, sizes, loaders); :func:`publish` uploads it with
``huggingface_hub`` and tags every repository with the package version. Repository names live in :data:`ARTIFACTS`.

Model cards, results, the dataset, metric and Space folders come from a checkout of the repository (see
:func:`find_sources`); the weights come from the installed package.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

from .. import __version__
from .export import ENCODER_FOLDER, REPO_DIR, local_paths

MANIFEST = "manifest.json"
SPACE_MODELS_FILE = "release.json"  # in the Space folder: the models spaces_demo/app.py loads
DEFAULT_NAMESPACE = "contextmatch"
UPSTREAM_NAMESPACES = ("TechWolf",)  # upstream hub ids that share a name with an artifact (TechWolf/Skill-XL)
IGNORED = ("__pycache__", "*.pyc", ".DS_Store", ".git", ".ipynb_checkpoints", ".pytest_cache")
TORCH_CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"
APP_REQUIREMENTS = ("pandas",)  # imported by the Space app but not by the library
HUB_FILE_LIMIT = 50 * 10**9  # bytes: the hub's largest file
SOURCE_PATHS = ("model_cards/contextmatch.md", "results/skills", "results/titles", "skill_xl/README.md",
                "metrics/skill_ranking/skill_ranking.py", "spaces_demo/app.py")


class ReleaseError(ValueError):
    """A release that cannot be built, checked or published (the message is one line)."""


@dataclass(frozen=True)
class Artifact:
    """A repository of the release: ``name`` is its repository and folder name."""

    name: str
    repo_type: str  # "model", "dataset" or "space"
    role: str


SKILL_MODEL = Artifact("ConTeXT-match-MiniLM-L6", "model", "skill model")
TITLE_MODEL = Artifact("JobTitle-MiniLM-L6", "model", "title model")
DATASET = Artifact("Skill-XL", "dataset", "dataset")
METRIC = Artifact("skill_ranking", "space", "metric")  # evaluate metrics are Spaces; the name is the module's
SPACE = Artifact("contextmatch-demo", "space", "demo Space")
ARTIFACTS = (DATASET, METRIC, SKILL_MODEL, TITLE_MODEL, SPACE)  # upload order: the demo, which names the rest, last

# Benchmarks of the results files: (name, hub id); None is the release's own dataset.
BENCHMARK_DATASETS = {
    "tech": ("TECH", "TechWolf/skill-extraction-tech"),
    "house": ("HOUSE", "TechWolf/skill-extraction-house"),
    "skill-xl": ("Skill-XL", None),
    "jobbert-titles": ("JobBERT evaluation titles", "TechWolf/JobBERT-evaluation-dataset"),
}
SKILL_METRICS = {"rp@1": "RP@1", "rp@5": "RP@5", "rp@10": "RP@10", "mrr": "MRR", "map": "MAP"}
TITLE_METRICS = {"mrr": "MRR", "acc@1": "Acc@1", "acc@5": "Acc@5", "acc@10": "Acc@10"}
# Local paths in the source cards that the released cards replace by the hub id.
CARD_PATHS = {DATASET: "path/to/skill_xl", METRIC: "metrics/skill_ranking"}
TITLE_RESULTS_POINTER = "Benchmark results are in `results/titles/README.md` of the contextmatch repository."


# -- names -----------------------------------------------------------------------------------------------------------
def repo_id(namespace: str, artifact: Artifact) -> str:
    """The hub id of an artifact.

    >>> repo_id("my-org", SKILL_MODEL)
    'my-org/ConTeXT-match-MiniLM-L6'
    """
    return f"{namespace}/{artifact.name}"


def hub_url(repo: str, repo_type: str, endpoint: str = "https://huggingface.co") -> str:
    """The web page of a repository.

    >>> hub_url("my-org/Skill-XL", "dataset"), hub_url("my-org/ConTeXT-match-MiniLM-L6", "model")
    ('https://huggingface.co/datasets/my-org/Skill-XL', 'https://huggingface.co/my-org/ConTeXT-match-MiniLM-L6')
    """
    prefix = {"model": "", "dataset": "datasets/", "space": "spaces/"}[repo_type]
    return f"{endpoint.rstrip('/')}/{prefix}{repo}"


def release_tag(version: str = __version__) -> str:
    """The tag of every repository of a release: the package version itself.

    >>> release_tag("0.1.0")
    '0.1.0'
    """
    return version


def check_namespace(namespace: str) -> str:
    """``namespace`` if it can own hub repositories, else :class:`ReleaseError`."""
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(f"{namespace}/{SKILL_MODEL.name}")
    except ValueError:
        raise ReleaseError(f"{namespace!r} is not a valid hub user or organisation name") from None
    return namespace


def human_size(n: int) -> str:
    """A file size for people.

    >>> human_size(512), human_size(45_438_584)
    ('512 B', '45.4 MB')
    """
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


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
             "their expectation), measured with `python -m contextmatch.evaluation.titles` in the contextmatch repository:",
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
    from ..titles.normalizer import SHIPPED_TITLE_MODEL_DIR

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
    from ..training.titles import model_card

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
    shutil.copy(demo / "app.py", folder / "app.py")
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


def manifest(namespace: str, version: str = __version__) -> dict:
    return {"contextmatch_version": version, "tag": release_tag(version), "namespace": namespace,
            "artifacts": [{"name": a.name, "repo_type": a.repo_type, "role": a.role, "repo_id": repo_id(namespace, a)}
                          for a in ARTIFACTS]}


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


# -- reading and retargeting a release -------------------------------------------------------------------------------
def read_manifest(release_dir: str | Path) -> dict:
    path = Path(release_dir) / MANIFEST
    if not path.exists():
        raise ReleaseError(f"{release_dir} is not a release folder (no {MANIFEST}): build one with `contextmatch "
                           "release --out DIR`")
    return json.loads(path.read_text(encoding="utf-8"))


def retarget_text(text: str, old: str, new: str, names: list[str]) -> str:
    """Move the hub ids ``old/<name>`` of the release to ``new/<name>``; other ids stay.

    >>> retarget_text('load("a/Skill-XL") TechWolf/Skill-XL a/Skill-XLs', "a", "b", ["Skill-XL"])
    'load("b/Skill-XL") TechWolf/Skill-XL a/Skill-XLs'
    """
    pattern = rf"(?<![\w.-]){re.escape(old)}/({'|'.join(map(re.escape, names))})(?![\w-])"
    return re.sub(pattern, lambda match: f"{new}/{match.group(1)}", text)


def set_namespace(release_dir: str | Path, namespace: str) -> str | None:
    """Point a release's cross-references (cards, the Space's ``release.json``, the manifest) at ``namespace``;
    returns the namespace it was built for when that differs, else None."""
    release_dir = Path(release_dir)
    current = read_manifest(release_dir)
    old = current["namespace"]
    if old == namespace:
        return None
    names = [a["name"] for a in current["artifacts"]]
    for entry in current["artifacts"]:
        for file_name in ("README.md", SPACE_MODELS_FILE):
            path = release_dir / entry["name"] / file_name
            if path.exists():
                path.write_text(retarget_text(path.read_text(encoding="utf-8"), old, namespace, names),
                                encoding="utf-8")
    updated = manifest(namespace, current["contextmatch_version"])
    (release_dir / MANIFEST).write_text(json.dumps(updated, indent=2) + "\n", encoding="utf-8")
    return old


# -- checks ----------------------------------------------------------------------------------------------------------
REQUIRED_FILES = {
    SKILL_MODEL.role: ("config.json", "tokenizer.json", "tokenizer_config.json", "configuration_contextmatch.py",
                       "modeling_contextmatch.py", "README.md", "modules.json", "1_Pooling/config.json",
                       f"{ENCODER_FOLDER}/config.json", f"{ENCODER_FOLDER}/model.safetensors",
                       f"{ENCODER_FOLDER}/tokenizer.json", f"{ENCODER_FOLDER}/sentence_bert_config.json"),
    TITLE_MODEL.role: ("modules.json", "config.json", "config_sentence_transformers.json", "model.safetensors",
                       "tokenizer.json", "README.md"),
    DATASET.role: ("README.md",),
    METRIC.role: (f"{METRIC.name}.py", "README.md", "requirements.txt", "app.py"),
    SPACE.role: ("app.py", "README.md", "requirements.txt", SPACE_MODELS_FILE, "contextmatch/__init__.py",
                 "configuration_contextmatch.py", "modeling_contextmatch.py", "examples/index.json"),
}
MODEL_KEYS = ("library_name", "pipeline_tag", "license", "base_model", "datasets", "metrics", "eval_results")


def folder_files(folder: Path) -> list[tuple[str, int]]:
    """``(relative path, bytes)`` of every file under ``folder``, sorted."""
    folder = Path(folder)
    return sorted((p.relative_to(folder).as_posix(), p.stat().st_size) for p in folder.rglob("*") if p.is_file())


def stray_files(files: list[str]) -> list[str]:
    """Files that should never be uploaded.

    >>> stray_files(["app.py", "contextmatch/__pycache__/x.cpython-311.pyc", ".DS_Store"])
    ['contextmatch/__pycache__/x.cpython-311.pyc', '.DS_Store']
    """
    import fnmatch

    return [f for f in files if any(fnmatch.fnmatch(part, pattern) for part in f.split("/") for pattern in IGNORED)]


def foreign_references(text: str, namespace: str, names: list[str]) -> list[str]:
    r"""Hub ids ``<other>/<artifact name>`` that name another namespace than the release's, where cards and JSON
    name hub ids: quoted, or as YAML values (local paths such as ``../Skill-XL`` or `` `metrics/x` `` are not ids).

    >>> text = 'load("my-org/Skill-XL")\n- old/skill_ranking\ntype: TechWolf/Skill-XL\n"../Skill-XL" `x/Skill-XL`'
    >>> foreign_references(text, "my-org", ["Skill-XL", "skill_ranking"])
    ['old/skill_ranking']
    """
    pattern = rf"(?:(?<=[\"'])|(?<=- )|(?<=: ))([A-Za-z0-9][\w.-]*)/({'|'.join(map(re.escape, names))})(?![\w-])"
    return [f"{owner}/{name}" for owner, name in re.findall(pattern, text)
            if owner not in (namespace, *UPSTREAM_NAMESPACES)]


def card_problems(artifact: dict, folder: Path, namespace: str, ids: dict[str, str]) -> list[str]:
    """Problems of an artifact's README.md: metadata that huggingface_hub cannot parse, or that lacks what the hub
    needs for this kind of repository."""
    from huggingface_hub import DatasetCard, ModelCard, SpaceCard

    kind = {"model": ModelCard, "dataset": DatasetCard, "space": SpaceCard}[artifact["repo_type"]]
    text = (folder / "README.md").read_text(encoding="utf-8")
    try:
        data = kind(text).data
    except Exception as err:  # yaml and huggingface_hub raise various errors for bad metadata
        return [f"{artifact['name']}/README.md: metadata does not parse ({_one_line(err)})"]
    role, problems = artifact["role"], []
    if artifact["repo_type"] == "model":
        problems += [f"{artifact['name']}/README.md lacks {key}" for key in MODEL_KEYS if not getattr(data, key, None)]
    if artifact["repo_type"] == "space":
        for key in ("sdk", "app_file"):
            if not data.get(key):
                problems.append(f"{artifact['name']}/README.md lacks {key}")
        if data.get("app_file") and not (folder / data.get("app_file")).exists():
            problems.append(f"{artifact['name']}: app_file {data.get('app_file')} is missing")
    if role == DATASET.role:
        problems += dataset_problems(data.to_dict(), folder, artifact["name"])
    if role == SPACE.role:
        expected = {"models": [ids[SKILL_MODEL.name], ids[TITLE_MODEL.name]], "datasets": [ids[DATASET.name]]}
        problems += [f"{artifact['name']}/README.md: {key} is {data.get(key)}, expected {value}"
                     for key, value in expected.items() if data.get(key) != value]
    if role != SPACE.role and f'"{artifact["repo_id"]}"' not in text:
        problems.append(f"{artifact['name']}/README.md does not show how to load \"{artifact['repo_id']}\"")
    return problems


def dataset_problems(meta: dict, folder: Path, name: str) -> list[str]:
    """A dataset card needs ``configs`` whose files exist and ``dataset_info``; the folder no loading script."""
    problems = [f"{name}/README.md lacks {key}" for key in ("configs", "dataset_info", "license") if not meta.get(key)]
    for config in meta.get("configs") or []:
        data_files = config.get("data_files", [])
        for files in [data_files] if isinstance(data_files, (str, dict)) else data_files:
            paths = files.get("path", []) if isinstance(files, dict) else files
            for path in [paths] if isinstance(paths, str) else paths:
                if not list(folder.glob(path)):
                    problems.append(f"{name}: config {config.get('config_name')} names missing files {path}")
    script_name = name.lower().replace("-", "_")
    scripts = [p.name for p in folder.glob("*.py") if p.stem.lower().replace("-", "_") == script_name]
    return problems + [f"{name}/{script} would be read as a loading script" for script in scripts]


def requirement_problems(lines: list[str], name: str) -> list[str]:
    """Every requirement of a Space must be pinned (``==``).

    >>> requirement_problems(["# pins", "--extra-index-url https://x", "torch==2.13.0", "tqdm"], "demo")
    ['demo/requirements.txt: tqdm is not pinned']
    """
    return [f"{name}/requirements.txt: {line.strip()} is not pinned" for line in lines
            if line.strip() and not line.lstrip().startswith(("#", "-")) and "==" not in line]


def local_path_leaks(folder: Path, markers: tuple[str, ...]) -> list[str]:
    """Files (outside a bundled library) that name local paths: cards, text and JSON that mention ``markers`` (paths
    of this machine), JSON values and safetensors metadata that are absolute paths of any machine."""
    from safetensors import safe_open

    leaks = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        name = f"{folder.name}/{relative.as_posix()}"
        if relative.parts[0] == "contextmatch" or not path.is_file():
            continue
        if path.suffix == ".safetensors":
            with safe_open(path, "pt") as weights:
                leaks += [f"{name} metadata names {leak}" for leak in local_paths(weights.metadata() or {})]
            continue
        if path.suffix not in (".json", ".md", ".txt"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        leaks += [f"{name} mentions {marker}" for marker in markers if marker in text]
        if path.suffix == ".json":
            try:
                leaks += [f"{name} names {leak}" for leak in local_paths(json.loads(text))]
            except ValueError:
                leaks.append(f"{name} is not valid JSON")
    return leaks


def space_problems(folder: Path, release_dir: Path, ids: dict[str, str]) -> list[str]:
    """The demo Space's ``release.json`` must name the release's models and their folders, its requirements pins."""
    problems = []
    if (folder / SPACE_MODELS_FILE).is_file():
        models = json.loads((folder / SPACE_MODELS_FILE).read_text(encoding="utf-8"))
        for key, artifact in (("skill_model", SKILL_MODEL), ("title_model", TITLE_MODEL)):
            entry = models.get(key, {})
            if entry.get("hub_id") != ids[artifact.name]:
                problems.append(f"{folder.name}/{SPACE_MODELS_FILE}: {key} is {entry.get('hub_id')}, expected "
                                f"{ids[artifact.name]}")
            if (folder / entry.get("local", "-")).resolve() != (release_dir / artifact.name).resolve():
                problems.append(f"{folder.name}/{SPACE_MODELS_FILE}: {key} does not point to ../{artifact.name}")
    if (folder / "requirements.txt").is_file():
        lines = (folder / "requirements.txt").read_text(encoding="utf-8").splitlines()
        problems += requirement_problems(lines, folder.name)
    return problems


def artifact_problems(release_dir: Path, artifact: dict, namespace: str, ids: dict[str, str]) -> list[str]:
    """Files, card, cross-references and local paths of one artifact folder."""
    name, folder = artifact["name"], release_dir / artifact["name"]
    if not folder.is_dir():
        return [f"{folder} is missing"]
    files = folder_files(folder)
    problems = [f"{name}/{file} is missing" for file in REQUIRED_FILES[artifact["role"]]
                if not (folder / file).is_file()]
    problems += [f"{name}/{file} should not be uploaded" for file in stray_files([file for file, _ in files])]
    problems += [f"{name}/{file} is {human_size(size)}, over the hub's file limit" for file, size in files
                 if size > HUB_FILE_LIMIT]
    if (folder / "README.md").is_file():
        problems += card_problems(artifact, folder, namespace, ids)
    for file_name in ("README.md", SPACE_MODELS_FILE):
        if (folder / file_name).is_file():
            text = (folder / file_name).read_text(encoding="utf-8")
            problems += [f"{name}/{file_name} names {ref}, not {namespace}/..."
                         for ref in foreign_references(text, namespace, list(ids))]
    problems += local_path_leaks(folder, tuple(dict.fromkeys([sys.prefix, str(REPO_DIR), "site-packages"])))
    if artifact["role"] == SPACE.role:
        problems += space_problems(folder, release_dir, ids)
    return problems


def static_problems(release_dir: Path, current: dict) -> list[str]:
    """Everything a release must satisfy that needs no model loading."""
    problems = []
    if current.get("contextmatch_version") != __version__:
        problems.append(f"built with contextmatch {current.get('contextmatch_version')}, this is {__version__}: "
                        "rebuild the release")
    ids = {a["name"]: a["repo_id"] for a in current["artifacts"]}
    for artifact in current["artifacts"]:
        problems += artifact_problems(Path(release_dir), artifact, current["namespace"], ids)
    return problems


# -- loaders: each loads an artifact from its folder as a hub user would, and says what it got ----------------------
def load_skill_model(folder: Path) -> str:
    """With remote code (AutoModel) and without (SentenceTransformer, as WorkRB loads it): the same label vectors."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(folder), trust_remote_code=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=True)
    labels = ["PostgreSQL", "provide mentorship"]
    with torch.inference_mode():
        skills = model.embed_skill_labels(tokenizer, labels)
        scores = model.score_sentences(tokenizer, ["You will mentor junior developers."], skills)
    if scores.shape != (1, 2) or not torch.isfinite(scores).all() or scores[0, 1] <= scores[0, 0]:
        raise ValueError(f"unexpected scores {scores.tolist()}")
    st = SentenceTransformer(str(folder), device="cpu")
    if not torch.allclose(st.encode(labels, convert_to_tensor=True).cpu(), skills.cpu(), atol=1e-5):
        raise ValueError("SentenceTransformer label vectors differ from the model's")
    return (f"AutoModel.from_pretrained: {type(model).__name__} ({next(model.parameters()).dtype}); "
            f"SentenceTransformer: {' + '.join(type(module).__name__ for module in st)}")


def load_title_model(folder: Path) -> str:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    titles = model.encode(["sr. java dev"], task="title")
    skills = model.encode(["java, spring, sql"], task="skills")
    if titles.shape != skills.shape or titles.shape[0] != 1:
        raise ValueError(f"unexpected shapes {titles.shape} and {skills.shape}")
    return f"SentenceTransformer: title and skills heads, {titles.shape[1]}-d"


def load_dataset_folder(folder: Path) -> str:
    import datasets
    from huggingface_hub import DatasetCard

    datasets.disable_progress_bars()
    info = {c["config_name"]: c for c in DatasetCard.load(folder / "README.md").data.to_dict()["dataset_info"]}
    loaded = []
    with tempfile.TemporaryDirectory() as cache:
        for name, config in info.items():
            for split in config["splits"]:
                rows = datasets.load_dataset(str(folder), name, split=split["name"], cache_dir=cache).num_rows
                if rows != split["num_examples"]:
                    raise ValueError(f"{name}/{split['name']} has {rows} rows, the card says {split['num_examples']}")
                loaded.append(f"{name}/{split['name']} {rows:,} rows")
    return "load_dataset: " + ", ".join(loaded)


def load_metric_folder(folder: Path) -> str:
    import evaluate

    module = evaluate.load(str(folder))
    result = module.compute(predictions=[["sql", "python"]], references=[["python"]], k_values=[1, 2])
    if result.get("mrr") != 0.5:
        raise ValueError(f"unexpected result {result}")
    return f"evaluate.load: {module.name}"


def load_space_app(folder: Path) -> str:
    """Import the Space's app.py and build its Blocks (it loads the skill model from the release's folder)."""
    spec = importlib.util.spec_from_file_location(f"contextmatch_release_space_{abs(hash(folder))}", folder / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    demo = app.build_demo()
    for key, artifact in (("skill_model", SKILL_MODEL), ("title_model", TITLE_MODEL)):
        if Path(app.released_model(key)) != (folder.parent / artifact.name).resolve():
            raise ValueError(f"{key} resolves to {app.released_model(key)}, not ../{artifact.name}")
    return f"app.build_demo: {type(demo).__name__} on ../{SKILL_MODEL.name} and ../{TITLE_MODEL.name}"


LOADERS = {SKILL_MODEL.role: load_skill_model, TITLE_MODEL.role: load_title_model, DATASET.role: load_dataset_folder,
           METRIC.role: load_metric_folder, SPACE.role: load_space_app}


def check_release(release_dir: str | Path, load: bool = True, log: Callable[[str], None] = print) -> list[str]:
    """Problems of a release (empty when it is ready to upload): :func:`static_problems`, then each loader."""
    release_dir = Path(release_dir)
    current = read_manifest(release_dir)
    problems = static_problems(release_dir, current)
    if problems or not load:
        return problems
    for artifact in current["artifacts"]:
        try:
            log(f"  loaded {artifact['name']}: {LOADERS[artifact['role']](release_dir / artifact['name'])}")
        except Exception as err:  # any failure of a loader is a problem of the release
            problems.append(f"{artifact['name']} does not load: {_one_line(err)}")
    return problems


# -- publishing ------------------------------------------------------------------------------------------------------
def _one_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = lines[0] if lines else type(err).__name__
    return text if len(text) <= 300 else text[:299] + "…"


def _hub(what: str, call, *args, **kwargs):
    """Run a huggingface_hub call; a network, authentication or hub error becomes a one-line ReleaseError."""
    from huggingface_hub.errors import HTTPError

    try:
        return call(*args, **kwargs)
    except (OSError, ValueError, HTTPError) as err:
        raise ReleaseError(f"{what}: {type(err).__name__}: {_one_line(err)}") from None


def hub_token() -> str:
    import huggingface_hub

    token = huggingface_hub.get_token()
    if not token:
        raise ReleaseError("no Hugging Face token: run `hf auth login` or set HF_TOKEN (write access is needed)")
    return token


def plan(release_dir: Path, current: dict) -> list[str]:
    """What an upload sends: per repository its URL, files and sizes."""
    from huggingface_hub import constants

    lines = []
    for artifact in current["artifacts"]:
        files = folder_files(release_dir / artifact["name"])
        total = human_size(sum(size for _, size in files))
        url = hub_url(artifact["repo_id"], artifact["repo_type"], constants.ENDPOINT)
        lines.append(f"{artifact['repo_type']:<8} {artifact['repo_id']}  {url}  ({len(files)} files, {total}, "
                     f"tag {current['tag']})")
        lines += [f"    {name}  {human_size(size)}" for name, size in files]
    return lines


def upload(release_dir: Path, current: dict, token: str, log: Callable[[str], None] = print) -> list[str]:
    """Create each repository, upload its folder and tag it; returns the URLs. Stops before any upload when a
    repository already holds the release's tag."""
    import huggingface_hub

    tag = current["tag"]
    for artifact in current["artifacts"]:
        rid, kind = artifact["repo_id"], artifact["repo_type"]
        try:
            refs = huggingface_hub.list_repo_refs(rid, repo_type=kind, token=token)
        except huggingface_hub.errors.RepositoryNotFoundError:
            continue
        except (OSError, ValueError, huggingface_hub.errors.HTTPError) as err:
            raise ReleaseError(f"cannot read {rid}: {type(err).__name__}: {_one_line(err)}") from None
        if tag in [t.name for t in refs.tags]:
            raise ReleaseError(f"{rid} already has tag {tag}: raise the package version and rebuild the release")
    urls = []
    for artifact in current["artifacts"]:
        rid, kind = artifact["repo_id"], artifact["repo_type"]
        options = {"space_sdk": "gradio"} if kind == "space" else {}
        url = _hub(f"cannot create {rid}", huggingface_hub.create_repo, rid, repo_type=kind, exist_ok=True,
                   token=token, **options)
        _hub(f"cannot upload to {rid}", huggingface_hub.upload_folder, repo_id=rid, repo_type=kind,
             folder_path=str(release_dir / artifact["name"]), token=token, ignore_patterns=list(IGNORED),
             commit_message=f"contextmatch {current['contextmatch_version']}")
        _hub(f"cannot tag {rid}", huggingface_hub.create_tag, rid, tag=tag, repo_type=kind, token=token,
             tag_message=f"contextmatch {current['contextmatch_version']}")
        log(f"{artifact['role']:<12} {url}")
        urls.append(str(url))
    return urls


def publish(release_dir: str | Path, namespace: str, dry_run: bool = False,
            log: Callable[[str], None] = print) -> list[str]:
    """Check a release offline and upload it to ``namespace`` (with ``dry_run``, only check and list); returns the
    URLs uploaded to. Without a token or network it raises a one-line :class:`ReleaseError` before any check."""
    release_dir = Path(release_dir)
    check_namespace(namespace)
    read_manifest(release_dir)
    token = None
    if not dry_run:
        import huggingface_hub

        token = hub_token()
        _hub("cannot reach the Hugging Face Hub", huggingface_hub.whoami, token=token)
    old = set_namespace(release_dir, namespace)
    if old:
        log(f"cross-references moved from {old}/... to {namespace}/...")
    current = read_manifest(release_dir)
    problems = check_release(release_dir, log=log)
    if problems:
        raise ReleaseError(f"{len(problems)} problem(s) in {release_dir}: " + "; ".join(problems))
    log(f"release {current['contextmatch_version']} in {release_dir}: every check passed")
    if dry_run:
        for line in plan(release_dir, current):
            log(line)
        log("dry run: nothing was uploaded")
        return []
    return upload(release_dir, current, token, log)
