"""A release's names: the artifacts and their hub ids, the manifest, and retargeting a built release.

A release is one folder per artifact (:data:`ARTIFACTS`), ready to push to the Hugging Face Hub, plus
``manifest.json``: :mod:`.build` writes it, :mod:`.check` validates it offline, :mod:`.publish` uploads it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .. import __version__

MANIFEST = "manifest.json"
SPACE_MODELS_FILE = "release.json"  # in the Space folder: the models spaces_demo/app.py loads
DEFAULT_NAMESPACE = "contextmatch"
UPSTREAM_NAMESPACES = ("TechWolf",)  # upstream hub ids that share a name with an artifact (TechWolf/Skill-XL)
IGNORED = ("__pycache__", "*.pyc", ".DS_Store", ".git", ".ipynb_checkpoints", ".pytest_cache")
TORCH_CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"
APP_REQUIREMENTS = ("pandas",)  # imported by the Space app but not by the library
HUB_FILE_LIMIT = 50 * 10**9  # bytes: the hub's largest file
SOURCE_PATHS = ("model_cards/contextmatch.md", "results/skills", "results/titles", "skill_xl/README.md",
                "metrics/skill_ranking/skill_ranking.py", "spaces_demo/app.py", "spaces_demo/callbacks.py")


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


def manifest(namespace: str, version: str = __version__) -> dict:
    return {"contextmatch_version": version, "tag": release_tag(version), "namespace": namespace,
            "artifacts": [{"name": a.name, "repo_type": a.repo_type, "role": a.role, "repo_id": repo_id(namespace, a)}
                          for a in ARTIFACTS]}


def folder_files(folder: Path) -> list[tuple[str, int]]:
    """``(relative path, bytes)`` of every file under ``folder``, sorted."""
    folder = Path(folder)
    return sorted((p.relative_to(folder).as_posix(), p.stat().st_size) for p in folder.rglob("*") if p.is_file())


def one_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = lines[0] if lines else type(err).__name__
    return text if len(text) <= 300 else text[:299] + "…"


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
