"""Offline checks of a built release: files, card metadata, cross-references, sizes, then each artifact loaded as a
hub user would load it (:func:`check_release`)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Callable

from .. import __version__
from .artifacts import (DATASET, HUB_FILE_LIMIT, IGNORED, METRIC, SKILL_MODEL, SPACE, SPACE_MODELS_FILE, TITLE_MODEL,
                        UPSTREAM_NAMESPACES, folder_files, human_size, one_line, read_manifest)
from .export import ENCODER_FOLDER, REPO_DIR, local_paths


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
    SPACE.role: ("app.py", "callbacks.py", "README.md", "requirements.txt", SPACE_MODELS_FILE,
                 "contextmatch/__init__.py", "configuration_contextmatch.py", "modeling_contextmatch.py",
                 "examples/index.json"),
}
MODEL_KEYS = ("library_name", "pipeline_tag", "license", "base_model", "datasets", "metrics", "eval_results")


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
        return [f"{artifact['name']}/README.md: metadata does not parse ({one_line(err)})"]
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
        if Path(app.callbacks.released_model(key)) != (folder.parent / artifact.name).resolve():
            raise ValueError(f"{key} resolves to {app.callbacks.released_model(key)}, not ../{artifact.name}")
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
            problems.append(f"{artifact['name']} does not load: {one_line(err)}")
    return problems
