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

import json
from pathlib import Path
from typing import Sequence

import torch

from ..cache import model_fingerprint
from ..models import HUB_IDS, MINILM, SHIPPED_MODELS_DIR, ModelNotFound, resolve


SHIPPED_TITLE_MODEL_DIR = SHIPPED_MODELS_DIR / "title-default"
MAX_LENGTH = 64  # tokens, for titles and skill lists alike (as JobBERT-v2)
TITLE_ROUTE, SKILLS_ROUTE = "query", "document"
TASKS = {"title": TITLE_ROUTE, "query": TITLE_ROUTE, "skills": SKILLS_ROUTE, "document": SKILLS_ROUTE}
HEAD_DIMS = {384: 512, 768: 1024}  # encoder width -> head width, as JobBERT-v2 (768 -> 1024)


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
