"""Self-training pairs: real job-ad sentences labelled with a trained model's confident skills.

The synthetic training texts repeat their label's words, so a model trained on them learns word overlap. Real
sentences phrase skills their own way. This module labels SkillSpan train sentences that hold a SKILL or KNOWLEDGE
span (the only real job-ad text the training set may use: TECH and HOUSE come from SkillSpan's test split, and
SkillSpan dev scores the gate) with the skills a shipped model reports under its own decision layer (gate and
calibrated selection) at a stricter probability cut-off, ``cutoff``. The pairs are source ``self-training``.
"""

from __future__ import annotations

from pathlib import Path

SOURCE = "self-training"
DEFAULT_CUTOFF = 0.5  # calibrated probability that a reported skill is right; the shipped rule reports from 0.15
MAX_WORDS = 40  # longer lines (SkillSpan has whole pasted postings) are cut at the recipe's 48 training tokens


def postings(path: Path) -> list[list[tuple[str, bool]]]:
    """SkillSpan postings (sentences grouped by ``idx``, in file order): each sentence (``tokens`` joined by spaces)
    and whether it holds a SKILL or KNOWLEDGE span."""
    from ..skills.gate import group_by_ad, skillspan_postings, skillspan_sentences

    texts, spans = skillspan_sentences(path)
    return [[(texts[i], bool(spans[i])) for i in ad] for ad in group_by_ad(skillspan_postings(path))]


def confident_skills(extractor, ads: list[list[str]], cutoff: float = DEFAULT_CUTOFF,
                     top_k: int = 5) -> list[list[list[str]]]:
    """Per ad and sentence, the preferred labels of the skills ``extractor`` reports with its model's calibrated
    selection and gate (the gate reads each sentence's neighbours in its ad), keeping only those of probability
    ``cutoff`` or more (no grouping: every kept skill is a label)."""
    from dataclasses import replace

    from ..skills.selection import NO_MARGIN

    rule = extractor.rule()
    if not rule.calibrated:
        raise ValueError("self-training needs a model with calibrated selection (selection_weights or selection_trees "
                         "in its config)")
    rule = replace(rule, cutoff=max(cutoff, rule.cutoff), similarity=None)
    saved = extractor.gate, extractor.grouping, extractor.margin
    extractor.gate, extractor.grouping, extractor.margin = False, False, NO_MARGIN  # rank only; decide below
    try:
        results = extractor.extract_sentences(ads, 2 * top_k, -2.0, progress=True)
    finally:
        extractor.gate, extractor.grouping, extractor.margin = saved
    return [[[m.label for m in extractor.decide(s.text, s.skills, s.relevance, rule, top_k)] for s in r.sentences]
            for r in results]


def self_training_pairs(path: Path, model: str | None = None, cutoff: float = DEFAULT_CUTOFF):
    """(sentence, labels, source) for each span-holding SkillSpan sentence of ``path`` with at least one confident
    skill of ``model`` (default: the shipped default model)."""
    from ..skills.extractor import SkillExtractor

    ads = postings(path)
    labels = confident_skills(SkillExtractor(model, quantize="auto"), [[s for s, _ in ad] for ad in ads], cutoff)
    for ad, found in zip(ads, labels):
        for (sentence, spans), skills in zip(ad, found):
            if spans and skills and len(sentence.split()) <= MAX_WORDS:
                yield sentence, skills, SOURCE
