"""Export a ConTeXT-match model as a complete hub-style folder that ``AutoModel.from_pretrained`` loads."""

from __future__ import annotations

import shutil
from pathlib import Path

import configuration_contextmatch
import modeling_contextmatch

from .esco import load_esco
from .models import load_model

REPO_DIR = Path(__file__).resolve().parent.parent
MODEL_CARDS = REPO_DIR / "model_cards"
AUTO_MAP = {
    "AutoConfig": "configuration_contextmatch.ContextMatchConfig",
    "AutoModel": "modeling_contextmatch.ContextMatchModel",
}
NO_RESULTS = "No evaluation results are recorded for this model yet: run `contextmatch evaluate --model <folder>`."


def model_card(model, repo: str, results: str | None = None) -> str:
    """The README.md of an exported model, from ``model_cards/contextmatch.md``."""
    from .results_tables import ABLATION_README, TRAINING_RUNS_README, comparison_markdown, markdown_table

    template = (MODEL_CARDS / "contextmatch.md").read_text(encoding="utf-8")
    config = model.config
    trained = getattr(config, "training", None)
    return template.format(
        name=Path(repo).name,
        repo=repo,
        base_model=getattr(config, "base_model", None) or "unknown",
        encoder_type=config.encoder.get("model_type", "?"),
        hidden_size=config.encoder.get("hidden_size", "?"),
        training_note=f"; fine-tuned: {trained}" if trained else " (zero-shot: the encoder is not fine-tuned)",
        attn_temperature=config.attn_temperature,
        max_sentence_length=config.max_sentence_length,
        max_skill_length=config.max_skill_length,
        special_tokens=("every non-padding token, CLS and SEP included, takes part"
                        if getattr(config, "attend_special_tokens", True)
                        else "CLS and SEP are left out of the attention"),
        comparison=comparison_markdown() or NO_RESULTS,
        ablation=markdown_table(ABLATION_README) or "Not measured for this model.",
        cpu_runs=markdown_table(TRAINING_RUNS_README) or "Not measured for this model.",
        score_threshold=config.score_threshold,
        esco_version=config.esco_version,
        n_skills=len(load_esco(config.esco_version).skills),
        results=results or NO_RESULTS,
    )


def export_model(out: str | Path, model_name: str | None = None, repo: str | None = None,
                 results: str | None = None) -> Path:
    """Write config.json (with ``auto_map``), model.safetensors, tokenizer files, the two remote-code files and a
    model card to ``out``; returns the folder."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty: choose a new folder or remove it first")
    model, tokenizer = load_model(model_name, device="cpu")
    model.config.auto_map = dict(AUTO_MAP)
    model.config.architectures = ["ContextMatchModel"]
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    for module in (configuration_contextmatch, modeling_contextmatch):
        shutil.copy(module.__file__, out / Path(module.__file__).name)
    if results is None:
        from .evaluation import System, results_markdown

        results = results_markdown(System("contextmatch", model_name).name)
    (out / "README.md").write_text(model_card(model, repo or out.name, results), encoding="utf-8")
    return out
