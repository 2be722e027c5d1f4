"""Shared fixtures: one offline environment and one default model per test session."""

import json
import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="hf-home-"))
# Skill matrices are cached per model; reuse one cache for the whole session (and its subprocesses).
os.environ.setdefault("CONTEXTMATCH_CACHE", tempfile.mkdtemp(prefix="contextmatch-cache-"))
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def model_and_tokenizer():
    from contextmatch.models import load_model

    return load_model(None, device="cpu")


@pytest.fixture(scope="session")
def extractor(model_and_tokenizer):
    from contextmatch.skills.extractor import SkillExtractor

    return SkillExtractor(model_and_tokenizer)


@pytest.fixture(scope="session")
def example_ad() -> str:
    return (ROOT / "examples" / "job_ad.txt").read_text(encoding="utf-8")


def run_cli(*args, stdin: bytes | None = None, timeout: float = 600):
    """Run the contextmatch CLI in a fresh process; returns the CompletedProcess."""
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "contextmatch.cli.main", *map(str, args)], input=stdin, capture_output=True,
        timeout=timeout, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def shipped_threshold() -> float:
    """The extraction threshold stored in the shipped default model's config."""
    from contextmatch.models import SHIPPED_MODEL_DIR

    return json.loads((SHIPPED_MODEL_DIR / "config.json").read_text())["score_threshold"]


@pytest.fixture(scope="session")
def plain_extractor(model_and_tokenizer):
    """The default model without its decision layer: no gate, no margin, no grouping (the ranking as it is)."""
    from contextmatch.skills.extractor import SkillExtractor

    return SkillExtractor(model_and_tokenizer, gate=False, grouping=False, margin=2.0)
