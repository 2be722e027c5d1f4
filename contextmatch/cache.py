"""The user cache: skill embedding matrices keyed by model weights and ESCO version (never in site-packages)."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def cache_dir() -> Path:
    """``$CONTEXTMATCH_CACHE``, else ``$XDG_CACHE_HOME/contextmatch``, else ``~/.cache/contextmatch``."""
    root = os.environ.get("CONTEXTMATCH_CACHE")
    if not root:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "contextmatch"
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def model_fingerprint(model: torch.nn.Module) -> str:
    """A digest of every parameter and buffer value, so a retrained or changed model never reuses a stale cache."""
    digest = hashlib.blake2b(digest_size=12)
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def labels_fingerprint(labels: list[str], *settings) -> str:
    """A digest of an ordered label list and the settings that change their embeddings.

    >>> labels_fingerprint(["a", "b"], 64) == labels_fingerprint(["a", "b"], 64) != labels_fingerprint(["b", "a"], 64)
    True
    """
    digest = hashlib.blake2b(digest_size=8)
    for item in [*labels, *map(str, settings)]:
        digest.update(item.encode() + b"\0")
    return digest.hexdigest()


def skill_matrix(model, tokenizer, labels: list[str], esco_version: str, batch_size: int = 256,
                 compute: bool = True) -> torch.Tensor | None:
    """The (labels, dim) skill embedding matrix of ``model``, loaded from the cache or computed and cached
    (``compute=False``: ``None`` when it is not cached)."""
    key = f"{model_fingerprint(model)}-{labels_fingerprint(labels, model.config.max_skill_length)}"
    path = cache_dir() / "skill_embeddings" / f"esco-{esco_version}-{key}.safetensors"
    if path.exists():
        return load_file(path)["embeddings"]
    if not compute:
        return None
    parts = []
    from tqdm.auto import tqdm

    progress = tqdm(total=len(labels), desc="Encoding ESCO skills (once per model)", unit="skill",
                    disable=len(labels) < 2000, file=sys.stderr)
    order = sorted(range(len(labels)), key=lambda i: len(labels[i]))  # similar lengths batch together
    for start in range(0, len(order), batch_size):
        batch = [labels[i] for i in order[start : start + batch_size]]
        parts.append(model.embed_skill_labels(tokenizer, batch, batch_size=batch_size).cpu())
        progress.update(len(batch))
    progress.close()
    embeddings = torch.empty((len(labels), model.encoder.config.hidden_size))
    if parts:
        embeddings[torch.tensor(order)] = torch.cat(parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    save_file({"embeddings": embeddings.contiguous()}, str(partial), metadata={"esco_version": esco_version})
    partial.replace(path)  # atomic: a killed run never leaves a half-written matrix
    return embeddings


def label_matrix(model, tokenizer, labels, esco_version: str,
                 encode_alternatives: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The (labels, dim) matrix of a :class:`contextmatch.skills.labels.LabelTable`: the preferred labels' skill matrix
    (the same cache entry as :func:`skill_matrix` of the skill labels) followed by the alternative labels' matrix,
    and ``None``. With ``encode_alternatives=False`` and no cached alternative matrix, the alternative rows are zeros
    and the second value (labels,) marks them not encoded yet, for the caller to encode the few it needs."""
    preferred = skill_matrix(model, tokenizer, labels.labels[: labels.skills], esco_version)
    alternatives = skill_matrix(model, tokenizer, labels.alt_labels, esco_version, compute=encode_alternatives)
    if alternatives is not None:
        return torch.cat([preferred, alternatives]), None
    missing = torch.zeros(len(labels.labels), dtype=torch.bool)
    missing[labels.skills :] = True
    return torch.cat([preferred, preferred.new_zeros((len(labels.alt_labels), preferred.shape[1]))]), missing
