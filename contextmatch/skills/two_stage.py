"""Two-stage ConTeXT scoring for label spaces far larger than ESCO: a cheap candidate filter, then exact scores.

Stage 1 keeps M candidate labels per sentence: those whose unit vectors have the highest cosine with the sentence's
mean-pooled vector, found by one matrix product or, for large label sets, by an approximate nearest-neighbour index
(faiss HNSW or IVF; optional: ``pip install "contextmatch[ann]"``). Stage 2 scores only the candidates, exactly (token
attention and all). The filter is a heuristic, unlike the cosine bound of :mod:`contextmatch.skills.topk`, which is
exact but reads every label: :func:`recall_at_k` measures how much of the exact top k it keeps.
"""

from __future__ import annotations

import torch

from modeling_contextmatch import mean_pool

from .topk import candidate_scores, unit_rows

INDEX_KINDS = ("exact", "hnsw", "ivf")


def pooled_queries(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Unit mean-pooled sentence vectors (batch, dim): the stage-1 queries.

    >>> pooled_queries(torch.tensor([[[3.0, 0.0], [3.0, 8.0], [9.0, 9.0]]]), torch.tensor([[1, 1, 0]]))
    tensor([[0.6000, 0.8000]])
    """
    return unit_rows(mean_pool(token_embeddings.float(), attention_mask))


def exact_candidates(queries: torch.Tensor, unit_labels: torch.Tensor, m: int, chunk: int = 65536) -> torch.Tensor:
    """Indices (batch, m) of the labels with the highest cosine to each query, best first; labels are read
    ``chunk`` at a time, so no (batch x labels) matrix larger than (batch x chunk) exists.

    >>> labels = unit_rows(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    >>> exact_candidates(torch.tensor([[1.0, 0.1]]), labels, 2, chunk=2)
    tensor([[0, 2]])
    """
    m = min(m, unit_labels.shape[0])
    best_values = torch.full((queries.shape[0], 0), float("-inf"))
    best_indices = torch.zeros((queries.shape[0], 0), dtype=torch.long)
    for start in range(0, unit_labels.shape[0], chunk):
        sims = queries.float() @ unit_labels[start : start + chunk].float().T
        top = sims.topk(min(m, sims.shape[1]), dim=1)
        values = torch.cat([best_values, top.values], dim=1)
        indices = torch.cat([best_indices, top.indices + start], dim=1)
        keep = values.topk(min(m, values.shape[1]), dim=1).indices
        best_values, best_indices = values.gather(1, keep), indices.gather(1, keep)
    return best_indices


class LabelIndex:
    """Nearest neighbours by cosine over unit label vectors: ``exact`` (matrix products), or faiss ``hnsw`` (graph)
    or ``ivf`` (clusters; ``probes`` of them searched).

    >>> index = LabelIndex(unit_rows(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])))
    >>> index.search(torch.tensor([[0.1, 1.0]]), 2)
    tensor([[1, 2]])
    """

    def __init__(self, unit_labels: torch.Tensor, kind: str = "exact", links: int = 32, build_effort: int = 80,
                 lists: int | None = None, probes: int = 16):
        if kind not in INDEX_KINDS:
            raise ValueError(f"unknown index kind {kind!r}: choose one of {', '.join(INDEX_KINDS)}")
        self.kind, self.size, self.probes = kind, unit_labels.shape[0], probes
        self.unit_labels = unit_labels.float().contiguous()
        if kind == "exact":
            self.index = None
            return
        faiss = _faiss()
        vectors = self.unit_labels.numpy()
        if kind == "hnsw":
            self.index = faiss.IndexHNSWFlat(vectors.shape[1], links, faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efConstruction = build_effort
        else:
            lists = lists or max(1, int(self.size**0.5))
            self.index = faiss.IndexIVFFlat(faiss.IndexFlatIP(vectors.shape[1]), vectors.shape[1], lists,
                                            faiss.METRIC_INNER_PRODUCT)
            self.index.train(vectors)
        self.index.add(vectors)

    def search(self, queries: torch.Tensor, m: int, effort: int | None = None) -> torch.Tensor:
        """Indices (batch, m) of the (approximately, for faiss) nearest labels to each unit query, best first.
        ``effort`` is HNSW's search breadth (default ``max(m, 64)``); IVF searches ``probes`` clusters."""
        m = min(m, self.size)
        if self.index is None:
            return exact_candidates(queries, self.unit_labels, m)
        if self.kind == "hnsw":
            self.index.hnsw.efSearch = max(effort or 0, m, 64)
        else:
            self.index.nprobe = self.probes
        _, found = self.index.search(queries.float().contiguous().numpy(), m)
        found = torch.from_numpy(found).long()
        missing = found < 0  # fewer than m reached: repeat the best hit (scored once more, same score)
        return torch.where(missing, found[:, :1].expand_as(found), found)


def _faiss():
    try:
        import faiss
    except ImportError as err:
        raise ValueError('an approximate index needs faiss: pip install "contextmatch[ann]"') from err
    return faiss


def two_stage_topk(token_embeddings: torch.Tensor, attention_mask: torch.Tensor, label_embeddings: torch.Tensor,
                   k: int, m: int, temperature: float = 1.0,
                   index: LabelIndex | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top-k labels of each sentence among its M pooled-cosine candidates, scored exactly: scores and indices
    (batch, k), attention (batch, tokens, k). With M = all labels it is the exact top k.

    >>> from modeling_contextmatch import contextmatch_scores
    >>> gen = torch.Generator().manual_seed(0)
    >>> x, labels = torch.randn(2, 5, 8, generator=gen), torch.randn(300, 8, generator=gen)
    >>> mask = torch.tensor([[1] * 5, [1] * 3 + [0] * 2])
    >>> values, indices, _ = two_stage_topk(x, mask, labels, k=10, m=300)
    >>> torch.equal(indices, contextmatch_scores(x, mask, labels).topk(10).indices)
    True
    """
    queries = pooled_queries(token_embeddings, attention_mask)
    if index is None:
        candidates = exact_candidates(queries, unit_rows(label_embeddings), m)
    else:
        candidates = index.search(queries, m)
    scores, alpha = candidate_scores(token_embeddings, attention_mask, label_embeddings, candidates, temperature)
    scores = _drop_repeats(scores, candidates)
    top = scores.topk(min(k, candidates.shape[1]), dim=1)
    length = token_embeddings.shape[1]
    return top.values, candidates.gather(1, top.indices), alpha.gather(2, top.indices.unsqueeze(1).expand(-1, length, -1))


def _drop_repeats(scores: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """Scores with every repeated candidate after its first occurrence set to -inf.

    >>> _drop_repeats(torch.tensor([[0.5, 0.2, 0.5]]), torch.tensor([[4, 7, 4]]))
    tensor([[0.5000, 0.2000,   -inf]])
    """
    ordered, order = candidates.sort(dim=1, stable=True)
    repeated = torch.zeros_like(candidates, dtype=torch.bool)
    repeated[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    mask = torch.zeros_like(repeated).scatter(1, order, repeated)
    return scores.masked_fill(mask, float("-inf"))


def recall_at_k(found: torch.Tensor, exact: torch.Tensor) -> float:
    """Mean share of each row's exact top-k indices that ``found`` (batch, any width) contains.

    >>> recall_at_k(torch.tensor([[1, 2, 3], [5, 6, 7]]), torch.tensor([[3, 2, 9], [5, 6, 7]]))
    0.8333
    """
    hits = (exact.unsqueeze(2) == found.unsqueeze(1)).any(dim=2).float().mean(dim=1)
    return round(float(hits.mean()), 4)
