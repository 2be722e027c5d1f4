"""Which of a sentence's ranked skills are reported, and which of them name the same thing.

Three pure steps run after ranking (:mod:`contextmatch.skills.extractor`):

1. **gate**: a sentence whose relevance (the model's probability that it states a skill, knowledge or
   requirement) is below the cut-off reports nothing;
2. **selection**: a skill is kept when its score reaches the absolute ``threshold`` *and* lies within ``margin``
   of the sentence's best score; or, with ``calibration`` weights, when its calibrated probability of being right
   (a logistic regression on its score, rank, distance to the best and next score, and the sentence's relevance,
   and optionally on what ESCO says of the skill and whether its label's words are in the sentence,
   :class:`SkillFeatures`) reaches ``cutoff``: a clearly skill-bearing sentence then keeps skills a single global
   threshold would lose, and a match carried by word overlap alone (*dock operations* for "Docker") is weighed
   against one whose label the sentence states. With ``trees`` (:class:`Forest`, gradient-boosted trees on the
   same features) the probability is theirs instead of the regression's;
3. **grouping**: kept skills that name the same thing (an ESCO broader/narrower pair, a shared label, or label
   embeddings closer than ``similarity``) form one group, headed by the best-scored one.

The parameters live in the model's config (``score_threshold``, ``score_margin``, ``gate_threshold``,
``selection_weights``, ``selection_trees``, ``selection_cutoff``, ``group_similarity``, ``group_relations``) and are
chosen on the Skill-XL ``select`` half by ``scripts/tune_selection.py``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
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
    trees: "Forest | None" = None  # gradient-boosted trees over the same features, instead of ``calibration``

    def keeps(self, scores: Sequence[float], relevance: float | None,
              skill_rows: Sequence[Sequence[float]] | None = None) -> list[int]:
        """Positions of the kept scores (``scores`` best first); ``skill_rows``: the :class:`SkillFeatures` row of
        each, needed when the calibration has weights for them.

        >>> SelectionRule(0.5, margin=0.1).keeps([0.8, 0.72, 0.69, 0.4], None)
        [0, 1]
        >>> SelectionRule(0.5, gate=0.3).keeps([0.8, 0.6], 0.2)
        []
        """
        if not scores or self.skips(relevance):
            return []
        best = scores[0]
        kept = [i for i, s in enumerate(scores) if s >= self.threshold and s >= best - self.margin]
        if self.trees is not None:
            chances = self.trees.probabilities(calibration_rows(scores, relevance, skill_rows))
        elif self.calibration is None:
            return kept
        else:
            chances = pair_probabilities(scores, relevance, self.calibration, skill_rows)
        return [i for i in kept if chances[i] >= self.cutoff]

    def skips(self, relevance: float | None) -> bool:
        """Whether the gate skips a sentence of this ``relevance`` (``None``: the model has no gate).

        >>> gated = SelectionRule(0.5, gate=0.3)
        >>> gated.skips(0.2), gated.skips(None), SelectionRule(0.5).skips(0.2)
        (True, False, False)
        """
        return self.gate is not None and relevance is not None and relevance < self.gate

    @property
    def calibrated(self) -> bool:
        """Whether skills are kept by a calibrated probability (weights or trees) rather than a threshold."""
        return self.calibration is not None or self.trees is not None

    @property
    def reads_skills(self) -> bool:
        """Whether the calibration weighs :class:`SkillFeatures` (and ``keeps`` needs their rows)."""
        return self.trees is not None or (self.calibration is not None and len(self.calibration) > N_PAIR_FEATURES + 1)


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


N_PAIR_FEATURES = 6  # the length of a pair_features row


def calibration_rows(scores: Sequence[float], relevance: float | None,
                     skill_rows: Sequence[Sequence[float]] | None) -> list[list[float]]:
    """Each ranked skill's :func:`pair_features` followed by its :class:`SkillFeatures` row: what a calibration
    that reads skill features (weights or trees) scores.

    >>> calibration_rows([0.8], None, [[1.0, 2.0]])
    [[0.8, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0]]
    """
    if skill_rows is None or len(skill_rows) != len(scores):
        raise ValueError("this calibration weighs skill features: pass one SkillFeatures row per score")
    return [row + list(extra) for row, extra in zip(pair_features(scores, relevance), skill_rows)]


def pair_probabilities(scores: Sequence[float], relevance: float | None, calibration: Sequence[float],
                       skill_rows: Sequence[Sequence[float]] | None = None) -> list[float]:
    """Calibrated probability that each ranked skill is right: ``sigmoid(weights . features + bias)``, over the
    :func:`pair_features` and, when ``calibration`` has weights for them, each skill's ``skill_rows``.

    >>> [round(p, 3) for p in pair_probabilities([0.8, 0.6], None, [10, 0, 0, 0, 0, 0, -7])]
    [0.731, 0.269]
    >>> [round(p, 3) for p in pair_probabilities([0.8, 0.6], None, [10, 0, 0, 0, 0, 0, 2, -7], [[0.0], [1.0]])]
    [0.731, 0.731]
    """
    *weights, bias = calibration
    if len(weights) > N_PAIR_FEATURES:
        rows = calibration_rows(scores, relevance, skill_rows)
    else:
        rows = pair_features(scores, relevance)
    return [1 / (1 + math.exp(-(sum(w * f for w, f in zip(weights, row)) + bias))) for row in rows]


class Forest:
    """Gradient-boosted decision trees as plain arrays (what the model config's ``selection_trees`` holds): the
    probability of a row of features is ``sigmoid(bias + the sum over trees of the leaf the row reaches)``. In each
    tree, node ``j`` sends a row to ``left[j]`` when its ``feature[j]`` is at most ``threshold[j]``, else to
    ``right[j]``; a leaf points to itself and holds its ``value``.

    Trees are small (a few splits each), so each one is compiled into a table from the outcomes of its splits to
    its leaf's value: a row then costs one comparison per split and one look-up per tree, for all trees at once.

    One tree splitting feature 0 at 0.5 (leaves -1 and +1), bias 0:

    >>> forest = Forest({"bias": 0.0, "feature": [[0, 0, 0]], "threshold": [[0.5, 0.0, 0.0]],
    ...                  "left": [[1, 1, 2]], "right": [[2, 1, 2]], "value": [[0.0, -1.0, 1.0]]})
    >>> [round(p, 3) for p in forest.probabilities([[0.2], [0.9]])]
    [0.269, 0.731]
    """

    MAX_SPLITS = 12  # per tree: its table has 2 ** splits entries

    def __init__(self, spec: dict):
        self.bias = float(spec["bias"])
        self.feature, self.left, self.right = (np.asarray(spec[k], dtype=np.int64) for k in ("feature", "left", "right"))
        self.threshold, self.value = (np.asarray(spec[k], dtype=np.float64) for k in ("threshold", "value"))
        splits = [[j for j in range(len(left)) if left[j] != j] for left in self.left.tolist()]
        width = max(1, max(map(len, splits)))
        if width > self.MAX_SPLITS:
            raise ValueError(f"selection trees with {width} splits in one tree: at most {self.MAX_SPLITS} are supported")
        self._feature = np.zeros((len(splits), width), dtype=np.int64)
        self._threshold = np.full((len(splits), width), np.inf)  # unused slots: always "left", never read
        self._table = np.zeros((len(splits), 2 ** width))
        for t, nodes in enumerate(splits):
            self._feature[t, : len(nodes)] = self.feature[t, nodes]
            self._threshold[t, : len(nodes)] = self.threshold[t, nodes]
            slot = {node: k for k, node in enumerate(nodes)}
            for code in range(2 ** width):  # bit k of code: split k sends the row left
                node = 0
                while node in slot:
                    node = self.left[t, node] if code >> slot[node] & 1 else self.right[t, node]
                self._table[t, code] = self.value[t, node]
        self._powers = 1 << np.arange(width, dtype=np.int64)

    @classmethod
    def from_sklearn(cls, model) -> "Forest":
        """The trees of a fitted binary ``sklearn.ensemble.HistGradientBoostingClassifier`` on numeric features (each
        tree padded to the widest; read from its fitted ``_predictors`` and ``_baseline_prediction``)."""
        trees = [predictors[0].nodes for predictors in model._predictors]
        width = max(len(nodes) for nodes in trees)
        spec = {"bias": float(np.ravel(model._baseline_prediction)[0]),
                "feature": [], "threshold": [], "left": [], "right": [], "value": []}
        for nodes in trees:
            pad = width - len(nodes)
            leaf = [bool(flag) for flag in nodes["is_leaf"]] + [True] * pad
            spec["feature"].append([int(f) for f in nodes["feature_idx"]] + [0] * pad)
            spec["threshold"].append([float(t) for t in nodes["num_threshold"]] + [0.0] * pad)
            spec["left"].append([j if leaf[j] else int(nodes["left"][j]) for j in range(width)])
            spec["right"].append([j if leaf[j] else int(nodes["right"][j]) for j in range(width)])
            spec["value"].append([float(v) if leaf[j] else 0.0 for j, v in enumerate(nodes["value"])] + [0.0] * pad)
        return cls(spec)

    def spec(self) -> dict:
        """The arrays as the JSON the model config's ``selection_trees`` stores."""
        return {"bias": self.bias,
                **{k: getattr(self, k).tolist() for k in ("feature", "threshold", "left", "right", "value")}}

    def probabilities(self, rows: Sequence[Sequence[float]]) -> list[float]:
        x = np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)
        codes = (x[:, self._feature] <= self._threshold).astype(np.int64) @ self._powers  # (rows, trees)
        raw = self.bias + np.take_along_axis(self._table, codes.T, axis=1).sum(axis=0)
        return (1 / (1 + np.exp(-raw))).tolist()


STOPWORDS = frozenset("a an and as at by for from in of on or the to use using with".split())
REUSE_LEVELS = ("transversal", "cross-sector", "sector-specific")  # occupation-specific: all three 0


def words(text: str) -> list[str]:
    """Lower-cased words of a text (letters, digits, ``+`` and ``#``, so *C++* and *C#* stay words).

    >>> words("Python, SQL & C++ (5 yrs)")
    ['python', 'sql', 'c++', '5', 'yrs']
    """
    return re.findall(r"[a-z0-9+#]+", text.lower())


def content_words(label: str) -> list[str]:
    """A label's words without stop words and one-letter words (all its words when nothing else is left).

    >>> content_words("use of the Python language"), content_words("C")
    (['python', 'language'], ['c'])
    """
    kept = [w for w in words(label) if w not in STOPWORDS and len(w) > 1]
    return kept or words(label)


def stems(sentence_words: set[str]) -> set[str]:
    """The first four letters of each sentence word of four letters or more (what :func:`shares_stem` compares).

    >>> sorted(stems({"docker", "sql", "ship"}))
    ['dock', 'ship']
    """
    return {w[:4] for w in sentence_words if len(w) >= 4}


def shares_stem(word: str, sentence_words: set[str], prefixes: set[str] | None = None) -> bool:
    """Whether a sentence word begins with the first four letters of a label word of four letters or more: the
    overlap of *shipment* with "ship**ping**", but also of *dock* with "**Dock**er" (``prefixes``: the sentence's
    :func:`stems`, when already computed).

    >>> shares_stem("shipment", {"shipping"}), shares_stem("dock", {"docker"}), shares_stem("sql", {"sqlite"})
    (True, True, False)
    """
    return len(word) >= 4 and word[:4] in (stems(sentence_words) if prefixes is None else prefixes)


def label_overlap(label_words: Sequence[str], sentence_words: set[str],
                  prefixes: set[str] | None = None) -> tuple[float, float]:
    """Shares of a label's words that the sentence has exactly, and that it has only through a shared stem.

    >>> label_overlap(["dock", "operations"], {"docker", "kubernetes"})
    (0.0, 0.5)
    >>> label_overlap(["python"], {"python", "sql"})
    (1.0, 0.0)
    """
    if not label_words:
        return 0.0, 0.0
    prefixes = stems(sentence_words) if prefixes is None else prefixes
    exact = sum(w in sentence_words for w in label_words)
    stem = sum(w not in sentence_words and shares_stem(w, sentence_words, prefixes) for w in label_words)
    return exact / len(label_words), stem / len(label_words)


class SkillFeatures:
    """What the calibrated selection knows of a ranked skill beside its score, one row per (sentence, skill):

    - from ESCO: the log of 1 + the number of occupations listing it as essential, and as optional; whether it is
      knowledge; its reuse level (transversal, cross-sector, sector-specific; occupation-specific is none); the log
      of its preferred label's word count;
    - from the sentence: the shares of the preferred label's content words it has exactly and only through a
      shared stem (:func:`label_overlap`); whether any label of the skill appears in it word for word; and the
      best, over all labels of the skill, of the share of words it has exactly and of the share it has exactly or
      by stem.

    Rows are built for the few skills a sentence ranks (ten at the default top-5), from labels prepared on first
    use."""

    NAMES = ("essential occupations", "optional occupations", "knowledge", "transversal", "cross-sector",
             "sector-specific", "label words", "exact words", "stem-only words", "label stated", "best label exact",
             "best label covered")

    def __init__(self, esco):
        self.esco = esco
        essential: dict[str, int] = {}
        optional: dict[str, int] = {}
        for relations in esco.occupation_skills.values():
            for uri in relations["essential"]:
                essential[uri] = essential.get(uri, 0) + 1
            for uri in relations["optional"]:
                optional[uri] = optional.get(uri, 0) + 1
        self._counts = essential, optional
        self._prepared: dict[int, tuple] = {}

    def _skill(self, index: int) -> tuple:
        """The static features of skill ``index``, its preferred label's content words, those of each label (empty
        ones left out), its labels as padded phrases, and every content word of its labels."""
        if index not in self._prepared:
            skill = self.esco.skills[index]
            essential, optional = self._counts
            static = [math.log1p(essential.get(skill.uri, 0)), math.log1p(optional.get(skill.uri, 0)),
                      float(skill.skill_type == "knowledge"), *(float(skill.reuse_level == r) for r in REUSE_LEVELS),
                      math.log(len(words(skill.label)) or 1)]
            labels = [words(label) for label in (skill.label, *skill.alt_labels)]
            phrases = [" " + " ".join(label) + " " for label in labels if label]
            content = [c for c in (content_words(label) for label in (skill.label, *skill.alt_labels)) if c]
            self._prepared[index] = (static, content_words(skill.label), content, phrases,
                                     frozenset(w for label in content for w in label))
        return self._prepared[index]

    def rows(self, sentence: str, skills: Sequence[int]) -> list[list[float]]:
        """One row per ranked skill (indices into ``esco.skills``) of ``sentence``, in :attr:`NAMES` order."""
        sentence_words = words(sentence)
        present, phrase = set(sentence_words), " " + " ".join(sentence_words) + " "
        prefixes = stems(present)
        out = []
        for index in skills:
            static, preferred, labels, phrases, vocabulary = self._skill(index)
            # each word of the skill's labels once: 1 in the sentence, 2 there only through a shared stem, else 0
            found = {w: 1 if w in present else 2 if shares_stem(w, present, prefixes) else 0 for w in vocabulary}
            exact, stem = _shares(preferred, found)
            overlaps = [_shares(label, found) for label in labels]
            out.append(static + [exact, stem, float(any(p in phrase for p in phrases)),
                                 max((e for e, _ in overlaps), default=0.0),
                                 max((e + s for e, s in overlaps), default=0.0)])
        return out


def _shares(label_words: Sequence[str], found: dict[str, int]) -> tuple[float, float]:
    """:func:`label_overlap` from each word's status (1 exact, 2 stem only, 0 neither; see ``SkillFeatures.rows``).

    >>> _shares(["dock", "operations"], {"dock": 2, "operations": 0}), _shares([], {})
    ((0.0, 0.5), (0.0, 0.0))
    """
    if not label_words:
        return 0.0, 0.0
    status = [found[w] for w in label_words]
    return status.count(1) / len(label_words), status.count(2) / len(label_words)


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
