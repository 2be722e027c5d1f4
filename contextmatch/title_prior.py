"""An occupation prior for title normalization: how often a job board's titles fall in each ESCO occupation.

Vacancy titles are far from uniform over ESCO's 3,008 occupations (software developers, sales assistants and factory
hands alone make up a tenth of the JobBERT titles), and the encoder cannot know a board's mix. A prior learnt from
labelled titles adds ``weight * log(1 + n)`` to each occupation's score, ``n`` being the occupation's number of
labelled titles. It lives beside the model as ``occupation_prior.json`` (counts by URI, the weight, where they came
from), never inside the label vectors, so ``TitleNormalizer(prior_weight=0)`` or ``normalize --no-prior`` turns it
off, and a user can swap in counts from their own board (``normalize --prior FILE``) without retraining.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path

import torch

PRIOR_FILE = "occupation_prior.json"
WEIGHTS = (0.0, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.06, 0.08)  # searched by choose_weight


def log_counts(counts: dict[str, int], uris: list[str]) -> torch.Tensor:
    """``log(1 + n)`` per occupation, in the order of ``uris`` (0 for an occupation without titles).

    >>> log_counts({"b": 3}, ["a", "b"]).tolist() == [0.0, float(torch.log(torch.tensor(4.0)))]
    True
    """
    return torch.log1p(torch.tensor([float(counts.get(uri, 0)) for uri in uris]))


def count_uris(uris: list[str], known: set[str]) -> tuple[dict[str, int], int]:
    """Occupation counts of ``uris`` restricted to ``known`` ones, and the number of rows dropped.

    >>> count_uris(["a", "b", "a", "x"], {"a", "b"})
    ({'a': 2, 'b': 1}, 1)
    """
    kept = [uri for uri in uris if uri in known]
    return dict(collections.Counter(kept)), len(uris) - len(kept)


def choose_weight(scores: torch.Tensor, gold: torch.Tensor, prior: torch.Tensor,
                  weights=WEIGHTS) -> tuple[float, dict[str, float]]:
    """The weight (of ``weights``) whose ``scores + weight * prior`` gives the best MRR on (``scores``, ``gold``),
    with the MRR of every weight; ties go to the smaller weight.

    >>> scores = torch.tensor([[0.50, 0.49], [0.30, 0.60]]); prior = torch.tensor([0.0, 1.0])
    >>> choose_weight(scores, torch.tensor([1, 1]), prior, (0.0, 0.02))[0]
    0.02
    """
    from .title_eval import rank_metrics

    table = {f"{w:g}": rank_metrics(scores + w * prior, gold, k_values=())["mrr"] for w in weights}
    best = max(weights, key=lambda w: (table[f"{w:g}"], -w))
    return float(best), table


def write_prior(folder: str | Path, counts: dict[str, int], weight: float, source: dict) -> Path:
    """Write ``occupation_prior.json`` into a title-model folder."""
    path = Path(folder) / PRIOR_FILE
    record = {"weight": weight, "formula": "score + weight * log(1 + n)", "source": source,
              "n_titles": sum(counts.values()), "counts": dict(sorted(counts.items()))}
    path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return path


def read_prior(folder: str | Path) -> dict | None:
    """The prior stored in a title-model folder, or ``None``."""
    path = Path(folder) / PRIOR_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def fit_prior(folder: str | Path, pairs: str | Path, title_column: str = "vacancyTitle",
              uri_column: str = "conceptUri", write: bool = True, progress: bool = False) -> dict:
    """Count the occupations of the ``train`` side of a labelled titles file, choose the weight on its ``select``
    side (by MRR, with the folder's title model and the normalizer's default scoring) and, with ``write``, store
    both in ``folder`` as ``occupation_prior.json``. Returns the weight, the MRR per weight and the counts."""
    from .title_eval import read_title_benchmark
    from .titles import TitleNormalizer

    train = read_title_benchmark(pairs, title_column, uri_column, "train")
    select = read_title_benchmark(pairs, title_column, uri_column, "select")
    normalizer = TitleNormalizer(str(folder), prior_weight=0.0)
    counts, _ = count_uris(train.uris, set(train.uris))
    position = {o.uri: i for i, o in enumerate(normalizer.occupations)}
    scores = normalizer.score_occupations(select.titles, progress=progress)
    gold = torch.tensor([position[uri] for uri in select.uris])
    weight, table = choose_weight(scores, gold, log_counts(counts, list(position)))
    source = {"file": Path(pairs).name, "split": "train", "rows": train.n_queries, "dropped_rows": train.n_dropped,
              "weight_chosen_on": f"select ({select.n_queries:,} titles), MRR per weight: {table}"}
    if write:
        write_prior(folder, counts, weight, source)
    return {"weight": weight, "mrr_by_weight": table, "counts": counts, "source": source}
