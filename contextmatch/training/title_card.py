"""The model card (README) of a trained title-model folder."""

from __future__ import annotations



def model_card(info: dict, name: str, path: str | None = None) -> str:
    """The README of a trained title-model folder ``name`` (loaded from ``path``, default ``name``)."""
    path = path or name
    base = info["base"]
    selected = info["selected"] or {}
    counts = info["data"]
    config = info["config"]
    return f"""---
library_name: sentence-transformers
pipeline_tag: sentence-similarity
license: apache-2.0
base_model: {base}
language: en
tags: [sentence-transformers, job-titles, esco, jobbert, title-normalization]
---

# {name}: a JobBERT-v2-style job-title model for ESCO

A bi-encoder for job titles and skill lists: `{base}`, mean pooling, then one of two projection heads, a **title**
head for job titles and a **skills** head for comma-separated skill lists, into one {config["head_dim"]}-d space.
Titles of the same ESCO occupation lie close together, and close to the skills that occupation needs.

```python
from sentence_transformers import SentenceTransformer

model = SentenceTransformer("{path}")  # a local folder works offline
titles = model.encode(["sr. java dev"], task="title")            # title head   (or model.encode_query)
skills = model.encode(["java, spring, sql"], task="skills")      # skills head  (or model.encode_document)
print(model.similarity(titles, skills))
```

Plain `model.encode(texts)` without a task raises an error on purpose: the model has no un-projected output.
With the `contextmatch` library: `TitleNormalizer(model="{path}").normalize(["sr. java dev"])` ranks the 3,008
ESCO v1.1.0 occupations (best label per occupation, plus the cosine with the occupation's label centroid), and
`contextmatch normalize --model {path} "sr. java dev"` prints them.

## Training

- Recipe `{info["recipe"]}`: {info["steps"]} steps of {config["batch_size"]} anchors ({info["steps"] / max(1, info["steps_per_epoch"]):.2f} epochs), learning
  rate {config["lr"]} (heads {config["head_lr"]}), in-batch negatives (InfoNCE, scale {config["scale"]}), seed {config["seed"]};
  {info["train_seconds"] / 60:.1f} minutes of training on `{info["device"]}`{f" with {info['threads']} thread(s)" if info.get("threads") else ""}.
- Data: {_pairs_line(counts) if counts.get("pair_anchors") else "ESCO v1.1.0 only. "}{counts["train_anchors"]:,} occupation labels (preferred, alternative, hidden), each paired
  with another label of its occupation, and a share of {config["skill_fraction"]} also with a JobBERT-v2-style skill
  list (a random subset of the occupation's essential and optional skills). Labels of one occupation are never
  negatives of each other.
- Never trained on evaluation titles: {counts["excluded_benchmark_titles"]:,} ESCO labels equal to a JobBERT evaluation
  title (lower-cased) were removed.
- Model selection (checkpoints every {config["val_every"]} epochs): the mean MRR on {counts["validation_queries"]:,} held-out
  ESCO alternative labels and on job-ad-like variants of them{_selection_line(counts, selected)}. The selected checkpoint (after
  {selected.get("epoch")} epochs) has validation MRR {selected.get("mrr")} ({selected.get("noisy_mrr")} on the variants).
{_prior_line(info.get("occupation_prior"))}
Benchmark results are in `results/titles/README.md` of the contextmatch repository.

This service uses the ESCO classification of the European Commission.
"""


def _pairs_line(counts: dict) -> str:
    return (f"ESCO v1.1.0 plus {counts['pair_anchors']:,} labelled vacancy titles (the `train` side of "
            f"`{counts['pairs_file']}`, split by title), each paired with a label of its occupation. ")


def _selection_line(counts: dict, selected: dict) -> str:
    if not counts.get("pair_anchors"):
        return " (never the benchmark)"
    return (f", averaged with the MRR of the {counts['pair_validation_titles']:,} `select` titles (never trained on; "
            f"{selected.get('pairs_mrr')} for the selected checkpoint, best label)")


def _prior_line(prior: dict | None) -> str:
    if not prior:
        return ""
    return (f"- Occupation prior (`occupation_prior.json`, applied by contextmatch's `TitleNormalizer`, not by "
            f"sentence-transformers): `score + {prior['weight']:g} * log(1 + n / {prior['scale']:g})`, n the number of "
            f"`train` titles of the occupation ({prior['titles']:,} titles, {prior['occupations']:,} occupations). "
            f"Weight and scale are the best on the `select` titles (MRR {prior['without_prior']['select_mrr']} -> "
            f"{prior['select_mrr']}) among those that cost at most half a point of MRR on held-out ESCO labels "
            f"({prior['without_prior']['esco_mrr']} -> {prior['esco_mrr']}), so titles unlike the board's keep their "
            f"ranking. `TitleNormalizer(prior_weight=0)` or `contextmatch normalize --no-prior` turns it off.\n")
