"""Export a ConTeXT-match model as one hub-style folder that loads three ways from one copy of the weights.

- ``AutoModel.from_pretrained(DIR, trust_remote_code=True)``: the model with its head (``config.json`` with
  ``auto_map``, the two remote-code files, the tokenizer);
- ``SentenceTransformer(DIR)`` without remote code: ``modules.json`` names the encoder subfolder (a plain
  transformers folder, the only weights) and a mean Pooling module, and no Normalize module (DESIGN.md §3);
- WorkRB's ``ConTeXTMatchModel(DIR)`` and ``BiEncoderModel(DIR)``, which load it with ``SentenceTransformer``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import configuration_contextmatch
import modeling_contextmatch

from ..esco import load_esco
from ..models import load_model

REPO_DIR = Path(__file__).resolve().parents[2]
MODEL_CARDS = REPO_DIR / "model_cards"
AUTO_MAP = {
    "AutoConfig": "configuration_contextmatch.ContextMatchConfig",
    "AutoModel": "modeling_contextmatch.ContextMatchModel",
}
NO_RESULTS = "No evaluation results are recorded for this model yet: run `contextmatch evaluate --model <folder>`."
ENCODER_FOLDER = "encoder"  # the encoder's weights, config and tokenizer: a plain transformers folder
POOLING_FOLDER = "1_Pooling"


def sentence_transformers_files(hidden_size: int, max_seq_length: int) -> dict[str, dict | list]:
    """The JSON files (relative path: content) that make an export folder a sentence-transformers model: the
    encoder subfolder's token embeddings, then their mean over non-padding tokens, not normalised.

    >>> files = sentence_transformers_files(384, 128)
    >>> [module["path"] for module in files["modules.json"]], files["1_Pooling/config.json"]["pooling_mode"]
    (['encoder', '1_Pooling'], 'mean')
    """
    return {
        "modules.json": [
            {"idx": 0, "name": "0", "path": ENCODER_FOLDER, "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": POOLING_FOLDER, "type": "sentence_transformers.models.Pooling"},
        ],
        "config_sentence_transformers.json": {"model_type": "SentenceTransformer", "prompts": {},
                                              "default_prompt_name": None, "similarity_fn_name": "cosine"},
        f"{ENCODER_FOLDER}/sentence_bert_config.json": {"max_seq_length": max_seq_length, "do_lower_case": False},
        f"{POOLING_FOLDER}/config.json": {"embedding_dimension": hidden_size, "pooling_mode": "mean",
                                          "include_prompt": True},
    }


def local_paths(value, where: str = "") -> list[str]:
    """Where parsed JSON holds an absolute local path (POSIX, home or Windows), as ``key.path: value``.

    >>> local_paths({"encoder": {"_name_or_path": "/venv/site-packages/m"}, "base": "org/m", "x": ["~/m", "a/b"]})
    ['encoder._name_or_path: /venv/site-packages/m', 'x.0: ~/m']
    """
    if isinstance(value, dict):
        return [leak for key, item in value.items() for leak in local_paths(item, f"{where}.{key}".lstrip("."))]
    if isinstance(value, list):
        return [leak for i, item in enumerate(value) for leak in local_paths(item, f"{where}.{i}".lstrip("."))]
    is_path = isinstance(value, str) and re.match(r"^(/[^/\s]|~/|[A-Za-z]:[\\/])", value)
    return [f"{where}: {value}"] if is_path else []


def _write_json(path: Path, content) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")


def decision_layer(config) -> str:
    """The gate, selection and grouping of a model's config in words, for its card."""
    parts = []
    if getattr(config, "gate_threshold", None) is not None:
        context = " and its neighbours in the ad" if getattr(config, "gate_context", None) else ""
        parts.append(f"relevance gate (logistic regressions on the mean-pooled sentence vector{context}) with cut-off "
                     f"{config.gate_threshold}")
    if getattr(config, "selection_trees", None):
        parts.append(f"calibrated selection ({len(config.selection_trees['value'])} gradient-boosted trees on score, "
                     f"rank and relevance, ESCO facts of the skill and its label words in the sentence) with cut-off "
                     f"{config.selection_cutoff}")
    elif getattr(config, "selection_weights", None):
        from ..skills.selection import N_PAIR_FEATURES

        reads = ("score, rank and relevance, ESCO facts of the skill and its label words in the sentence"
                 if len(config.selection_weights) > N_PAIR_FEATURES + 1 else "score, rank and relevance")
        parts.append(f"calibrated selection ({reads}) with cut-off {config.selection_cutoff}")
    if getattr(config, "group_similarity", None) is not None:
        parts.append(f"skills with label-vector cosine >= {config.group_similarity} grouped")
    return "; ".join(parts) or "none (one score threshold)"


def model_card(model, repo: str, results: str | None = None) -> str:
    """The README.md of an exported model, from ``model_cards/contextmatch.md``."""
    from ..evaluation.tables import ABLATION_README, TRAINING_RUNS_README, comparison_markdown, markdown_table

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
        decision_layer=decision_layer(config),
        esco_version=config.esco_version,
        n_skills=len(load_esco(config.esco_version).skills),
        results=results or NO_RESULTS,
    )


def export_model(out: str | Path, model_name: str | None = None, repo: str | None = None,
                 results: str | None = None) -> Path:
    """Write the folder described in this module's docstring to ``out`` (new or empty), with a model card;
    returns the folder. No file names a path of this machine."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty: choose a new folder or remove it first")
    model, tokenizer = load_model(model_name, device="cpu")
    config = model.config
    config.auto_map = dict(AUTO_MAP)
    config.architectures = ["ContextMatchModel"]
    config.encoder_folder = ENCODER_FOLDER
    if local_paths(getattr(config, "base_model", None)):  # a wrapped local encoder folder: keep only its name
        config.base_model = Path(config.base_model).name
    out.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(out)
    model.encoder.save_pretrained(out / ENCODER_FOLDER)
    for folder in (out, out / ENCODER_FOLDER):
        tokenizer.save_pretrained(folder)
    for name, content in sentence_transformers_files(config.encoder["hidden_size"], config.max_sentence_length).items():
        _write_json(out / name, content)
    for module in (configuration_contextmatch, modeling_contextmatch):
        shutil.copy(module.__file__, out / Path(module.__file__).name)
    if results is None:
        from ..evaluation.ranking import System, results_markdown

        results = results_markdown(System("contextmatch", model_name).name)
    (out / "README.md").write_text(model_card(model, repo or out.name, results), encoding="utf-8")
    leaks = [f"{path.relative_to(out)}: {leak}" for path in sorted(out.rglob("*.json"))
             for leak in local_paths(json.loads(path.read_text(encoding="utf-8")))]
    if leaks:
        raise ValueError(f"the export names local paths: {'; '.join(leaks)}")
    return out
