"""A uniform "model soup": train one recipe with several seeds and average their best models' weights.

``contextmatch train --soup N`` (the ``cpu`` recipe's default) trains seeds ``seed`` to ``seed + N - 1`` into
``OUT/seed-K`` (each an ordinary, resumable run) and writes the mean of their ``best`` weights to ``OUT/best``,
validated like a step of training. ``OUT/history.json`` lists every seed's validations, with a ``seed`` field, then
the soup's (``"seed": "soup"``).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def average(states: list[dict]) -> dict:
    """The float32 mean of each tensor over ``states`` (state dicts with the same names and shapes).

    >>> average([{"w": torch.tensor([1.0, 2.0])}, {"w": torch.tensor([3.0, 4.0], dtype=torch.float16)}])["w"]
    tensor([2., 3.])
    """
    names = set(states[0])
    for state in states[1:]:
        if set(state) != names or any(state[k].shape != states[0][k].shape for k in names):
            raise ValueError("the models do not have the same tensors: average only runs of one base")
    return {k: (sum(state[k].float() for state in states) / len(states)).contiguous() for k in sorted(names)}


def average_models(out: Path, models: list[Path], note: str | None = None) -> Path:
    """Write to ``out`` a copy of the last model folder whose ``model.safetensors`` is the mean of ``models``';
    ``note`` replaces the ``training`` line of its config."""
    missing = [str(m) for m in models if not (m / "model.safetensors").is_file()]
    if missing:
        raise FileNotFoundError(f"no model.safetensors in {', '.join(missing)}")
    averaged = average([load_file(str(m / "model.safetensors")) for m in models])
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(models[-1], partial)
    (partial / "validation.json").unlink(missing_ok=True)
    save_file(averaged, str(partial / "model.safetensors"), metadata={"format": "pt"})
    if note:
        config = json.loads((partial / "config.json").read_text())
        config["training"] = note
        (partial / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return out


def train_soup(config, resume: bool = False) -> dict:
    """Train ``config.soup`` seeds of ``config`` and average their best models into ``<out>/best``; returns the
    soup's state (``step``, ``seconds``, ``best``, ``history``) like :func:`contextmatch.training.skills.train`."""
    from ..models import load_model
    from .skills import mean_rp, run_folder, train, validate

    out = run_folder(config.out, resume)
    (out / "train_config.json").write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n")
    seeds = [config.seed + k for k in range(config.soup)]
    history, seconds = [], 0.0
    for seed in seeds:  # a finished seed resumes at its last step and returns at once
        state = train(dataclasses.replace(config, seed=seed, soup=1, out=str(out / f"seed-{seed}")), resume=resume)
        history += [{"seed": seed, **entry} for entry in state["history"]]
        seconds += state["seconds"]
    sources = ", ".join(config.sources) if config.sources else "all sources"
    sources += "".join(f"; {source} x{times}" for source, times in config.repeat.items())
    note = (f"uniform average of the best models of {len(seeds)} contrastive ConTeXT training runs on "
            f"{Path(config.data).name} ({sources}), seeds {seeds[0]}-{seeds[-1]}, batch {config.batch_size}, "
            f"lr {config.lr}, scale {config.scale}")
    best = average_models(out / "best", [out / f"seed-{seed}" / "best" for seed in seeds], note)
    model, tokenizer = load_model(str(best), config.device)
    scores = validate(model, tokenizer, config.validation)
    entry = {"seed": "soup", "step": state["step"], "rp@5": scores,
             "mean": mean_rp(scores), "seconds": round(seconds)}
    (best / "validation.json").write_text(json.dumps(entry, indent=2) + "\n")
    history.append(entry)
    (out / "history.json").write_text(json.dumps(history, indent=2) + "\n")
    return {"step": state["step"], "seconds": seconds, "best": entry, "history": history}
