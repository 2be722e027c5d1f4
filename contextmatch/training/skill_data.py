"""Build the ConTeXT-match training set: (text, ESCO skill) pairs from sources available offline.

Sources (each a ``source`` value in the output):
- ``esco-alt``: each alternative label of a skill, paired with the skill;
- ``esco-description``: each skill's description, paired with the skill;
- ``template``: short job-ad style sentences written around alternative labels with templates of our own;
- ``skillskape``: SkillSkape train sentences with their ESCO labels (``UNK`` skipped);
- ``skillspan``: SkillSpan train sentences whose annotated skill/knowledge spans equal an ESCO preferred or
  alternative label (case-insensitive): distant supervision;
- ``skillspan-linked`` (with ``--link-spans``): SkillSpan train sentences with at least one other span that
  all-MiniLM-L6-v2 links to an ESCO skill (:class:`SpanLinker`), with their exact and linked labels;
- ``self-training`` (with ``--self-train MODEL``): SkillSpan train sentences holding a span, with the skills a
  trained model reports confidently (:mod:`contextmatch.training.self_training`).

Every text that also occurs in a benchmark file (TECH, HOUSE, Skill-XL; compared lower-cased with white space and
outer punctuation removed) is dropped and counted. The skill side is always the ESCO preferred label.
"""

from __future__ import annotations

import ast
import csv
import gzip
import hashlib
import json
import random
import re
from collections import Counter
from pathlib import Path

from ..esco import ATTRIBUTION, load_esco
from ..evaluation.benchmarks import NAMED

VERSION = "v1"
SOURCES_DIR = Path(__file__).resolve().parents[1] / "data" / "training"
SKILLSKAPE_TRAIN = SOURCES_DIR / "skillskape_train.csv.gz"
SKILLSPAN_TRAIN = SOURCES_DIR / "skillspan_train.json.gz"
TEMPLATES_SKILL = [
    "You will {x}.", "Ability to {x}.", "Your tasks include: {x}.", "We expect you to {x} independently.",
    "Experience: {x}.", "- {x}",
]
TEMPLATES_KNOWLEDGE = [
    "Knowledge of {x}.", "Experience with {x} is a must.", "Familiarity with {x}.", "Solid background in {x}.",
    "- {x}", "You know {x}.",
]


def normalise(text: str) -> str:
    """The form in which texts are compared with benchmark sentences.

    >>> normalise("  Experience with  PostgreSQL! ")
    'experience with postgresql'
    """
    return re.sub(r"\s+", " ", text.lower()).strip(" \t.,;:!?-•*\"'")


def benchmark_sentences() -> set[str]:
    """Normalised sentences of every shipped benchmark file (all splits)."""
    found = set()
    for splits in NAMED.values():
        for path in splits.values():
            with open(path, encoding="utf-8", newline="") as handle:
                found.update(normalise(row["sentence"]) for row in csv.DictReader(handle))
    return found


def _open(path: Path):
    opener = gzip.open if str(path).endswith(".gz") else open
    return opener(path, "rt", encoding="utf-8", newline="")


def _skillskape(path: Path, known: set[str]):
    with _open(path) as handle:
        for row in csv.DictReader(handle):
            labels = [label.strip() for label in ast.literal_eval(row["skills"]) if label.strip() in known]
            if labels:
                yield row["sentence"].strip(), labels


def _spans(tokens: list[str], tags: list[str]):
    span: list[str] = []
    for token, tag in zip(tokens, tags):
        if tag.startswith("B"):
            if span:
                yield " ".join(span)
            span = [token]
        elif tag.startswith("I") and span:
            span.append(token)
        else:
            if span:
                yield " ".join(span)
            span = []
    if span:
        yield " ".join(span)


def _skillspan(path: Path, label_index: dict[str, str], link=None):
    """(sentence, ESCO labels, source) of SkillSpan sentences: spans equal to an ESCO label (``skillspan``) and,
    with ``link`` (span texts -> labels or None: a :class:`SpanLinker`), the other spans it links
    (``skillspan-linked``)."""
    with _open(path) as handle:
        rows = [json.loads(line) for line in handle]
    spans = [[*_spans(r["tokens"], r["tags_skill"]), *_spans(r["tokens"], r["tags_knowledge"])] for r in rows]
    unmatched = sorted({s for row in spans for s in row if s.lower() not in label_index})
    links = dict(zip(unmatched, link(unmatched))) if link and unmatched else {}
    for row, found in zip(rows, spans):
        exact = [label_index[s.lower()] for s in found if s.lower() in label_index]
        linked = [links[s] for s in found if links.get(s)]
        labels = list(dict.fromkeys(exact + linked))
        if labels:
            yield " ".join(row["tokens"]), labels, "skillspan-linked" if set(labels) - set(exact) else "skillspan"


LINK_THRESHOLD, LINK_MARGIN = 0.85, 0.05  # chosen on TECH/HOUSE validation spans: scripts/calibrate_span_linking.py


class SpanLinker:
    """Links span texts to ESCO preferred labels, or abstains: all-MiniLM-L6-v2 cosine of the span with every
    preferred and alternative label, best label per skill; a span is linked to its best skill when that cosine
    reaches ``threshold`` and leads the second skill's by ``margin``."""

    def __init__(self, esco, threshold: float = LINK_THRESHOLD, margin: float = LINK_MARGIN, batch_size: int = 256):
        import torch
        from sentence_transformers import SentenceTransformer

        from ..models import minilm_path

        self.esco, self.threshold, self.margin, self.batch_size = esco, threshold, margin, batch_size
        self.encoder = SentenceTransformer(str(minilm_path()), device="cpu")
        labels, owners = [], []
        for index, skill in enumerate(esco.skills):
            for label in dict.fromkeys(label.lower() for label in (skill.label, *skill.alt_labels)):
                labels.append(label)
                owners.append(index)
        self.matrix = self.encoder.encode(labels, batch_size=batch_size, normalize_embeddings=True,
                                          convert_to_tensor=True)
        self.owners = torch.tensor(owners)

    def best_two(self, spans: list[str]):
        """(cosines, skill indices), both (spans, 2): each span's two best skills."""
        import torch

        from ..titles.normalizer import max_per_group

        values, indices = [], []
        for start in range(0, len(spans), self.batch_size):
            queries = self.encoder.encode(spans[start:start + self.batch_size], normalize_embeddings=True,
                                          convert_to_tensor=True)
            best, _ = max_per_group(queries @ self.matrix.T, self.owners, len(self.esco.skills))
            top = best.topk(2, dim=1)
            values.append(top.values)
            indices.append(top.indices)
        return torch.cat(values), torch.cat(indices)

    def __call__(self, spans: list[str]) -> list[str | None]:
        values, indices = self.best_two(spans)
        return [self.esco.skills[index].label if first >= self.threshold and first - second >= self.margin else None
                for (first, second), (index, _) in zip(values.tolist(), indices.tolist())]


def build_training_data(out_dir: Path, skillskape_csv: Path | None = SKILLSKAPE_TRAIN,
                        skillspan_json: Path | None = SKILLSPAN_TRAIN,
                        templates_per_skill: int = 2, seed: int = 0, link_spans: bool = False,
                        self_train: str | None = None) -> dict:
    """Write ``train.jsonl.gz`` (one ``{"text", "skills", "source"}`` per line) and a data card; returns counts.
    ``link_spans`` also links the SkillSpan spans that equal no ESCO label (:class:`SpanLinker`); ``self_train``
    (a model folder, or ``"default"``) adds its confident skills on SkillSpan train sentences
    (:mod:`contextmatch.training.self_training`)."""
    rng = random.Random(seed)
    esco = load_esco("1.1.0")
    known = set(esco.skill_by_label)
    label_index = {s.label.lower(): s.label for s in esco.skills}
    for skill in esco.skills:
        for alt in skill.alt_labels:
            label_index.setdefault(alt.lower(), skill.label)
    banned = benchmark_sentences()
    records, removed = [], Counter()

    def add(text: str, skills: list[str], source: str):
        if normalise(text) in banned:
            removed[source] += 1
        else:
            records.append({"text": text, "skills": skills, "source": source})

    for skill in esco.skills:
        for alt in skill.alt_labels:
            if alt.lower() != skill.label.lower():
                add(alt, [skill.label], "esco-alt")
        if skill.description:
            add(skill.description, [skill.label], "esco-description")
        names = [a for a in skill.alt_labels if a.lower() != skill.label.lower()] or [skill.label]
        templates = TEMPLATES_KNOWLEDGE if skill.skill_type == "knowledge" else TEMPLATES_SKILL
        for name in rng.sample(names, min(templates_per_skill, len(names))):
            add(rng.choice(templates).format(x=name), [skill.label], "template")
    if skillskape_csv:
        for text, skills in _skillskape(Path(skillskape_csv), known):
            add(text, skills, "skillskape")
    if skillspan_json:
        link = SpanLinker(esco) if link_spans else None
        for text, skills, source in _skillspan(Path(skillspan_json), label_index, link):
            add(text, skills, source)
    if self_train and skillspan_json:
        from .self_training import self_training_pairs

        for text, skills, source in self_training_pairs(Path(skillspan_json),
                                                        None if self_train == "default" else self_train):
            add(text, skills, source)
    rng.shuffle(records)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with gzip.open(out_dir / "train.jsonl.gz", "wt", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    counts = Counter(r["source"] for r in records)
    stats = {"version": VERSION + ("-linked" if link_spans else "") + ("-self" if self_train else ""),
             "pairs": len(records),
             "by_source": dict(sorted(counts.items())),
             "removed_benchmark_overlap": dict(sorted(removed.items())),
             "skills_covered": len({s for r in records for s in r["skills"]}), "seed": seed,
             "content_md5": content_md5(out_dir / "train.jsonl.gz")}
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    (out_dir / "README.md").write_text(_card(stats), encoding="utf-8")
    return stats


def content_md5(path: Path) -> str:
    """MD5 of a training file's uncompressed bytes: equal for two builds with the same lines, whatever gzip's
    header (which holds a time stamp) says."""
    digest = hashlib.md5()
    with _open(Path(path)) as handle:
        for line in handle:
            digest.update(line.encode("utf-8"))
    return digest.hexdigest()


def _card(stats: dict) -> str:
    rows = "\n".join(f"| {source} | {count:,} | {stats['removed_benchmark_overlap'].get(source, 0)} |"
                     for source, count in stats["by_source"].items())
    return f"""# ConTeXT-match training data {stats['version']}

Built by `contextmatch build-training-data`. One JSON object per line in `train.jsonl.gz`: `text`, `skills` (ESCO
v1.1.0 preferred labels; several for a multi-skill sentence) and `source`. {stats['pairs']:,} pairs covering
{stats['skills_covered']:,} skills.

| source | pairs | removed (text found in a benchmark) |
|---|---|---|
{rows}

Sources and licences:
- `esco-alt`, `esco-description`, `template`: ESCO v1.1.0 (European Commission; reuse policy 2011/833/EU, CC BY 4.0).
  The templates are short sentences written for this project around alternative labels.
- `skillskape`: SkillSkape train split (Magron et al., NLP4HR 2024), MIT; labels `UNK` skipped.
- `skillspan`: SkillSpan train split (Zhang et al., NAACL 2022), MIT; a sentence is paired with the skills whose ESCO
  preferred or alternative label equals one of its annotated spans (case-insensitive).
- `skillspan-linked`, `self-training` (only when built with `--link-spans` / `--self-train`): SkillSpan train
  sentences with skills linked by all-MiniLM-L6-v2 / reported confidently by a trained model (pseudo-labels).

Filtering: every text whose normalised form (lower case, white space collapsed, outer punctuation removed) equals a
sentence of the TECH or HOUSE validation/test files or of the Skill-XL validation split is removed; the counts are
in the table. No evaluation sentence is used for training.

{ATTRIBUTION}
"""
