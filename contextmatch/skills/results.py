"""What extraction returns: per sentence its ranked skills (:class:`SkillMatch`) with evidence and alternatives,
per ad the summary of its skills (:class:`AdSkill`), together an :class:`Extraction`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Evidence:
    """A word of the sentence that carried the match: ``sentence[start:end] == text``, attention ``weight``."""

    start: int
    end: int
    text: str
    weight: float


@dataclass
class Alternative:
    """A skill reported inside another's group: it names the same thing (see :mod:`contextmatch.skills.selection`)."""

    uri: str
    label: str
    score: float


@dataclass
class SkillMatch:
    """A reported skill of a sentence (the head of its group), its ``alternatives`` and the index of its ad-level
    ``group`` in :attr:`Extraction.skills`."""

    uri: str
    label: str
    score: float
    evidence: list[Evidence] = field(default_factory=list)
    alternatives: list[Alternative] = field(default_factory=list)
    group: int | None = None
    matched_label: str | None = None  # the alternative label that scored best, when it is not ``label``


@dataclass
class SentenceResult:
    """A sentence at ``text[start:end]`` of the cleaned ad, with its skills, best first, and its ``relevance``: the
    gate's probability that it states a skill (``None`` for a model without a gate)."""

    index: int
    start: int
    end: int
    text: str
    skills: list[SkillMatch]
    relevance: float | None = None


@dataclass
class AdSkill:
    """A group of the whole ad: its best-scored skill, that skill's best score over the ad, the indices of the
    sentences that support the group, and the other skills of the group as ``alternatives``."""

    uri: str
    label: str
    skill_type: str
    score: float
    sentences: list[int]
    alternatives: list[Alternative] = field(default_factory=list)


@dataclass
class Extraction:
    text: str
    sentences: list[SentenceResult]
    skills: list[AdSkill]

    def to_dict(self) -> dict:
        return asdict(self)
