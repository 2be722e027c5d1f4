"""Job-title normalization to ESCO occupations with a JobBERT-v2-style title model.

The title model is a bi-encoder: a transformer, mean pooling, then one of two projection heads: the *title* head
for job titles and the *skills* head for comma-separated skill lists ("python, sql, data analysis"). Both heads map
into one space (384 -> 512 on all-MiniLM-L6-v2, 768 -> 1024 on all-mpnet-base-v2), where a title lies near the
titles of the same occupation and near the skills that occupation needs.

On disk the model is a plain sentence-transformers folder whose last module is a ``Router`` with the routes
``query`` (title head; task names ``"title"`` or ``"query"``) and ``document`` (skills head; ``"skills"`` or
``"document"``). It has no default route, so the branch is always explicit and nobody gets un-projected vectors by
accident::

    from sentence_transformers import SentenceTransformer
    model = SentenceTransformer("path/to/title-model")              # works offline (HF_HUB_OFFLINE=1)
    titles = model.encode(["sr. java dev"], task="title")           # or model.encode_query([...])
    skills = model.encode(["java, spring, sql"], task="skills")     # or model.encode_document([...])
    model.similarity(titles, skills)

In this library use :class:`TitleModel` (``encode_titles`` / ``encode_skills``) and :class:`TitleNormalizer`.

This service uses the ESCO classification of the European Commission.
"""

from __future__ import annotations

import html
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from ..cache import cache_dir, labels_fingerprint, model_fingerprint
from ..esco import DEFAULT_ESCO_VERSION, Esco, load_esco
from ..models import HUB_IDS, MINILM, SHIPPED_MODELS_DIR, ModelNotFound, resolve
from ..text import html_to_text, looks_like_html

SHIPPED_TITLE_MODEL_DIR = SHIPPED_MODELS_DIR / "title-default"
MAX_LENGTH = 64  # tokens, for titles and skill lists alike (as JobBERT-v2)
TITLE_ROUTE, SKILLS_ROUTE = "query", "document"
TASKS = {"title": TITLE_ROUTE, "query": TITLE_ROUTE, "skills": SKILLS_ROUTE, "document": SKILLS_ROUTE}
HEAD_DIMS = {384: 512, 768: 1024}  # encoder width -> head width, as JobBERT-v2 (768 -> 1024)
CENTROID_WEIGHT = 1.0  # weight of the occupation-centroid cosine, chosen on held-out ESCO labels (not a benchmark)


def default_title_model() -> str:
    """The shipped trained title model when present, else zero-shot all-MiniLM-L6-v2 (no heads)."""
    return str(SHIPPED_TITLE_MODEL_DIR) if (SHIPPED_TITLE_MODEL_DIR / "modules.json").exists() else MINILM


def _has_router(model) -> bool:
    """Whether a loaded SentenceTransformer routes titles and skill lists through their own heads (a local folder
    and a hub download alike)."""
    return any(type(module).__name__ == "Router" for module in model.children())


def _skill_text(skills: str | Sequence[str]) -> str:
    """A skill list as the model reads it: comma-separated.

    >>> _skill_text(["python", " sql "]), _skill_text("python, sql")
    ('python, sql', 'python, sql')
    """
    if isinstance(skills, str):
        return skills.strip()
    return ", ".join(s.strip() for s in skills if s and s.strip())


class TitleModel:
    """A title/skill-list bi-encoder (a sentence-transformers model with a title and a skills head).

    Load one with :meth:`from_pretrained` (a title-model folder, a plain encoder for zero-shot use, or a hub id);
    build an untrained one on a base encoder with :meth:`from_base`. ``has_heads`` is False for a plain encoder:
    both branches then return the same mean-pooled vectors.
    """

    def __init__(self, st_model, has_heads: bool, name: str = ""):
        self.st = st_model
        self.has_heads = has_heads
        self.name = name
        self._fingerprint: str | None = None

    # -- construction ------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, name_or_path: str | None = None, device: str | None = None) -> "TitleModel":
        """Load a title model; ``None`` means the shipped default (see :func:`default_title_model`)."""
        from sentence_transformers import SentenceTransformer

        name = name_or_path or default_title_model()
        path = resolve(name)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            st = SentenceTransformer(path, device=device, model_kwargs={"dtype": torch.float32})
        except OSError as err:
            raise ModelNotFound(f"cannot load title model {name!r}: {err}") from None
        st.max_seq_length = min(st.max_seq_length or MAX_LENGTH, MAX_LENGTH)
        st.float()  # the shipped folder stores float16 weights; compute in float32
        return cls(st.eval(), has_heads=_has_router(st), name=name)

    @classmethod
    def from_base(cls, base: str = MINILM, head_dim: int | None = None, device: str | None = None,
                  seed: int = 0) -> "TitleModel":
        """A new title model on ``base``: mean pooling and two ``Dense`` heads, both initialised to the same random
        orthonormal projection, so cosine similarities start out exactly those of the base encoder."""
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.base.modules import Dense, Router, Transformer
        from sentence_transformers.sentence_transformer.modules import Pooling

        path = resolve(base)
        encoder = Transformer(path, max_seq_length=MAX_LENGTH, model_kwargs={"dtype": torch.float32})
        width = encoder.get_embedding_dimension()
        head_dim = head_dim or HEAD_DIMS.get(width, width)
        generator = torch.Generator().manual_seed(seed)
        basis, _ = torch.linalg.qr(torch.randn(max(head_dim, width), max(head_dim, width), generator=generator))
        weight = basis[:head_dim, :width]  # orthonormal columns when head_dim >= width: cosines unchanged
        heads = {}
        for route in (TITLE_ROUTE, SKILLS_ROUTE):
            dense = Dense(width, head_dim, bias=True, activation_function=torch.nn.Identity())
            with torch.no_grad():
                dense.linear.weight.copy_(weight)
                dense.linear.bias.zero_()
            heads[route] = [dense]
        router = Router(heads, default_route=None, allow_empty_key=False,
                        route_mappings={("title", None): TITLE_ROUTE, ("skills", None): SKILLS_ROUTE})
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        st = SentenceTransformer(modules=[encoder, Pooling(width, "mean"), router], device=device,
                                 similarity_fn_name="cosine")
        return cls(st, has_heads=True, name=HUB_IDS.get(base, base))

    def save(self, folder: str | Path, half: bool = False) -> Path:
        """Write the model as a sentence-transformers folder (``half``: store float16 weights to halve the size)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if half:
            self.st.half()
        try:
            self.st.save(str(folder), create_model_card=False)
        finally:
            if half:
                self.st.float()
        if half:  # float16 on disk, but loaders should compute in float32 (transformers reads config.dtype)
            config_file = folder / "config.json"
            config = json.loads(config_file.read_text())
            config["dtype"] = "float32"
            config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        return folder

    # -- encoding ----------------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.st.device

    @property
    def dimension(self) -> int:
        return int(self.encode_titles(["x"]).shape[1])

    @property
    def fingerprint(self) -> str:
        """A digest of the weights (cached: call :meth:`changed` after modifying them in place)."""
        if self._fingerprint is None:
            self._fingerprint = model_fingerprint(self.st)
        return self._fingerprint

    def changed(self) -> None:
        self._fingerprint = None

    def _task(self, route: str) -> dict:
        return {"task": route} if self.has_heads else {}

    def forward(self, texts: list[str], route: str) -> torch.Tensor:
        """Un-normalised embeddings of ``texts`` through the ``route`` head, with gradients (for training)."""
        features = self.st.preprocess(texts)
        features = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}
        return self.st(features, **self._task(route))["sentence_embedding"]

    def _encode(self, texts: list[str], route: str, batch_size: int, normalize: bool, progress: bool):
        if not texts:
            return torch.empty((0, self.dimension))
        with torch.inference_mode():
            out = self.st.encode(list(texts), batch_size=batch_size, convert_to_tensor=True,
                                 normalize_embeddings=normalize, show_progress_bar=progress, **self._task(route))
        return out.float().cpu()

    def encode_titles(self, titles: list[str], batch_size: int = 64, normalize: bool = True,
                      progress: bool = False) -> torch.Tensor:
        """(len(titles), dim) job-title vectors from the title head, unit length unless ``normalize=False``."""
        return self._encode([t.strip() for t in titles], TITLE_ROUTE, batch_size, normalize, progress)

    def encode_skills(self, skill_lists: Sequence[str | Sequence[str]], batch_size: int = 64, normalize: bool = True,
                      progress: bool = False) -> torch.Tensor:
        """(len(skill_lists), dim) vectors from the skills head. Each item is one skill list: a comma-separated
        string ("python, sql") or a list of skill names; a single skill is a list of one."""
        return self._encode([_skill_text(s) for s in skill_lists], SKILLS_ROUTE, batch_size, normalize, progress)


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
