"""Which of a sentence's ranked skills are reported, and which of them name the same thing.

Three pure steps run after ranking (:mod:`contextmatch.skills.extractor`):

1. **gate**: a sentence whose relevance (the model's probability that it states a skill, knowledge or
   requirement) is below the cut-off reports nothing;
2. **selection**: a skill is kept when its score reaches the absolute ``threshold`` *and* lies within ``margin``
   of the sentence's best score; or, with ``calibration`` weights, when its calibrated probability of being right
   (a logistic regression on its score, rank, distance to the best and next score, and the sentence's relevance)
   reaches ``cutoff``: a clearly skill-bearing sentence then keeps skills a single global threshold would lose;
3. **grouping**: kept skills that name the same thing (an ESCO broader/narrower pair, a shared label, or label
   embeddings closer than ``similarity``) form one group, headed by the best-scored one.

The parameters live in the model's config (``score_threshold``, ``score_margin``, ``gate_threshold``,
``selection_weights``, ``selection_cutoff``, ``group_similarity``, ``group_relations``) and are chosen on the
Skill-XL ``select`` half by ``scripts/tune_selection.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from typing import Callable, Sequence

NO_MARGIN = 2.0  # scores are cosines mixes in [-1, 1]: a margin of 2 keeps everything above the threshold


@dataclass(frozen=True)
class SelectionRule:
    """The decision layer's parameters (see the module docstring); ``None`` switches a step off."""

    threshold: float
    margin: float = NO_MARGIN
    gate: float | None = None
    similarity: float | None = None
    calibration: tuple[float, ...] | None = None  # weights of pair_features, then the bias
    cutoff: float = 0.5
    relations: bool = True  # ESCO broader/narrower pairs are one group
    def keeps(self, scores: Sequence[float], relevance: float | None) -> list[int]:
        """Positions of the kept scores (``scores`` best first).

        >>> SelectionRule(0.5, margin=0.1).keeps([0.8, 0.72, 0.69, 0.4], None)
        [0, 1]
        >>> SelectionRule(0.5, gate=0.3).keeps([0.8, 0.6], 0.2)
        []
        """
        if not scores or (self.gate is not None and relevance is not None and relevance < self.gate):
            return []
        best = scores[0]
        kept = [i for i, s in enumerate(scores) if s >= self.threshold and s >= best - self.margin]
        if self.calibration is None:
            return kept
        chances = pair_probabilities(scores, relevance, self.calibration)
        return [i for i in kept if chances[i] >= self.cutoff]


def pair_features(scores: Sequence[float], relevance: float | None) -> list[list[float]]:
    """Features of each ranked (sentence, skill) pair for the calibrated selection: score, score minus the
    sentence's best, rank (0 first), the relevance as a logit (0 without a gate), score minus the next score, and
    score times the relevance logit.

    >>> [[round(v, 3) for v in row] for row in pair_features([0.8, 0.6], 0.5)]
    [[0.8, 0.0, 0.0, 0.0, 0.2, 0.0], [0.6, -0.2, 1.0, 0.0, 0.0, 0.0]]
    """
    logit = 0.0 if relevance is None else math.log(max(relevance, 1e-6) / max(1 - relevance, 1e-6))
    rows = []
    for rank, score in enumerate(scores):
        following = scores[rank + 1] if rank + 1 < len(scores) else score
        rows.append([score, score - scores[0], float(rank), logit, score - following, score * logit])
    return rows


def pair_probabilities(scores: Sequence[float], relevance: float | None, calibration: Sequence[float]) -> list[float]:
    """Calibrated probability that each ranked skill is right: ``sigmoid(weights . features + bias)``.

    >>> [round(p, 3) for p in pair_probabilities([0.8, 0.6], None, [10, 0, 0, 0, 0, 0, -7])]
    [0.731, 0.269]
    """
    *weights, bias = calibration
    return [1 / (1 + math.exp(-(sum(w * f for w, f in zip(weights, row)) + bias)))
            for row in pair_features(scores, relevance)]


def group_ranked(items: Sequence[int], same: Callable[[int, int], bool]) -> list[list[int]]:
    """Greedy grouping of ranked items: each item joins the first group whose head it is the ``same`` as, else it
    heads a new group. Groups keep the ranking order; the head of each is its first item.

    >>> group_ranked([7, 3, 8, 5], lambda a, b: abs(a - b) == 1)
    [[7, 8], [3], [5]]
    """
    groups: list[list[int]] = []
    for item in items:
        for group in groups:
            if same(group[0], item):
                group.append(item)
                break
        else:
            groups.append([item])
    return groups


class Redundancy:
    """Decides whether two skills (indices into ``esco.skills``) name the same thing: a label they share (preferred
    or alternative, case-insensitive), a direct ESCO broader/narrower relation (with ``relations``), or unit label
    embeddings with a cosine of at least ``similarity`` (``None``: embeddings are not used)."""

    def __init__(self, esco, unit_skills=None, similarity: float | None = None, relations: bool = True):
        index = {skill.uri: i for i, skill in enumerate(esco.skills)}
        self.pairs: set[tuple[int, int]] = set()
        self.broader: set[tuple[int, int]] = set()
        for uri, broader in esco.broader_skills.items():
            for other in broader:
                if uri in index and other in index:
                    a, b = index[uri], index[other]
                    self.broader.add((min(a, b), max(a, b)))
        self.relations = relations
        self._neighbours: tuple[bool, dict[int, set[int]]] | None = None
        owners: dict[str, list[int]] = {}
        for i, skill in enumerate(esco.skills):
            for label in {skill.label.lower(), *(alt.lower() for alt in skill.alt_labels)}:
                owners.setdefault(label, []).append(i)
        for group in owners.values():
            self.pairs.update((a, b) for a in group for b in group if a < b)
        self.unit_skills = None if unit_skills is None else unit_skills.float()
        self.similarity = similarity

    def neighbours(self) -> dict[int, set[int]]:
        """Skill -> the skills it shares a label with (and, with ``relations``, its broader/narrower ones)."""
        out: dict[int, set[int]] = {}
        for a, b in self.pairs | (self.broader if self.relations else set()):
            out.setdefault(a, set()).add(b)
            out.setdefault(b, set()).add(a)
        return out

    def group(self, skills: Sequence[int]) -> list[list[int]]:
        """:func:`group_ranked` over ranked skill indices with :meth:`same`, as positions into ``skills``, in one
        matrix product (an ad with thousands of distinct skills groups in well under a second).

        Two skills that share a label are one group; so are two with label vectors at cosine 1:

        >>> from types import SimpleNamespace as NS
        >>> esco = NS(skills=[NS(uri="a", label="x", alt_labels=("y",)), NS(uri="b", label="y", alt_labels=()),
        ...                   NS(uri="c", label="z", alt_labels=()), NS(uri="d", label="w", alt_labels=())],
        ...           broader_skills={})
        >>> Redundancy(esco, torch.eye(4)[[0, 1, 2, 2]], similarity=0.9).group([2, 0, 3, 1])
        [[0, 2], [1, 3]]
        """
        n = len(skills)
        same = torch.zeros((n, n), dtype=torch.bool)
        if self.unit_skills is not None and self.similarity is not None and n:
            vectors = self.unit_skills[torch.as_tensor(list(skills))]
            for start in range(0, n, 2048):
                same[start : start + 2048] = vectors[start : start + 2048] @ vectors.T >= self.similarity
        if self._neighbours is None or self._neighbours[0] != self.relations:
            self._neighbours = (self.relations, self.neighbours())
        position = {skill: i for i, skill in enumerate(skills)}
        for i, skill in enumerate(skills):
            for other in self._neighbours[1].get(skill, ()):
                if other in position:
                    same[i, position[other]] = same[position[other], i] = True
        groups: list[list[int]] = []
        heads: list[int] = []
        for i in range(n):
            hits = same[i, heads].nonzero() if heads else []
            if len(hits):
                groups[int(hits[0])].append(i)
            else:
                heads.append(i)
                groups.append([i])
        return groups

    def same(self, a: int, b: int) -> bool:
        pair = (min(a, b), max(a, b))
        if a == b or pair in self.pairs or (self.relations and pair in self.broader):
            return True
        if self.unit_skills is None or self.similarity is None:
            return False
        return float(self.unit_skills[a] @ self.unit_skills[b]) >= self.similarity
