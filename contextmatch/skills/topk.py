"""Exact top-k ConTeXT scoring without the softmax over every skill: a cosine bound picks candidates, exact scores
certify them.

A ConTeXT score is a convex mix of the cosines of a sentence's tokens with the skill, so it never exceeds the
largest of them: ``score(s, e) <= max_j cos(x_j, e)``. One matrix product of unit token vectors with unit skill
vectors (int8 or bfloat16, whichever this machine multiplies faster, with their rounding error folded in) bounds
every skill's score; only the skills with the highest bounds get the (tokens x skills) softmax, and their top k is
exact once the k-th exact score reaches the highest bound left out. Sentences that are not certified are rescored with four times as many candidates, up to all
skills. With the default model, the first 16 candidates certify the top 5 of 553 of the 554 sentences of
``benchmarks/data/sentences.txt``.

A skill may have several labels (:mod:`contextmatch.skills.labels`), its score a monotone aggregate of its labels'
scores (:func:`modeling_contextmatch.aggregate_label_scores`): the same aggregate of the labels' bounds bounds it
(:func:`label_topk`). The product then reads every label vector (7.1 times as many with all ESCO labels):
``scripts/label_bound_speed.py`` measures the cost.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import torch

from modeling_contextmatch import EPS, aggregate_label_scores, contextmatch_scores, token_attention

from .quantize import int8_runs, quantize_rows

# Largest error of a bound computed in each dtype, for unit vectors: bfloat16 rounds inputs and output to 8
# significant bits (|error| <= 3 * 2**-9 with float32 accumulation); float32 leaves summation error only.
# int8 bounds carry their own rounding error (:class:`Int8Rows`): the margin covers float32 arithmetic only.
BOUND_MARGIN = {torch.float32: 1e-4, torch.bfloat16: 2.0**-7, torch.float16: 2.0**-8, torch.int8: 1e-4}
SKILL_CHUNK = 2048  # skills per product in cosine_bounds: the (tokens, chunk) block stays in cache
FULL_SCORING_SHARE = 0.25  # with more candidates than this share of the skills, score them all (chunked)


def bound_dtype(device: torch.device | str = "cpu") -> torch.dtype:
    """bfloat16 where matrix products in it are native (CUDA, CPUs with AVX512-BF16 or AMX), else float32."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16
    if device.type == "cpu" and torch.backends.mkldnn.is_available():
        try:
            return torch.bfloat16 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else torch.float32
        except (AttributeError, RuntimeError):
            return torch.float32
    return torch.float32


def unit_rows(vectors: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit length (zero rows stay zero).

    >>> unit_rows(torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
    tensor([[0.6000, 0.8000],
            [0.0000, 0.0000]])
    """
    vectors = vectors.float()
    return vectors / vectors.norm(dim=-1, keepdim=True).clamp(min=EPS)


@dataclass(frozen=True)
class Int8Rows:
    """Unit rows stored as int8 for :func:`cosine_bounds`: ``values`` (rows, dim) times ``scale`` (rows,) plus a
    remainder of norm ``residual`` (rows,) is the row. ``(x, row) <= (x, scale * values) + |x| * residual``, so a
    bound from the int8 rows plus that term is still a bound."""

    values: torch.Tensor
    scale: torch.Tensor
    residual: torch.Tensor
    dtype = torch.int8

    @property
    def shape(self) -> torch.Size:
        return self.values.shape


def int8_rows(unit: torch.Tensor) -> Int8Rows:
    """``unit`` rows (float) rounded to int8 with one scale per row (its largest value maps to 127).

    >>> rows = int8_rows(unit_rows(torch.tensor([[3.0, 4.0], [1.0, 0.0]])))
    >>> rows.values.tolist(), (rows.scale * 127).tolist(), bool((rows.residual < 0.004).all())
    ([[95, 127], [127, 0]], [0.800000011920929, 1.0], True)
    """
    unit = unit.float()
    values, scale = quantize_rows(unit)
    return Int8Rows(values, scale.flatten(), (unit - values.float() * scale).norm(dim=1))


def bound_rows(unit: torch.Tensor) -> torch.Tensor | Int8Rows:
    """Unit rows in the format of the faster bound product on their device (:func:`int8_bound_faster`): int8 rows
    or a float tensor of :func:`bound_dtype`. The bounds, and so the top k, are exact either way."""
    if unit.device.type == "cpu" and int8_bound_faster(unit.shape[1]):
        return int8_rows(unit)
    return unit.to(bound_dtype(unit.device))


@functools.lru_cache(maxsize=None)
def int8_bound_faster(dim: int, rounds: int = 5) -> bool:
    """Whether this CPU, on torch's current threads, multiplies int8 (``torch._int_mm``) faster than
    :func:`bound_dtype` at the shape of a bound product (timed once per ``dim``: the two products in turn, after a
    warm-up round, best of ``rounds``; ``False`` where int8 matrix products do not run)."""
    if not int8_runs():
        return False
    gen = torch.Generator().manual_seed(0)
    x, skills = torch.randn(512, dim, generator=gen), torch.randn(SKILL_CHUNK, dim, generator=gen)
    x8, skills8 = x.to(torch.int8), skills.to(torch.int8)
    other = bound_dtype("cpu")
    xo, skillso = x.to(other), skills.to(other)
    products = (lambda: torch._int_mm(x8, skills8.T), lambda: xo @ skillso.T)
    best = [float("inf")] * len(products)
    for round_ in range(rounds + 1):  # the first round warms up (first calls set up kernels)
        for i, product in enumerate(products):
            started = time.perf_counter()
            product()
            if round_:
                best[i] = min(best[i], time.perf_counter() - started)
    return best[0] < best[1]


def cosine_bounds(token_embeddings: torch.Tensor, attention_mask: torch.Tensor, unit_skills: torch.Tensor | Int8Rows,
                  skill_chunk: int = SKILL_CHUNK) -> torch.Tensor:
    """Upper bounds (batch, skills) of ConTeXT scores: the largest cosine of any real token with each skill.

    ``unit_skills`` (skills, dim) are unit rows in the dtype of the product (see :func:`bound_dtype`), or
    :class:`Int8Rows`. Padding rows give cosine 0, so a bound is never below 0: still a bound, only looser when every
    cosine is negative.

    >>> x = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [5.0, 5.0]]])
    >>> skills = unit_rows(torch.tensor([[1.0, 1.0], [0.0, -1.0]]))
    >>> cosine_bounds(x, torch.tensor([[1, 1, 0]]), skills)
    tensor([[0.7071, 0.0000]])
    >>> gen = torch.Generator().manual_seed(0)
    >>> x, skills = torch.randn(4, 9, 16, generator=gen), unit_rows(torch.randn(300, 16, generator=gen))
    >>> exact, in_int8 = (cosine_bounds(x, torch.ones(4, 9), rows) for rows in (skills, int8_rows(skills)))
    >>> bool((in_int8 >= exact).all()), bool((in_int8 - exact).max() < 0.05)  # int8: a little above, never below
    (True, True)
    """
    if isinstance(unit_skills, Int8Rows):
        return _int8_bounds(token_embeddings, attention_mask, unit_skills, skill_chunk)
    batch, length, dim = token_embeddings.shape
    rows = (unit_rows(token_embeddings) * attention_mask.unsqueeze(-1)).to(unit_skills.dtype).reshape(-1, dim)
    bounds = torch.empty((batch, unit_skills.shape[0]), device=token_embeddings.device)
    for start in range(0, unit_skills.shape[0], skill_chunk):
        chunk = rows @ unit_skills[start : start + skill_chunk].T  # (batch * tokens, chunk)
        bounds[:, start : start + chunk.shape[1]] = chunk.view(batch, length, -1).amax(dim=1).float()
    return bounds


def _int8_bounds(token_embeddings: torch.Tensor, attention_mask: torch.Tensor, skills: Int8Rows,
                 skill_chunk: int) -> torch.Tensor:
    """:func:`cosine_bounds` from int8 token rows (one scale for the batch) and int8 skill rows. With token
    ``x = x8 + r`` and skill ``e = e8 + s``: ``(x, e) <= (x8, e8) + |x8| |s| + |r| |e|``, each sentence taking its
    tokens' largest ``|x8|`` and ``|r|``."""
    batch, length, dim = token_embeddings.shape
    rows = (unit_rows(token_embeddings) * attention_mask.unsqueeze(-1)).reshape(-1, dim)
    scale = rows.abs().amax().clamp(min=EPS) / 127
    values = (rows / scale).round().to(torch.int8)
    rounded = values.float() * scale
    size = rounded.norm(dim=1).view(batch, length).amax(dim=1, keepdim=True)  # (batch, 1)
    error = (rows - rounded).norm(dim=1).view(batch, length).amax(dim=1, keepdim=True)
    top = torch.empty((batch, skills.shape[0]), dtype=torch.int32, device=token_embeddings.device)
    for start in range(0, skills.shape[0], skill_chunk):
        chunk = torch._int_mm(values, skills.values[start : start + skill_chunk].T)  # (batch * tokens, chunk)
        top[:, start : start + chunk.shape[1]] = chunk.view(batch, length, -1).amax(dim=1)
    return top.float() * (scale * skills.scale) + size * skills.residual + error


def candidate_scores(token_embeddings: torch.Tensor, attention_mask: torch.Tensor, skill_embeddings: torch.Tensor,
                     indices: torch.Tensor, temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact ConTeXT scores (batch, m) of each sentence against its own skills ``skill_embeddings[indices[b]]``,
    and their attention (batch, tokens, m): the evidence.

    Same example as ``contextmatch_scores``: tokens (1, 0), (0, 1) and skill (2, 0) score 0.8808.

    >>> x = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    >>> scores, alpha = candidate_scores(x, torch.tensor([[1, 1]]), torch.tensor([[0.0, 3.0], [2.0, 0.0]]),
    ...                                  torch.tensor([[1]]))
    >>> scores.round(decimals=4), alpha.squeeze(-1).round(decimals=4)
    (tensor([[0.8808]]), tensor([[0.8808, 0.1192]]))
    """
    x = token_embeddings.float()
    skills = skill_embeddings[indices].float()  # (batch, m, dim)
    logits = torch.bmm(x, skills.transpose(1, 2))  # (batch, tokens, m)
    alpha = token_attention(logits, attention_mask, temperature)
    norms = x.norm(dim=-1).clamp(min=EPS).unsqueeze(-1) * skills.norm(dim=-1).clamp(min=EPS).unsqueeze(1)
    return (alpha * (logits / norms)).sum(dim=1), alpha


def aggregated_bounds(label_bounds: torch.Tensor, skill_labels: torch.Tensor, weight: float) -> torch.Tensor:
    """``weight * preferred + (1 - weight) * best`` of label bounds (batch, labels) per skill (batch, skills), as
    :func:`modeling_contextmatch.aggregate_label_scores` without a temperature, by one scatter over the labels
    instead of a (batch, skills, n) gather.

    >>> bounds, table = torch.tensor([[0.2, 0.5, 0.6]]), torch.tensor([[0, 2], [1, -1]])
    >>> aggregated_bounds(bounds, table, 0.5), aggregate_label_scores(bounds, table, 0.5)
    (tensor([[0.4000, 0.5000]]), tensor([[0.4000, 0.5000]]))
    """
    if skill_labels.shape[1] == 1 and torch.equal(skill_labels[:, 0], torch.arange(label_bounds.shape[1],
                                                                                 device=skill_labels.device)):
        return label_bounds  # one label per skill, in skill order
    preferred = label_bounds[:, skill_labels[:, 0]]
    if skill_labels.shape[1] == 1 or weight == 1:
        return preferred
    owners = torch.empty(label_bounds.shape[1], dtype=torch.long, device=label_bounds.device)
    present = skill_labels >= 0
    owners[skill_labels[present]] = torch.nonzero(present)[:, 0]
    best = preferred.scatter_reduce(1, owners.expand(label_bounds.shape[0], -1), label_bounds, "amax")
    return weight * preferred + (1 - weight) * best


def contextmatch_topk(token_embeddings: torch.Tensor, attention_mask: torch.Tensor, skill_embeddings: torch.Tensor,
                      k: int, temperature: float = 1.0, unit_skills: torch.Tensor | None = None,
                      candidates: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The exact top-k skills of each sentence, one label per skill: scores and indices (batch, k), attention
    (batch, tokens, k). :func:`label_topk` with every skill its own only label.

    >>> gen = torch.Generator().manual_seed(0)
    >>> x, skills = torch.randn(3, 6, 8, generator=gen), torch.randn(500, 8, generator=gen) * 4
    >>> mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] * 2 + [0] * 4])
    >>> values, indices, alpha = contextmatch_topk(x, mask, skills, k=5, candidates=5)
    >>> full = contextmatch_scores(x, mask, skills).topk(5)
    >>> torch.equal(indices, full.indices) and torch.allclose(values, full.values, atol=1e-6)
    True
    >>> tuple(alpha.shape), bool(torch.allclose(alpha.sum(dim=1), torch.ones(3, 5)))
    ((3, 6, 5), True)
    """
    one_each = torch.arange(skill_embeddings.shape[0], device=skill_embeddings.device).unsqueeze(1)
    return label_topk(token_embeddings, attention_mask, skill_embeddings, one_each, k, temperature, unit_skills,
                      candidates)[:3]


def label_topk(token_embeddings: torch.Tensor, attention_mask: torch.Tensor, label_embeddings: torch.Tensor,
               skill_labels: torch.Tensor, k: int, temperature: float = 1.0, unit_labels: torch.Tensor | None = None,
               candidates: int | None = None, weight: float = 0.5, label_temperature: float | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The exact top-k skills of each sentence when a skill has several labels, its score aggregated from its
    labels' ConTeXT scores by :func:`modeling_contextmatch.aggregate_label_scores` (``weight``,
    ``label_temperature``). Returns scores and skill indices (batch, k), the attention (batch, tokens, k) and the
    index (batch, k) of the best-scored label of each skill (the evidence is that label's attention).

    ``skill_labels`` (skills, n) lists each skill's rows of ``label_embeddings``, preferred label first, padded with
    -1; ``unit_labels`` are the unit label rows for the bound (float32 when not given); ``candidates`` is the first
    number of skills scored exactly (default ``max(2k, 16)``). Each label is bounded by its largest token cosine and
    the bounds are aggregated like the scores (the mix is monotone; a softmax-weighted mean is bounded by the largest
    label bound), so a skill's bound is never below its score.

    >>> gen = torch.Generator().manual_seed(0)
    >>> x, labels = torch.randn(2, 6, 8, generator=gen), torch.randn(900, 8, generator=gen) * 4
    >>> mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2])
    >>> table = torch.cat([torch.arange(300).unsqueeze(1), torch.arange(300, 900).view(300, 2)], dim=1)
    >>> values, indices, alpha, best = label_topk(x, mask, labels, table, k=5, candidates=5)
    >>> full = aggregate_label_scores(contextmatch_scores(x, mask, labels), table).topk(5)
    >>> torch.equal(indices, full.indices) and torch.allclose(values, full.values, atol=1e-6)
    True
    >>> bool((table[indices] == best.unsqueeze(-1)).any(dim=-1).all())  # each best label is one of its skill's
    True
    """
    total = skill_labels.shape[0]
    k = min(k, total)
    batch, length = attention_mask.shape
    device = token_embeddings.device
    if unit_labels is None:
        unit_labels = unit_rows(label_embeddings)
    margin = BOUND_MARGIN.get(unit_labels.dtype, 2.0**-7)
    bounds = aggregated_bounds(cosine_bounds(token_embeddings, attention_mask, unit_labels), skill_labels,
                               0.0 if label_temperature is not None else weight)
    values = torch.empty((batch, k), device=device)
    indices = torch.empty((batch, k), dtype=torch.long, device=device)
    best_labels = torch.empty((batch, k), dtype=torch.long, device=device)
    alpha = torch.empty((batch, length, k), device=device)
    rows = torch.arange(batch, device=device)
    m = max(k, candidates or max(2 * k, 16))
    while len(rows):
        if m >= FULL_SCORING_SHARE * total:
            full = aggregate_label_scores(contextmatch_scores(token_embeddings[rows], attention_mask[rows],
                                                              label_embeddings, temperature),
                                          skill_labels, weight, label_temperature)
            order_indices, order_values = full.topk(k, dim=1).indices, None
        else:
            order = (bounds if len(rows) == batch else bounds[rows]).topk(m + 1, dim=1)
            order_indices, order_values = order.indices[:, :m], order.values[:, m]
        scores, label, weights = candidate_skill_scores(token_embeddings[rows], attention_mask[rows],
                                                        label_embeddings, skill_labels, order_indices, temperature,
                                                        weight, label_temperature)
        top = scores.topk(k, dim=1)
        certified = torch.ones_like(rows, dtype=torch.bool) if order_values is None else \
            top.values[:, -1] >= order_values + margin
        done = rows[certified]
        values[done] = top.values[certified]
        indices[done] = order_indices[certified].gather(1, top.indices[certified])
        best_labels[done] = label[certified].gather(1, top.indices[certified])
        alpha[done] = weights[certified].gather(2, top.indices[certified].unsqueeze(1).expand(-1, length, -1))
        rows, m = rows[~certified], 4 * m
    return values, indices, alpha, best_labels


def pooled_label_topk(token_embeddings: torch.Tensor, attention_mask: torch.Tensor, label_embeddings: torch.Tensor,
                      skill_labels: torch.Tensor, k: int, pool: int, temperature: float = 1.0,
                      unit_skills: torch.Tensor | None = None, weight: float = 0.5,
                      label_temperature: float | None = None, members: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`label_topk` over a pool: the ``pool`` best skills by their preferred label alone (exact,
    :func:`contextmatch_topk`) are rescored with all their labels and the best ``k`` of them kept. The first
    ``skills`` rows of ``label_embeddings`` are the preferred labels in skill order (as
    :class:`contextmatch.skills.labels.LabelTable` lays them out); ``unit_skills`` are their unit rows. Costs one
    preferred-label top-k plus ``pool`` skills' labels, not a bound over every label (``members``: the pool, when
    the caller found it already with :func:`pool_members`); equal to :func:`label_topk` when the pool holds every
    skill:

    >>> gen = torch.Generator().manual_seed(0)
    >>> x, labels = torch.randn(2, 6, 8, generator=gen), torch.randn(900, 8, generator=gen) * 4
    >>> mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2])
    >>> table = torch.cat([torch.arange(300).unsqueeze(1), torch.arange(300, 900).view(300, 2)], dim=1)
    >>> pooled, exact = pooled_label_topk(x, mask, labels, table, 5, 300), label_topk(x, mask, labels, table, 5)
    >>> all(torch.allclose(a.float(), b.float(), atol=1e-6) for a, b in zip(pooled, exact))
    True
    """
    k = min(k, skill_labels.shape[0])
    if members is None:
        members = pool_members(token_embeddings, attention_mask, label_embeddings[: skill_labels.shape[0]], k, pool,
                               temperature, unit_skills)
    scores, label, alpha = candidate_skill_scores(token_embeddings, attention_mask, label_embeddings, skill_labels,
                                                  members, temperature, weight, label_temperature)
    top = scores.topk(k, dim=1)
    picked = alpha.gather(2, top.indices.unsqueeze(1).expand(-1, alpha.shape[1], -1))
    return top.values, members.gather(1, top.indices), picked, label.gather(1, top.indices)


OUTSIDE_POOL = 4.0  # scores lie in [-1, 1]: lowered by 4, a skill outside the pool ranks after every member


def pool_ranking(preferred: torch.Tensor, members: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
    """Every skill's score (batch, skills) under a label pool: the ``pooled`` scores (batch, m) of the ``members``
    (batch, m), and the others after them in preferred-label order (their ``preferred`` score minus OUTSIDE_POOL).

    >>> pool_ranking(torch.tensor([[0.5, 0.9, 0.2]]), torch.tensor([[1]]), torch.tensor([[0.95]]))
    tensor([[-3.5000,  0.9500, -3.8000]])
    """
    return (preferred - OUTSIDE_POOL).scatter(1, members, pooled)


def pool_members(token_embeddings: torch.Tensor, attention_mask: torch.Tensor, skill_embeddings: torch.Tensor, k: int,
                 pool: int, temperature: float = 1.0, unit_skills: torch.Tensor | None = None) -> torch.Tensor:
    """The label pool of :func:`pooled_label_topk`: indices (batch, max(k, pool)) of each sentence's best skills by
    their preferred label (``skill_embeddings``), exact."""
    size = min(max(k, pool), skill_embeddings.shape[0])
    return contextmatch_topk(token_embeddings, attention_mask, skill_embeddings, size, temperature, unit_skills)[1]


def candidate_skill_scores(token_embeddings: torch.Tensor, attention_mask: torch.Tensor, label_embeddings: torch.Tensor,
                           skill_labels: torch.Tensor, skills: torch.Tensor, temperature: float = 1.0,
                           weight: float = 0.5, label_temperature: float | None = None, chunk: int = 256):
    """Aggregated scores (batch, m) of each sentence's own ``skills`` (batch, m), the index of each one's best label
    (batch, m), and that label's attention (batch, tokens, m); skills are scored ``chunk`` at a time, each sentence's
    labels packed side by side (a skill with many labels does not pad the others to its width)."""
    parts = []
    for start in range(0, skills.shape[1], chunk):
        table = skill_labels[skills[:, start : start + chunk]]  # (batch, c, n)
        batch, c, n = table.shape
        flat = table.view(batch, c * n)
        perm = None if n == 1 else torch.argsort((flat < 0).to(torch.int8), dim=1, stable=True)  # labels first
        packed = flat if perm is None else flat.gather(1, perm[:, : int((flat >= 0).sum(dim=1).max())])
        scores, alpha = candidate_scores(token_embeddings, attention_mask, label_embeddings, packed.clamp(min=0),
                                         temperature)  # (batch, width), (batch, tokens, width)
        spread = scores.masked_fill(packed < 0, float("-inf"))
        if perm is not None:
            spread = torch.full(flat.shape, float("-inf"), device=scores.device).scatter_(
                1, perm[:, : packed.shape[1]], spread)
        columns = torch.arange(batch * c * n, device=table.device).view(batch * c, n)
        columns = columns.masked_fill(table.view(batch * c, n) < 0, -1)  # each (sentence, skill) its own labels
        aggregated = aggregate_label_scores(spread.view(1, -1), columns, weight, label_temperature).view(batch, c)
        best = spread.view(batch, c, n).argmax(dim=-1)  # (batch, c)
        label = table.gather(2, best.unsqueeze(-1)).squeeze(-1)
        where = best + torch.arange(c, device=best.device) * n  # position in the flat table, then in packed
        if perm is not None:
            where = torch.argsort(perm, dim=1).gather(1, where)
        weights = alpha.gather(2, where.unsqueeze(1).expand(-1, alpha.shape[1], -1))
        parts.append((aggregated, label, weights))
    return tuple(torch.cat([p[i] for p in parts], dim=2 if i == 2 else 1) for i in range(3))
