"""The relevance gate: does a sentence state a skill, knowledge or requirement at all?

Two steps, both logistic regressions. The first reads the sentence alone: its unit mean-pooled token embeddings,
the vectors the model computes anyway for scoring. The second reads the ad around it: the first step's logits of
the sentence and of its neighbours in the ad, its length, a heading's colon, and its best and fifth-best skill
scores (``modeling_contextmatch.context_features``). Both are trained on real job-ad text (SkillSpan train: a
sentence is positive when it holds a SKILL or KNOWLEDGE span; Skill-XL ``select``: its ``relevant`` column) by
``scripts/train_gate.py``; their weights and the cut-off live in the model's config (``gate_weights``,
``gate_bias``, ``gate_context``, ``gate_threshold``) and ``ContextMatchModel.relevance`` and ``.ad_relevance``
apply them.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Sequence

import torch

from modeling_contextmatch import mean_pool, sentence_context


def skillspan_sentences(path: Path) -> tuple[list[str], list[int]]:
    """Sentences of a SkillSpan JSON-lines file (tokens joined by spaces) and 1 where a SKILL or KNOWLEDGE span
    is tagged, else 0."""
    opener = gzip.open if str(path).endswith(".gz") else open
    texts, labels = [], []
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                texts.append(" ".join(row["tokens"]))
                labels.append(int(any(t != "O" for t in row["tags_skill"] + row["tags_knowledge"])))
    return texts, labels


def skillspan_postings(path: Path) -> list[int]:
    """The posting id of each sentence of a SkillSpan JSON-lines file, in the order of :func:`skillspan_sentences`."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line)["idx"] for line in handle if line.strip()]


def group_by_ad(ads: Sequence) -> list[list[int]]:
    """Positions of the sentences of each ad (``ads``: each sentence's ad id), ads in order of first appearance.

    >>> group_by_ad([1, 1, 2, 1])
    [[0, 1, 3], [2]]
    """
    groups: dict = {}
    for i, ad in enumerate(ads):
        groups.setdefault(ad, []).append(i)
    return list(groups.values())


def context_rows(first: Sequence[float], ads: Sequence, texts: Sequence[str], best: Sequence[float],
                 fifth: Sequence[float]) -> list[list[float]]:
    """Second-step features of consecutive sentences (``ads``: each one's ad; neighbours count within an ad).

    >>> [[round(v, 2) for v in row[:3]] for row in context_rows([0.5, 0.9, 0.1], ["a", "a", "b"], ["x", "y", "z"],
    ...                                                          [0.7] * 3, [0.6] * 3)]
    [[0.0, 0.0, 2.2], [2.2, 0.0, 0.0], [-2.2, 0.0, 0.0]]
    """
    return [sentence_context(first, ads, i, texts[i], best[i], fifth[i]) for i in range(len(first))]


def top_scores(extractor, sentences: Sequence[str]) -> tuple[list[float], list[float]]:
    """Each sentence's best and fifth-best skill scores, as the pipeline ranks them."""
    top = extractor.score_sentences(sentences, progress=True).topk(5, dim=1).values
    return top[:, 0].tolist(), top[:, 4].tolist()


@torch.inference_mode()
def gate_vectors(extractor, sentences: Sequence[str]) -> torch.Tensor:
    """(sentences, dim) unit mean-pooled token embeddings, as the gate sees them (a long sentence: its first
    window), from the extractor's own encoder and windows."""
    rows: dict[int, torch.Tensor] = {}
    for windows, tokens, mask, _ in extractor._encoded_batches(sentences, progress=True):
        pooled = torch.nn.functional.normalize(mean_pool(tokens.float(), mask), dim=-1).cpu()
        rows.update({w.sentence: row for w, row in zip(windows, pooled) if w.base == 0})
    return torch.stack([rows[i] for i in range(len(sentences))])


def fit_gate(vectors: torch.Tensor, labels: Sequence[int], strength: float) -> tuple[list[float], float]:
    """Logistic-regression weights and bias (L2, inverse strength ``strength``, classes balanced)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=strength, class_weight="balanced", max_iter=2000)
    model.fit(vectors.numpy(), list(labels))
    return [round(float(w), 6) for w in model.coef_[0]], round(float(model.intercept_[0]), 6)


def gate_probabilities(vectors: torch.Tensor, weights: Sequence[float], bias: float) -> torch.Tensor:
    """The gate's probabilities, exactly as ``ContextMatchModel.relevance`` computes them.

    >>> gate_probabilities(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), [2.0, -2.0], 0.0).round(decimals=4)
    tensor([0.8808, 0.1192])
    """
    return torch.sigmoid(vectors @ torch.tensor(list(weights)) + bias)


def roc_auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve: the chance that a random positive outscores a random negative (ties count half).

    >>> roc_auc([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0])
    0.75
    """
    positives = [s for s, y in zip(scores, labels) if y]
    negatives = [s for s, y in zip(scores, labels) if not y]
    if not positives or not negatives:
        raise ValueError("ROC AUC needs positive and negative examples")
    ranked = sorted(negatives)
    import bisect

    wins = sum(bisect.bisect_left(ranked, p) + 0.5 * (bisect.bisect_right(ranked, p) - bisect.bisect_left(ranked, p))
               for p in positives)
    return wins / (len(positives) * len(negatives))
