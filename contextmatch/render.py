"""Writing extraction results: a readable table, JSON, JSONL or CSV (one row per sentence-skill pair)."""

from __future__ import annotations

import csv
import json
from typing import IO

from .extractor import Extraction

OUTPUT_FORMATS = ("table", "json", "jsonl", "csv")
CSV_COLUMNS = ["id", "sentence_index", "sentence", "skill_uri", "skill_label", "score", "evidence"]


def _record(ad_id: str, result: Extraction) -> dict:
    return {"id": ad_id, **result.to_dict()}


def evidence_text(match) -> str:
    """Evidence words with their weights, e.g. ``Python:0.91; SQL:0.05``."""
    return "; ".join(f"{e.text}:{e.weight:.2f}" for e in match.evidence)


class Writer:
    """Streams results to ``out`` in one of :data:`OUTPUT_FORMATS`; call :meth:`close` at the end."""

    def __init__(self, out: IO[str], fmt: str, threshold: float, top_k: int):
        self.out, self.fmt, self.threshold, self.top_k = out, fmt, threshold, top_k
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
                    self.csv.writerow([ad_id, sentence.index, sentence.text, m.uri, m.label, f"{m.score:.4f}",
                                       evidence_text(m)])
        else:
            self.out.write(self.table(ad_id, result))
        self.count += 1
        self.out.flush()

    def table(self, ad_id: str, result: Extraction) -> str:
        """The ad-level skills as an aligned text table, with evidence words and sentence numbers."""
        lines = [
            f"Ad {ad_id}: {len(result.sentences)} sentences, {len(result.skills)} skills "
            f"(score >= {self.threshold:.2f}, at most {self.top_k} per sentence)"
        ]
        if result.skills:
            width = min(48, max(len(s.label) for s in result.skills))
            lines.append(f"  {'score':>5}  {'ESCO skill':<{width}}  {'type':<9}  evidence (sentence)")
            for skill in result.skills:
                words = []
                for index in skill.sentences[:3]:
                    match = next(m for m in result.sentences[index].skills if m.uri == skill.uri)
                    ev = ", ".join(e.text for e in match.evidence[:2]) or "-"
                    words.append(f"{ev} (s{index + 1})")
                more = f" +{len(skill.sentences) - 3}" if len(skill.sentences) > 3 else ""
                kind = "knowledge" if skill.skill_type == "knowledge" else "skill"
                label = skill.label if len(skill.label) <= width else skill.label[: width - 1] + "…"
                lines.append(f"  {skill.score:5.3f}  {label:<{width}}  {kind:<9}  {'; '.join(words)}{more}")
        return "\n".join(lines) + "\n\n"

    def close(self) -> None:
        if self.fmt == "json":
            self.out.write("\n]\n")
        self.out.flush()
