"""Job-title normalization: job titles (and ads) -> ranked ESCO occupations, with the skills an occupation implies.

:class:`TitleNormalizer` scores a title against every ESCO occupation label with the title model
(:mod:`contextmatch.titles.model`), takes each occupation's best label mixed with its centroid, and adds the
occupation prior (:mod:`contextmatch.titles.prior`) when the model folder has one.

This service uses the ESCO classification of the European Commission.
"""

from __future__ import annotations

import html
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from ..cache import cache_dir, labels_fingerprint
from ..esco import DEFAULT_ESCO_VERSION, Esco, load_esco
from ..text import html_to_text, looks_like_html
from .model import MAX_LENGTH, TitleModel


CENTROID_WEIGHT = 1.0  # weight of the occupation-centroid cosine, chosen on held-out ESCO labels (not a benchmark)


# -- results ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OccupationMatch:
    """An ESCO occupation for a title: ``score`` ranks the occupations, ``similarity`` in [-1, 1] is its part from
    the title model (see :class:`TitleNormalizer`; ``score - similarity`` is the occupation prior's bonus, 0 without a
    prior), ``matched_label`` the occupation's closest preferred, alternative or hidden label; ``isco_code`` is its
    ESCO code (e.g. ``2221.1``, which begins with the ISCO-08 unit group)."""
    uri: str
    label: str
    isco_code: str
    score: float
    matched_label: str
    similarity: float


@dataclass(frozen=True)
class SkillHit:
    uri: str
    label: str
    score: float


def occupation_labels(esco: Esco, occupations: list | None = None) -> tuple[list[str], torch.Tensor]:
    """Every label of every occupation (preferred, alternative, hidden; case-insensitive duplicates within an
    occupation dropped) and the index of its occupation in ``occupations`` (default: ``esco.occupations``)."""
    labels, owners = [], []
    for index, occupation in enumerate(esco.occupations if occupations is None else occupations):
        seen = set()
        for label in (occupation.label, *occupation.alt_labels, *occupation.hidden_labels):
            if label.lower() not in seen:
                seen.add(label.lower())
                labels.append(label)
                owners.append(index)
    return labels, torch.tensor(owners, dtype=torch.long)


def max_per_group(scores: torch.Tensor, owners: torch.Tensor, n_groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Aggregate label scores to their groups (occupations) by the maximum.

    ``scores``: (queries, labels); ``owners``: (labels,) group of each label. Returns ``(values, best)``, both
    (queries, n_groups): a group's best label score (``-inf`` for a group without labels) and that label's index
    (``-1`` for none). Ties go to the first label.

    >>> scores = torch.tensor([[0.1, 0.9, 0.4, 0.9], [0.5, 0.2, 0.3, 0.1]])
    >>> values, best = max_per_group(scores, torch.tensor([0, 1, 1, 1]), 3)
    >>> values
    tensor([[0.1000, 0.9000,   -inf],
            [0.5000, 0.3000,   -inf]])
    >>> best
    tensor([[ 0,  1, -1],
            [ 0,  2, -1]])
    """
    queries = scores.shape[0]
    index = owners.to(scores.device).expand(queries, -1)
    values = torch.full((queries, n_groups), float("-inf"), dtype=scores.dtype, device=scores.device)
    values = values.scatter_reduce(1, index, scores, reduce="amax", include_self=True)
    # the first label that reaches its group's maximum
    is_best = scores == values.gather(1, index)
    positions = torch.arange(scores.shape[1], device=scores.device).expand(queries, -1)
    candidates = torch.where(is_best, positions, torch.full_like(positions, scores.shape[1]))
    best = torch.full((queries, n_groups), scores.shape[1], dtype=torch.long, device=scores.device)
    best = best.scatter_reduce(1, index, candidates, reduce="amin", include_self=True)
    best[best == scores.shape[1]] = -1
    return values, best


def clean_title(title: str) -> str:
    """A job title as text: HTML tags and entities resolved, whitespace collapsed.

    >>> clean_title("<b>Sales &amp; Marketing</b>  Executive")
    'Sales & Marketing Executive'
    """
    if looks_like_html(title):
        title = html_to_text(title)
    return " ".join(html.unescape(title).split())


class TitleNormalizer:
    """Map job titles to ESCO occupations, and titles to the skills they imply.

    ``model``: a :class:`TitleModel`, a title-model folder, a base encoder name or ``None`` for the shipped trained
    model (``contextmatch/models/title-default``). Where that folder is absent, ``None`` falls back to zero-shot
    all-MiniLM-L6-v2 without heads (mean-pooled cosine, the baseline of ``results/titles``).

    Titles are compared with every preferred, alternative and hidden label of the 3,008 occupations of ESCO v1.1.0
    (or only of ``occupations``, a list of occupation URIs). An occupation's score is
    ``(best + w * centroid) / (1 + w)``: ``best`` is the cosine with its closest label (``matched_label``),
    ``centroid`` the cosine with the normalised mean of its label vectors, ``w`` = ``centroid_weight``
    (:data:`CENTROID_WEIGHT`, chosen on held-out ESCO labels; ``0`` gives the plain best-label score). Label and skill
    vectors are computed once per model and ESCO version and cached as safetensors under
    :func:`contextmatch.cache.cache_dir`.

    Occupation prior (:mod:`contextmatch.titles.prior`): when the model folder holds ``occupation_prior.json`` (a job
    board's occupation counts learnt from labelled titles), ``prior_weight * log(1 + n / scale)`` is added to every
    score.
    ``prior_weight=None`` takes the folder's weight (chosen on held-out titles), ``0`` turns the prior off;
    ``prior_counts`` (occupation URI -> number of titles, e.g. from :func:`contextmatch.titles.prior.count_uris` on a
    user's own coded titles) replaces the folder's counts.
    """

    def __init__(self, model: TitleModel | str | None = None, esco_version: str = DEFAULT_ESCO_VERSION,
                 device: str | None = None, batch_size: int = 64, occupations: list[str] | None = None,
                 centroid_weight: float | None = None, prior_weight: float | None = None,
                 prior_counts: dict[str, int] | None = None):
        self.model = model if isinstance(model, TitleModel) else TitleModel.from_pretrained(model, device=device)
        self.centroid_weight = CENTROID_WEIGHT if centroid_weight is None else float(centroid_weight)
        if self.centroid_weight < 0:
            raise ValueError(f"centroid_weight must be at least 0, got {centroid_weight}")
        self.esco = load_esco(esco_version)
        if occupations is None:
            self.occupations = self.esco.occupations
        else:
            unknown = [uri for uri in occupations if uri not in self.esco.occupation_by_uri]
            if unknown:
                raise ValueError(f"not ESCO v{esco_version} occupations: {', '.join(unknown[:3])}")
            self.occupations = [self.esco.occupation_by_uri[uri] for uri in occupations]
        self.esco_version = esco_version
        self.batch_size = batch_size
        self.set_prior(prior_weight, prior_counts)
        self._labels: list[str] | None = None
        self._owners: torch.Tensor | None = None
        self._label_matrix: torch.Tensor | None = None
        self._centroids: torch.Tensor | None = None
        self._skill_matrix: torch.Tensor | None = None

    def set_prior(self, weight: float | None, counts: dict[str, int] | None = None) -> None:
        """Use the occupation prior ``weight * log(1 + n / scale)`` (see the class docstring); ``weight=None`` takes the
        model folder's weight, ``counts=None`` its counts."""
        from .prior import log_counts, read_prior

        stored = read_prior(self.model.name) if Path(self.model.name).is_dir() else None
        if weight is None and counts is not None and stored is None:
            raise ValueError(f"{self.model.name} has no occupation prior to take the weight from")
        if weight is None:
            weight = stored["weight"] if stored else 0.0
        if weight < 0:
            raise ValueError(f"prior_weight must be at least 0, got {weight}")
        if counts is None and weight and stored is None:
            raise ValueError(f"{self.model.name} has no occupation prior: give prior_counts or prior_weight=0")
        counts = counts if counts is not None else (stored or {}).get("counts", {})
        self.prior_weight = float(weight)
        self.prior_scale = float((stored or {}).get("scale", 1.0))
        self.prior = log_counts(counts, [o.uri for o in self.occupations], self.prior_scale) \
            if self.prior_weight else None

    # -- cached matrices ---------------------------------------------------------------------------------------
    def _cached(self, kind: str, texts: list[str], encode) -> torch.Tensor:
        from safetensors.torch import load_file, save_file

        key = f"{self.model.fingerprint}-{labels_fingerprint(texts, MAX_LENGTH, kind)}"
        path = cache_dir() / "title_embeddings" / f"esco-{self.esco_version}-{kind}-{key}.safetensors"
        if path.exists():
            return load_file(path)["embeddings"]
        print(f"Encoding {len(texts):,} ESCO {kind} with {self.model.name} (once per model; cached in {path.parent})",
              file=sys.stderr)
        matrix = encode(texts).contiguous()
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        save_file({"embeddings": matrix}, str(partial), metadata={"esco_version": self.esco_version, "kind": kind})
        partial.replace(path)  # atomic: a killed run never leaves a half-written matrix
        return matrix

    @property
    def labels(self) -> list[str]:
        if self._labels is None:
            self._labels, self._owners = occupation_labels(self.esco, self.occupations)
        return self._labels

    @property
    def label_owners(self) -> torch.Tensor:
        self.labels  # noqa: B018 (fills _owners)
        return self._owners

    def label_matrix(self) -> torch.Tensor:
        """(labels, dim) unit title-head vectors of every occupation label."""
        if self._label_matrix is None:
            progress = sys.stderr.isatty()
            self._label_matrix = self._cached(
                "occupation-labels", self.labels,
                lambda texts: self.model.encode_titles(texts, batch_size=256, progress=progress))
        return self._label_matrix

    def centroids(self) -> torch.Tensor:
        """(occupations, dim) normalised mean of each occupation's unit label vectors."""
        if self._centroids is None:
            matrix = self.label_matrix()
            sums = torch.zeros((len(self.occupations), matrix.shape[1]), dtype=matrix.dtype)
            self._centroids = torch.nn.functional.normalize(sums.index_add_(0, self.label_owners, matrix), dim=-1)
        return self._centroids

    def skill_matrix(self) -> torch.Tensor:
        """(skills, dim) unit skills-head vectors of the ESCO skills' preferred labels."""
        if self._skill_matrix is None:
            progress = sys.stderr.isatty()
            self._skill_matrix = self._cached(
                "skills", self.esco.skill_labels,
                lambda texts: self.model.encode_skills([[t] for t in texts], batch_size=256, progress=progress))
        return self._skill_matrix

    # -- scoring -----------------------------------------------------------------------------------------------
    def _occupation_scores(self, queries: torch.Tensor, chunk: int = 256):
        """(values, best label) per occupation for unit query vectors, in chunks of queries."""
        matrix = self.label_matrix()
        weight = self.centroid_weight
        values, best = [], []
        for start in range(0, len(queries), chunk):
            batch = queries[start:start + chunk]
            v, b = max_per_group(batch @ matrix.T, self.label_owners, len(self.occupations))
            if weight:
                v = (v + weight * (batch @ self.centroids().T)) / (1 + weight)
            if self.prior is not None:
                v = v + self.prior_weight * self.prior
            values.append(v)
            best.append(b)
        if not values:
            n = len(self.occupations)
            return torch.empty((0, n)), torch.empty((0, n), dtype=torch.long)
        return torch.cat(values), torch.cat(best)

    def _encode_queries(self, titles: list[str], progress: bool = False) -> torch.Tensor:
        """Unit title-head vectors of job titles as users give them (see :func:`clean_title`)."""
        return self.model.encode_titles([clean_title(t) for t in titles], batch_size=self.batch_size,
                                        progress=progress)

    def score_occupations(self, titles: list[str], progress: bool = False) -> torch.Tensor:
        """(len(titles), occupations) scores of every occupation (in ``self.occupations`` order: by default all
        3,008 of ``esco.occupations``) for each title."""
        queries = self._encode_queries(titles, progress)
        return self._occupation_scores(queries)[0]

    def _matches(self, queries: torch.Tensor, top_k: int) -> list[list[OccupationMatch]]:
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        values, best = self._occupation_scores(queries)
        top = torch.topk(values, min(top_k, values.shape[1]), dim=1)
        results = []
        for row, (scores, indices) in enumerate(zip(top.values.tolist(), top.indices.tolist())):
            matches = []
            for score, index in zip(scores, indices):
                occupation = self.occupations[index]
                bonus = self.prior_weight * float(self.prior[index]) if self.prior is not None else 0.0
                matches.append(OccupationMatch(occupation.uri, occupation.label, occupation.code, round(score, 4),
                                               self.labels[int(best[row, index])], round(score - bonus, 4)))
            results.append(matches)
        return results

    def normalize(self, titles: list[str], top_k: int = 5, progress: bool = False) -> list[list[OccupationMatch]]:
        """The ``top_k`` ESCO occupations for each title, best first."""
        if isinstance(titles, str):
            raise TypeError("normalize() takes a list of titles; for one title use normalize([title])")
        return self._matches(self._encode_queries(titles, progress), top_k)

    def implied_skills(self, title: str, top_k: int = 10) -> list[SkillHit]:
        """ESCO skills a title implies: the title vector ranked against every skill label through the skills head."""
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        query = self._encode_queries([title])
        scores = (query @ self.skill_matrix().T)[0]
        top = torch.topk(scores, min(top_k, len(scores)))
        return [SkillHit(self.esco.skills[i].uri, self.esco.skills[i].label, round(s, 4))
                for s, i in zip(top.values.tolist(), top.indices.tolist())]

    def ad_query(self, title: str, skills: Sequence[str], skill_weight: float = 0.5) -> torch.Tensor:
        """The (1, dim) query of a job ad: its title vector plus ``skill_weight`` times the vector of its skill list,
        renormalised. The two heads share one space, so the skills pull the query towards occupations that need
        them; with no skills this is the title vector."""
        query = self._encode_queries([title])
        skills = [s for s in skills if s and s.strip()]
        if skills and skill_weight:
            query = torch.nn.functional.normalize(query + skill_weight * self.model.encode_skills([skills]), dim=-1)
        return query

    def normalize_ad(self, title: str, skills: Sequence[str], top_k: int = 5,
                     skill_weight: float = 0.5) -> list[OccupationMatch]:
        """Normalize a job ad's title using its skills (for example those ConTeXT-match extracted) as context."""
        return self._matches(self.ad_query(title, skills, skill_weight), top_k)[0]
