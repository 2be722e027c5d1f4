"""Fitting the occupation prior (:mod:`contextmatch.titles.prior`) on a job board's labelled titles.

A prior that fits one board misleads on titles unlike it, so :func:`fit_prior` chooses weight and scale on the
board's held-out titles under a budget: on held-out ESCO labels (occupations in ESCO's own, even mix) the prior may
cost at most ``max_esco_cost`` MRR.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..titles.prior import count_uris, write_prior


WEIGHTS = (0.0, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08)  # searched by choose_prior
SCALES = (1.0, 5.0, 20.0, 50.0)
MAX_ESCO_COST = 0.005  # MRR the prior may cost on held-out ESCO labels (half a point)


def choose_prior(scores: torch.Tensor, gold: torch.Tensor, counts: torch.Tensor, esco_scores: torch.Tensor,
                 esco_gold: torch.Tensor, max_esco_cost: float = MAX_ESCO_COST, weights=WEIGHTS,
                 scales=SCALES) -> tuple[float, float, list[dict]]:
    """The (weight, scale) of the prior ``weight * log(1 + counts / scale)`` with the best MRR on the board's
    held-out titles (``scores``, ``gold``) among those costing at most ``max_esco_cost`` MRR on held-out ESCO labels
    (``esco_scores``, ``esco_gold``), and the MRR pair of every candidate; ties go to the smaller weight.

    >>> scores = torch.tensor([[0.50, 0.49], [0.30, 0.60]]); counts = torch.tensor([0.0, 9.0])
    >>> esco = torch.tensor([[0.52, 0.50]])  # an ESCO label of occupation 0: a strong prior would flip it
    >>> choose_prior(scores, torch.tensor([1, 1]), counts, esco, torch.tensor([0]), 0.0, (0.0, 0.005, 0.1), (1.0,))[:2]
    (0.005, 1.0)
    """
    from ..evaluation.titles import rank_metrics

    mrr = lambda s, g: rank_metrics(s, g, k_values=())["mrr"]  # noqa: E731
    esco_base = mrr(esco_scores, esco_gold)
    table = []
    for scale in scales:
        prior = torch.log1p(counts / scale)
        for weight in weights:
            table.append({"weight": weight, "scale": scale, "mrr": mrr(scores + weight * prior, gold),
                          "esco_mrr": mrr(esco_scores + weight * prior, esco_gold)})
    allowed = [row for row in table if row["esco_mrr"] >= esco_base - max_esco_cost - 1e-9]
    best = max(allowed, key=lambda row: (row["mrr"], -row["weight"], -row["scale"]))
    return float(best["weight"]), float(best["scale"]), table


def esco_heldout_scores(model, data, centroid_weight: float) -> torch.Tensor:
    """(queries, occupations) scores of a title-training validation split's held-out ESCO labels (``data``: a
    :class:`~contextmatch.training.title_data.TitleData`) against the remaining labels, scored as
    :class:`~contextmatch.titles.normalizer.TitleNormalizer` scores (best label + centroid), without a prior."""
    from ..titles.normalizer import max_per_group

    index = model.encode_titles(data.val_labels, batch_size=256)
    owners = torch.tensor(data.val_label_owners)
    centroids = torch.zeros((data.n_occupations, index.shape[1])).index_add_(0, owners, index)
    centroids = torch.nn.functional.normalize(centroids, dim=-1)
    queries = model.encode_titles(data.val_queries, batch_size=256)
    parts = []
    for start in range(0, len(queries), 512):
        batch = queries[start:start + 512]
        best = max_per_group(batch @ index.T, owners, data.n_occupations)[0]
        parts.append((best + centroid_weight * batch @ centroids.T) / (1 + centroid_weight))
    return torch.cat(parts)


def fit_prior(folder: str | Path, pairs: str | Path, esco_heldout, title_column: str = "vacancyTitle",
              uri_column: str = "conceptUri", max_esco_cost: float = MAX_ESCO_COST, write: bool = True,
              progress: bool = False) -> dict:
    """Count the occupations of the ``train`` side of a labelled titles file and choose weight and scale
    (:func:`choose_prior`) on its ``select`` side and on ``esco_heldout`` (a
    :class:`~contextmatch.training.title_data.TitleData` whose validation labels the model never saw), with the folder's
    title model and the normalizer's default scoring; with ``write``, store them in ``folder`` as
    ``occupation_prior.json``. Returns weight, scale, the table of candidates and the counts."""
    from ..evaluation.title_benchmarks import read_title_benchmark
    from ..titles.normalizer import TitleNormalizer

    train = read_title_benchmark(pairs, title_column, uri_column, "train")
    select = read_title_benchmark(pairs, title_column, uri_column, "select")
    normalizer = TitleNormalizer(str(folder), prior_weight=0.0)
    counts, _ = count_uris(train.uris, set(train.uris))
    uris = [o.uri for o in normalizer.occupations]
    position = {uri: i for i, uri in enumerate(uris)}
    scores = normalizer.score_occupations(select.titles, progress=progress)
    gold = torch.tensor([position[uri] for uri in select.uris])
    esco_scores = esco_heldout_scores(normalizer.model, esco_heldout, normalizer.centroid_weight)
    raw = torch.tensor([float(counts.get(uri, 0)) for uri in uris])
    weight, scale, table = choose_prior(scores, gold, raw, esco_scores,
                                        torch.tensor(esco_heldout.val_owners), max_esco_cost)
    chosen = next(row for row in table if row["weight"] == weight and row["scale"] == scale)
    source = {"file": Path(pairs).name, "split": "train", "rows": train.n_queries, "dropped_rows": train.n_dropped,
              "chosen_on": f"the best MRR on the {select.n_queries:,} select titles among the weights and scales "
                           f"that cost at most {max_esco_cost} MRR on {len(esco_heldout.val_queries):,} held-out ESCO "
                           f"labels", "select_mrr": chosen["mrr"], "esco_mrr": chosen["esco_mrr"],
              "without_prior": {"select_mrr": table[0]["mrr"], "esco_mrr": table[0]["esco_mrr"]}}
    if write:
        write_prior(folder, counts, weight, scale, source)
    return {"weight": weight, "scale": scale, "table": table, "counts": counts, "source": source}
