"""The batch function: a batch of job ads -> one row per sentence (:func:`extract_batch`), with the Parquet schemas
of the rows, errors and ad summaries.

The local runner (:mod:`contextmatch.corpus.batch`), the Ray adapter (:mod:`contextmatch.corpus.ray_data`) and the
Spark and ``datasets`` recipes (docs/scale.md) all call :func:`extract_batch`, so every path writes the same rows.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Mapping, Sequence

import pyarrow as pa

from ..inputs import field_text


EVIDENCE = pa.struct([("start", pa.int32()), ("end", pa.int32()), ("text", pa.string()), ("weight", pa.float32())])
ALTERNATIVE = pa.struct([("uri", pa.string()), ("label", pa.string()), ("score", pa.float32())])
SKILL = pa.struct([("uri", pa.string()), ("label", pa.string()), ("score", pa.float32()),
                   ("evidence", pa.list_(EVIDENCE)), ("alternatives", pa.list_(ALTERNATIVE))])
SENTENCE_SCHEMA = pa.schema([("row", pa.int64()), ("id", pa.string()), ("sentence_index", pa.int32()),
                             ("start", pa.int32()), ("end", pa.int32()), ("sentence", pa.string()),
                             ("relevance", pa.float32()), ("skills", pa.list_(SKILL))])
ROW_SCHEMA = SENTENCE_SCHEMA.append(pa.field("error", pa.string()))  # what extract_batch returns
ERROR_SCHEMA = pa.schema([("row", pa.int64()), ("id", pa.string()), ("error", pa.string())])
AD_SKILL = pa.struct([("uri", pa.string()), ("label", pa.string()), ("skill_type", pa.string()),
                      ("score", pa.float32()), ("sentences", pa.list_(pa.int32()))])
AD_SCHEMA = pa.schema([("row", pa.int64()), ("id", pa.string()), ("sentences", pa.int32()),
                       ("skills", pa.list_(AD_SKILL))])
NO_SENTENCES = "no text left after cleaning (markup or bullets only)"


# ---- the batch function -----------------------------------------------------------------------------------------


def ad_text(value) -> tuple[str | None, str | None]:
    """A record's text field as ``(text, problem)``; the problem says why it cannot be read as a job ad.

    >>> ad_text("Experience with SQL."), ad_text(" \\n"), ad_text(None)
    (('Experience with SQL.', None), (None, 'empty text'), (None, 'no text'))
    >>> ad_text("PK\\x03\\x04\\x00\\x00 data"), ad_text(b"\\xff\\xfe")
    ((None, 'binary data, not text'), (None, 'text is not valid UTF-8'))
    """
    text, problem = field_text(value)
    if problem:
        return None, f"text is {problem}"
    if text is None:
        return None, "no text"
    if not text.strip():
        return None, "empty text"
    controls = sum(1 for ch in text if (ch < " " and ch not in "\t\n\r") or ch in "\x7f\ufffd")
    if "\x00" in text or controls > 0.1 * len(text):
        return None, "binary data, not text"
    return text, None


def ad_id(value) -> tuple[str | None, str | None]:
    """A record's id field as ``(id, problem)``.

    >>> ad_id("a-17"), ad_id(17), ad_id(""), ad_id(None), ad_id([1])
    (('a-17', None), ('17', None), (None, 'missing id'), (None, 'missing id'), (None, 'id is a list, not text'))
    """
    text, problem = field_text(value)
    if problem:
        return None, f"id is {problem}"
    if text is None or not text.strip():
        return None, "missing id"
    return text, None


def extract_batch(extractor, texts: Sequence, ids: Sequence | None = None, rows: Sequence[int] | None = None,
                  errors: Sequence[str | None] | None = None) -> pa.Table:
    """Sentence rows of a batch of job ads (:data:`ROW_SCHEMA`): the function behind every way to run a corpus.

    A usable ad gives one row per sentence with its skills (uri, label, score, evidence) and ``error`` null. A bad
    record gives one row with ``error`` set: no or empty text, binary data, a missing id (when ``ids`` are given),
    markup with no text, or the ``errors`` entry it came with (found while reading). Rows keep the input order;
    ``rows`` (input positions) and ``ids`` are copied into every row of their ad.
    """
    n = len(texts)
    problems = list(errors) if errors is not None else [None] * n
    clean: list[str | None] = [None] * n
    names: list[str | None] = [None] * n
    for i in range(n):
        if problems[i] is None:
            clean[i], problems[i] = ad_text(texts[i])
        if ids is not None:
            names[i], id_problem = ad_id(ids[i])
            problems[i] = problems[i] or id_problem
    good = [i for i in range(n) if problems[i] is None]
    results = dict(zip(good, extractor.extract_many([clean[i] for i in good]))) if good else {}
    columns: dict[str, list] = {name: [] for name in ROW_SCHEMA.names}
    for i in range(n):
        row = rows[i] if rows is not None else None
        result = results.get(i)
        sentences = result.sentences if result is not None else []
        if result is not None and not sentences:
            problems[i] = NO_SENTENCES
        if problems[i]:
            _add_row(columns, row=row, id=names[i], error=problems[i])
        for s in sentences:
            _add_row(columns, row=row, id=names[i], sentence_index=s.index, start=s.start, end=s.end,
                     sentence=s.text, relevance=s.relevance, skills=[asdict(m) for m in s.skills])
    return pa.Table.from_pydict(columns, schema=ROW_SCHEMA)


def _add_row(columns: dict[str, list], **values) -> None:
    for name, column in columns.items():
        column.append(values.get(name))


def summarise_sentences(sentences: pa.Table, skill_types: Mapping[str, str]) -> pa.Table:
    """One row per ad (:data:`AD_SCHEMA`) from its consecutive sentence rows: each skill once, with its best score
    and the sentences that name it, best first (the summary :class:`SkillExtractor` gives an ad).

    >>> rows = {"row": [1, 1], "id": ["a", "a"], "sentence_index": [0, 1], "start": [0, 9], "end": [8, 20],
    ...         "sentence": ["Use SQL.", "Know SQL, Go."], "relevance": [0.9, 0.8], "skills": [
    ...     [{"uri": "u:sql", "label": "SQL", "score": 0.5, "evidence": []}],
    ...     [{"uri": "u:go", "label": "Go", "score": 0.75, "evidence": []},
    ...      {"uri": "u:sql", "label": "SQL", "score": 0.625, "evidence": []}]]}
    >>> ad = summarise_sentences(pa.table(rows, schema=SENTENCE_SCHEMA), {"u:sql": "knowledge"}).to_pylist()[0]
    >>> ad["sentences"], [(s["label"], s["skill_type"], s["score"], s["sentences"]) for s in ad["skills"]]
    (2, [('Go', None, 0.75, [1]), ('SQL', 'knowledge', 0.625, [0, 1])])
    """
    ads: dict[str, list] = {name: [] for name in AD_SCHEMA.names}
    key, found, count = None, {}, 0
    for record in sentences.select(["row", "id", "sentence_index", "skills"]).to_pylist():
        if (record["row"], record["id"]) != key:
            if key is not None:
                _add_ad(ads, key, count, found)
            key, found, count = (record["row"], record["id"]), {}, 0
        count += 1
        for match in record["skills"]:
            entry = found.get(match["uri"])
            if entry is None:
                found[match["uri"]] = {"uri": match["uri"], "label": match["label"],
                                       "skill_type": skill_types.get(match["uri"]), "score": match["score"],
                                       "sentences": [record["sentence_index"]]}
            else:
                entry["score"] = max(entry["score"], match["score"])
                entry["sentences"].append(record["sentence_index"])
    if key is not None:
        _add_ad(ads, key, count, found)
    return pa.Table.from_pydict(ads, schema=AD_SCHEMA)


def _add_ad(ads: dict[str, list], key: tuple, count: int, found: dict) -> None:
    _add_row(ads, row=key[0], id=key[1], sentences=count, skills=sorted(found.values(), key=lambda s: -s["score"]))


def skill_types(extractor) -> dict[str, str]:
    """ESCO skill type by URI for the skills an extractor ranks."""
    return {skill.uri: skill.skill_type for skill in extractor.skills}


def extract_json(extractor, texts: Sequence, ids: Sequence | None = None) -> list[str]:
    """One JSON document per ad, in input order (for Spark's ``predict_batch_udf``, which wants one value per row):
    ``{"id", "error", "sentences": [sentence rows], "skills": [ad summary]}``."""
    table = extract_batch(extractor, texts, ids, rows=range(len(texts)))
    types = skill_types(extractor)
    docs = [{"id": None, "error": None, "sentences": [], "skills": []} for _ in texts]
    for record in table.to_pylist():
        doc = docs[record.pop("row")]
        doc["id"], doc["error"] = record.pop("id"), record.pop("error")
        if doc["error"] is None:
            doc["sentences"].append(record)
    for doc in docs:
        if doc["sentences"]:
            rows = [{"row": 0, "id": doc["id"], **s} for s in doc["sentences"]]
            doc["skills"] = summarise_sentences(pa.Table.from_pylist(rows, schema=SENTENCE_SCHEMA),
                                                types).to_pylist()[0]["skills"]
    return [json.dumps(doc, ensure_ascii=False) for doc in docs]
