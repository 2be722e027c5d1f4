"""An occupation prior for title normalization: how often a job board's titles fall in each ESCO occupation.

Vacancy titles are far from uniform over ESCO's 3,008 occupations (software developers, sales assistants and factory
hands alone make up a tenth of the JobBERT titles), and the encoder cannot know a board's mix. A prior learnt from
labelled titles adds ``weight * log(1 + n / scale)`` to each occupation's score, ``n`` being the occupation's number
of labelled titles. It lives beside the model as ``occupation_prior.json`` (counts by URI, weight, scale, where they
came from), never inside the label vectors, so ``TitleNormalizer(prior_weight=0)`` or ``normalize --no-prior`` turns it
off, and a user can swap in counts from their own board (``normalize --prior FILE``) without retraining. Fitting it
is :mod:`contextmatch.training.title_prior`.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path

import torch


PRIOR_FILE = "occupation_prior.json"


def log_counts(counts: dict[str, int], uris: list[str], scale: float = 1.0) -> torch.Tensor:
    """``log(1 + n / scale)`` per occupation, in the order of ``uris`` (0 for an occupation without titles).

    >>> log_counts({"b": 3}, ["a", "b"]).tolist() == [0.0, float(torch.log(torch.tensor(4.0)))]
    True
    >>> round(float(log_counts({"b": 20}, ["b"], scale=20.0)), 4)
    0.6931
    """
    return torch.log1p(torch.tensor([float(counts.get(uri, 0)) for uri in uris]) / scale)


def count_uris(uris: list[str], known: set[str]) -> tuple[dict[str, int], int]:
    """Occupation counts of ``uris`` restricted to ``known`` ones, and the number of rows dropped.

    >>> count_uris(["a", "b", "a", "x"], {"a", "b"})
    ({'a': 2, 'b': 1}, 1)
    """
    kept = [uri for uri in uris if uri in known]
    return dict(collections.Counter(kept)), len(uris) - len(kept)


def write_prior(folder: str | Path, counts: dict[str, int], weight: float, scale: float, source: dict) -> Path:
    """Write ``occupation_prior.json`` into a title-model folder."""
    path = Path(folder) / PRIOR_FILE
    record = {"weight": weight, "scale": scale, "formula": "score + weight * log(1 + n / scale)", "source": source,
              "n_titles": sum(counts.values()), "counts": dict(sorted(counts.items()))}
    path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return path


def read_prior(folder: str | Path) -> dict | None:
    """The prior stored in a title-model folder, or ``None``."""
    path = Path(folder) / PRIOR_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
