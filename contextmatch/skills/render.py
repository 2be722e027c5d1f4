"""Writing extraction results: a readable table, JSON, JSONL or CSV (one row per sentence-skill pair)."""

from __future__ import annotations

import csv
import json
from typing import IO

from .results import Extraction

OUTPUT_FORMATS = ("table", "json", "jsonl", "csv")
CSV_COLUMNS = ["id", "sentence_index", "sentence", "relevance", "skill_uri", "skill_label", "score", "evidence",
               "group", "alternatives"]


def _record(ad_id: str, result: Extraction) -> dict:
    return {"id": ad_id, **result.to_dict()}


def rule_text(rule) -> str:
    """The decision layer in words, e.g. ``score >= 0.55, within 0.10 of the sentence's best``.

    >>> from contextmatch.skills.selection import SelectionRule
    >>> rule_text(SelectionRule(0.55, 0.1, 0.4))
    "score >= 0.55, within 0.10 of the sentence's best, relevance >= 0.40"
    """
    parts = [f"score >= {rule.threshold:.2f}" if not rule.calibrated else
             f"calibrated probability >= {rule.cutoff:g}"]
    if rule.margin < 2.0:
        parts.append(f"within {rule.margin:.2f} of the sentence's best")
    if rule.gate is not None:
        parts.append(f"relevance >= {rule.gate:.2f}")
    return ", ".join(parts)


def evidence_text(match) -> str:
    """Evidence words with their weights, e.g. ``Python:0.91; SQL:0.05``."""
    return "; ".join(f"{e.text}:{e.weight:.2f}" for e in match.evidence)


class Writer:
    """Streams results to ``out`` in one of :data:`OUTPUT_FORMATS`; call :meth:`close` at the end."""

    def __init__(self, out: IO[str], fmt: str, rule, top_k: int):
        """``rule`` is the extractor's :class:`~contextmatch.skills.selection.SelectionRule`, named in table headers."""
        self.out, self.fmt, self.rule, self.top_k = out, fmt, rule, top_k
        self.count = 0
        if fmt == "csv":
            self.csv = csv.writer(out)
            self.csv.writerow(CSV_COLUMNS)
        elif fmt == "json":
            out.write("[")

    def write(self, ad_id: str, result: Extraction) -> None:
        if self.fmt == "json":
            self.out.write(("," if self.count else "") + "\n" + json.dumps(_record(ad_id, result), ensure_ascii=False))
        elif self.fmt == "jsonl":
            self.out.write(json.dumps(_record(ad_id, result), ensure_ascii=False) + "\n")
        elif self.fmt == "csv":
            for sentence in result.sentences:
                for m in sentence.skills:
                    relevance = "" if sentence.relevance is None else f"{sentence.relevance:.4f}"
                    self.csv.writerow([ad_id, sentence.index, sentence.text, relevance, m.uri, m.label,
                                       f"{m.score:.4f}", evidence_text(m), m.group,
                                       "; ".join(a.label for a in m.alternatives)])
        else:
            self.out.write(self.table(ad_id, result))
        self.count += 1
        self.out.flush()

    def table(self, ad_id: str, result: Extraction) -> str:
        """The ad-level skills as an aligned text table, with evidence words and sentence numbers."""
        lines = [f"Ad {ad_id}: {len(result.sentences)} sentences, {len(result.skills)} skills ({rule_text(self.rule)}, "
                 f"at most {self.top_k} per sentence)"]
        if self.rule.gate is not None:
            skipped = sum(1 for s in result.sentences if self.rule.skips(s.relevance))
            lines[0] = lines[0][:-1] + f"; {skipped} sentences without skills skipped by the gate)"
        if result.skills:
            width = min(48, max(len(s.label) for s in result.skills))
            lines.append(f"  {'score':>5}  {'ESCO skill':<{width}}  {'type':<9}  evidence (sentence)")
            for number, skill in enumerate(result.skills):
                words = []
                for index in skill.sentences[:3]:
                    match = next(m for m in result.sentences[index].skills if m.group == number)
                    ev = ", ".join(e.text for e in match.evidence[:2]) or "-"
                    words.append(f"{ev} (s{index + 1})")
                more = f" +{len(skill.sentences) - 3}" if len(skill.sentences) > 3 else ""
                kind = "knowledge" if skill.skill_type == "knowledge" else "skill"
                label = skill.label if len(skill.label) <= width else skill.label[: width - 1] + "…"
                lines.append(f"  {skill.score:5.3f}  {label:<{width}}  {kind:<9}  {'; '.join(words)}{more}")
                if skill.alternatives:
                    also = ", ".join(a.label for a in skill.alternatives[:3])
                    extra = f" +{len(skill.alternatives) - 3}" if len(skill.alternatives) > 3 else ""
                    lines.append(f"  {'':5}  {'':<{width}}  {'':<9}  also: {also}{extra}")
        return "\n".join(lines) + "\n\n"

    def close(self) -> None:
        if self.fmt == "json":
            self.out.write("\n]\n")
        self.out.flush()
