"""The ESCO taxonomy (skills, occupations and their relations), loaded from the copy shipped in this package.

This service uses the ESCO classification of the European Commission. The files under ``data/esco/<version>/``
are the official English CSV exports, gzip-compressed and otherwise unmodified.
"""

from __future__ import annotations

import csv
import functools
import gzip
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data" / "esco"
DEFAULT_ESCO_VERSION = "1.1.0"
ATTRIBUTION = "This service uses the ESCO classification of the European Commission."


def available_versions() -> list[str]:
    """ESCO versions shipped with the package."""
    return sorted(p.name.lstrip("v") for p in DATA_DIR.iterdir() if p.is_dir())


def _split_labels(cell: str) -> tuple[str, ...]:
    """ESCO lists alternative labels one per line.

    >>> _split_labels("java dev\\n Java developer \\n")
    ('java dev', 'Java developer')
    """
    return tuple(label.strip() for label in (cell or "").splitlines() if label.strip())


@dataclass(frozen=True)
class Skill:
    uri: str
    label: str
    alt_labels: tuple[str, ...]
    description: str
    skill_type: str
    reuse_level: str


@dataclass(frozen=True)
class Occupation:
    uri: str
    label: str
    alt_labels: tuple[str, ...]
    hidden_labels: tuple[str, ...]
    description: str
    isco_group: str
    code: str


class Esco:
    """One ESCO version: skills and occupations in file order, with lookups by URI and preferred label."""

    def __init__(self, version: str = DEFAULT_ESCO_VERSION):
        self.version = version
        self.folder = DATA_DIR / f"v{version}"
        if not self.folder.is_dir():
            raise ValueError(f"ESCO version {version!r} is not shipped; available: {', '.join(available_versions())}")
        self.skills = [
            Skill(r["conceptUri"], r["preferredLabel"].strip(), _split_labels(r["altLabels"]),
                  r["description"].strip(), r["skillType"], r["reuseLevel"])
            for r in self._rows("skills_en")
        ]
        self.occupations = [
            Occupation(r["conceptUri"], r["preferredLabel"].strip(), _split_labels(r["altLabels"]),
                       _split_labels(r["hiddenLabels"]), r["description"].strip(), r["iscoGroup"], r["code"])
            for r in self._rows("occupations_en")
        ]
        self.skill_by_uri = {s.uri: s for s in self.skills}
        self.skill_by_label = {s.label: s for s in self.skills}
        self.occupation_by_uri = {o.uri: o for o in self.occupations}

    def _rows(self, name: str):
        with gzip.open(self.folder / f"{name}.csv.gz", "rt", encoding="utf-8", newline="") as handle:
            yield from csv.DictReader(handle)

    @property
    def skill_labels(self) -> list[str]:
        return [s.label for s in self.skills]

    @functools.cached_property
    def occupation_skills(self) -> dict[str, dict[str, list[str]]]:
        """Occupation URI -> {"essential": [skill URIs], "optional": [skill URIs]}."""
        relations: dict[str, dict[str, list[str]]] = {}
        for r in self._rows("occupationSkillRelations"):
            relations.setdefault(r["occupationUri"], {"essential": [], "optional": []})[r["relationType"]].append(
                r["skillUri"]
            )
        return relations

    @functools.cached_property
    def related_skills(self) -> dict[str, list[str]]:
        """Skill URI -> URIs of skills ESCO relates to it (skillSkillRelations, both directions)."""
        related: dict[str, list[str]] = {}
        for r in self._rows("skillSkillRelations"):
            related.setdefault(r["originalSkillUri"], []).append(r["relatedSkillUri"])
            related.setdefault(r["relatedSkillUri"], []).append(r["originalSkillUri"])
        return related

    @functools.cached_property
    def broader_skills(self) -> dict[str, list[str]]:
        """Concept URI -> URIs of its broader concepts in the skill pillar (skills and skill groups)."""
        broader: dict[str, list[str]] = {}
        for r in self._rows("broaderRelationsSkillPillar"):
            broader.setdefault(r["conceptUri"], []).append(r["broaderUri"])
        return broader

    @staticmethod
    def page_url(uri: str) -> str:
        """The ESCO portal page of a concept."""
        kind = "occupation" if "/occupation/" in uri else "skill"
        return f"https://esco.ec.europa.eu/en/classification/{kind}?uri={uri}"


@functools.lru_cache(maxsize=4)
def load_esco(version: str = DEFAULT_ESCO_VERSION) -> Esco:
    """Load (once per process) the shipped English ESCO taxonomy of ``version``."""
    return Esco(version)
