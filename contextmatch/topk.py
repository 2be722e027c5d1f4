"""Exact top-k ConTeXT scoring without the softmax over every skill: a cosine bound picks candidates, exact scores
certify them.

A ConTeXT score is a convex mix of the cosines of a sentence's tokens with the skill, so it never exceeds the
largest of them: ``score(s, e) <= max_j cos(x_j, e)``. One matrix product of unit token vectors with unit skill
vectors (bfloat16 where the hardware has it, with a rounding margin) bounds every skill's score; only the skills with
the highest bounds get the (tokens x skills) softmax, and their top k is exact once the k-th exact score reaches the
highest bound left out. Sentences that are not certified are rescored with four times as many candidates, up to all
skills. With the default model, the first 16 candidates certify the top 5 of 553 of the 554 sentences of
``benchmarks/data/sentences.txt``.
"""

from __future__ import annotations

import torch

from modeling_contextmatch import EPS, contextmatch_scores, token_attention

# Largest error of a bound computed in each dtype, for unit vectors: bfloat16 rounds inputs and output to 8
# significant bits (|error| <= 3 * 2**-9 with float32 accumulation); float32 leaves summation error only.
BOUND_MARGIN = {torch.float32: 1e-4, torch.bfloat16: 2.0**-7, torch.float16: 2.0**-8}
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


def cosine_bounds(token_embeddings: torch.Tensor, attention_mask: torch.Tensor, unit_skills: torch.Tensor,
                  skill_chunk: int = 4096) -> torch.Tensor:
    """Upper bounds (batch, skills) of ConTeXT scores: the largest cosine of any real token with each skill.

    ``unit_skills`` (skills, dim) are unit rows in the dtype of the product (see :func:`bound_dtype`). Padding rows
    give cosine 0, so a bound is never below 0: still a bound, only looser when every cosine is negative.

    >>> x = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [5.0, 5.0]]])
    >>> cosine_bounds(x, torch.tensor([[1, 1, 0]]), unit_rows(torch.tensor([[1.0, 1.0], [0.0, -1.0]])))
    tensor([[0.7071, 0.0000]])
    """
    batch, length, dim = token_embeddings.shape
    rows = (unit_rows(token_embeddings) * attention_mask.unsqueeze(-1)).to(unit_skills.dtype).reshape(-1, dim)
    bounds = torch.empty((batch, unit_skills.shape[0]), device=token_embeddings.device)
    for start in range(0, unit_skills.shape[0], skill_chunk):
        chunk = rows @ unit_skills[start : start + skill_chunk].T  # (batch * tokens, chunk)
        bounds[:, start : start + chunk.shape[1]] = chunk.view(batch, length, -1).amax(dim=1).float()
    return bounds


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


def contextmatch_topk(token_embeddings: torch.Tensor, attention_mask: torch.Tensor, skill_embeddings: torch.Tensor,
                      k: int, temperature: float = 1.0, unit_skills: torch.Tensor | None = None,
                      candidates: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The exact top-k skills of each sentence: scores and indices (batch, k), attention (batch, tokens, k).

    ``unit_skills`` are the unit skill rows for the bound (computed in float32 when not given); ``candidates`` is
    the first number of skills scored exactly (default ``max(2k, 16)``).

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
    total = skill_embeddings.shape[0]
    k = min(k, total)
    batch, length = attention_mask.shape
    if unit_skills is None:
        unit_skills = unit_rows(skill_embeddings)
    margin = BOUND_MARGIN.get(unit_skills.dtype, 2.0**-7)
    bounds = cosine_bounds(token_embeddings, attention_mask, unit_skills)
    values = torch.empty((batch, k), device=token_embeddings.device)
    indices = torch.empty((batch, k), dtype=torch.long, device=token_embeddings.device)
    alpha = torch.empty((batch, length, k), device=token_embeddings.device)
    rows = torch.arange(batch, device=token_embeddings.device)
    m = max(k, candidates or max(2 * k, 16))
    while len(rows):
        if m >= FULL_SCORING_SHARE * total:
            top = contextmatch_scores(token_embeddings[rows], attention_mask[rows], skill_embeddings,
                                      temperature).topk(k, dim=1)
            scores, weights = candidate_scores(token_embeddings[rows], attention_mask[rows], skill_embeddings,
                                               top.indices, temperature)
            values[rows], indices[rows], alpha[rows] = scores, top.indices, weights
            break
        order = bounds[rows].topk(m + 1, dim=1)
        scores, weights = candidate_scores(token_embeddings[rows], attention_mask[rows], skill_embeddings,
                                           order.indices[:, :m], temperature)
        top = scores.topk(k, dim=1)
        certified = top.values[:, -1] >= order.values[:, m] + margin
        done = rows[certified]
        values[done] = top.values[certified]
        indices[done] = order.indices[certified].gather(1, top.indices[certified])
        alpha[done] = weights[certified].gather(2, top.indices[certified].unsqueeze(1).expand(-1, length, -1))
        rows, m = rows[~certified], 4 * m
    return values, indices, alpha
