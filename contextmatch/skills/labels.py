"""Every label of a skill on the skill side: ESCO preferred plus alternative labels, one vector each.

The label table lists the preferred labels first, in skill order (label ``i < skills`` is skill ``i``'s preferred
label), then each skill's alternative labels, skipping those equal to its preferred label. Scores of a skill's
labels are aggregated into one skill score by :func:`modeling_contextmatch.aggregate_label_scores`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

SKILL_LABEL_MODES = ("preferred", "all")
DEFAULT_SKILL_LABELS = "preferred"
DEFAULT_AGGREGATION = "mix:0.7"  # chosen on the pooled selection queries: results/labels/aggregation.json


def parse_aggregation(spec: str) -> tuple[float, float | None]:
    """``(weight, temperature)`` of :func:`modeling_contextmatch.aggregate_label_scores` from ``mix:W`` (W times the
    preferred label's score plus 1 - W times the best label's; ``max`` is ``mix:0``) or ``softmax:T``.

    >>> parse_aggregation("mix:0.5"), parse_aggregation("max"), parse_aggregation("softmax:0.05")
    ((0.5, None), (0.0, None), (0.0, 0.05))
    """
    kind, _, value = str(spec).partition(":")
    try:
        if kind == "max" and not value:
            return 0.0, None
        number = float(value)
    except ValueError:
        number = None
    if kind == "mix" and number is not None and 0 <= number <= 1:
        return number, None
    if kind == "softmax" and number is not None and number > 0:
        return 0.0, number
    raise ValueError(f"bad label aggregation {spec!r}: use mix:W (0 <= W <= 1), max or softmax:T (T > 0)")


@dataclass(frozen=True)
class LabelTable:
    """Labels of ``skills`` skills: ``labels[i]`` belongs to skill ``label_skill[i]``; the first ``skills`` labels
    are the preferred ones, in skill order."""

    labels: list[str]
    label_skill: torch.Tensor  # (labels,) long
    skills: int

    @property
    def alt_labels(self) -> list[str]:
        return self.labels[self.skills :]

    def skill_labels(self) -> torch.Tensor:
        """(skills, n): each skill's label indices, preferred first, padded with -1 (the table
        :func:`modeling_contextmatch.aggregate_label_scores` takes).

        >>> LabelTable(["a", "b", "a1", "a2"], torch.tensor([0, 1, 0, 0]), 2).skill_labels().tolist()
        [[0, 2, 3], [1, -1, -1]]
        """
        counts = torch.bincount(self.label_skill, minlength=self.skills)
        table = torch.full((self.skills, int(counts.max()) if self.skills else 1), -1, dtype=torch.long)
        order = torch.argsort(self.label_skill, stable=True)  # preferred label i comes first among skill i's
        starts = torch.cumsum(counts, 0) - counts
        owners = self.label_skill[order]
        table[owners, torch.arange(len(order)) - starts[owners]] = order
        return table


def label_table(skills) -> LabelTable:
    """The label table of ESCO skills (anything with ``label`` and ``alt_labels``).

    >>> from types import SimpleNamespace as S
    >>> table = label_table([S(label="a", alt_labels=("a1", "a")), S(label="b", alt_labels=()),
    ...                      S(label="c", alt_labels=("c1", "c2"))])
    >>> table.labels, table.label_skill.tolist()
    (['a', 'b', 'c', 'a1', 'c1', 'c2'], [0, 1, 2, 0, 2, 2])
    """
    labels = [s.label for s in skills]
    owners = list(range(len(labels)))
    for index, skill in enumerate(skills):
        alts = [a for a in dict.fromkeys(skill.alt_labels) if a != skill.label]
        labels.extend(alts)
        owners.extend([index] * len(alts))
    return LabelTable(labels, torch.tensor(owners, dtype=torch.long), len(skills))
