"""Training data of the title model, from ESCO v1.1.0 alone (plus optional labelled vacancy titles): anchors and
positives per occupation, skill lists, the validation split, epoch plans and job-ad-like noise on titles."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from ..esco import Esco


# -- data --------------------------------------------------------------------------------------------------------
@dataclass
class TitleData:
    labels: list[str]  # training anchors
    owners: list[int]  # occupation index of each anchor
    by_occupation: dict[int, list[str]]  # training labels per occupation
    skill_lists: dict[int, tuple[list[str], list[str]]]  # occupation -> (essential, optional) skill labels
    val_queries: list[str]
    val_owners: list[int]
    val_labels: list[str]  # the index the validation queries are ranked against
    val_label_owners: list[int]
    n_occupations: int
    counts: dict
    pair_queries: list[str] = field(default_factory=list)  # held-out labelled titles (the select side)
    pair_owners: list[int] = field(default_factory=list)


def build_title_data(esco: Esco, exclude: set[str], val_fraction: float = 0.05, seed: int = 13,
                     val_labels_per_occupation: int = 0) -> TitleData:
    """Anchors, validation split and skill lists from ESCO; labels in ``exclude`` (lower-cased) are never used."""
    from ..titles.normalizer import occupation_labels

    labels, owners = occupation_labels(esco)
    owners = owners.tolist()
    kept = [(label, owner) for label, owner in zip(labels, owners) if label.lower() not in exclude]
    n_excluded = len(labels) - len(kept)
    preferred = {o.label for o in esco.occupations}
    rng = random.Random(seed)
    # validation: alternative labels of occupations that keep at least two labels, never a preferred label
    per_occupation: dict[int, list[str]] = {}
    for label, owner in kept:
        per_occupation.setdefault(owner, []).append(label)
    candidates = [(label, owner) for label, owner in kept if label not in preferred and len(per_occupation[owner]) > 2]
    rng.shuffle(candidates)
    held = set(candidates[: round(val_fraction * len(kept))])
    train = [(label, owner) for label, owner in kept if (label, owner) not in held]
    by_occupation: dict[int, list[str]] = {}
    for label, owner in train:
        by_occupation.setdefault(owner, []).append(label)
    val = sorted(held, key=lambda item: (item[1], item[0]))
    # the validation index: every label except the held-out ones (optionally at most n per occupation)
    held_keys = {(label.lower(), owner) for label, owner in held}
    index = [(label, owner) for label, owner in zip(labels, owners) if (label.lower(), owner) not in held_keys]
    if val_labels_per_occupation:
        grouped: dict[int, list[str]] = {}
        for label, owner in index:
            grouped.setdefault(owner, []).append(label)
        index = [(label, owner) for owner, group in grouped.items() for label in group[:val_labels_per_occupation]]
    skill_lists = {}
    for i, occupation in enumerate(esco.occupations):
        relations = esco.occupation_skills.get(occupation.uri, {})
        skill_lists[i] = tuple([esco.skill_by_uri[u].label for u in relations.get(kind, []) if u in esco.skill_by_uri]
                               for kind in ("essential", "optional"))
    counts = {"occupations": len(esco.occupations), "labels": len(labels), "excluded_benchmark_titles": n_excluded,
              "train_anchors": len(train), "validation_queries": len(val), "validation_index": len(index),
              "occupations_with_skills": sum(1 for e, o in skill_lists.values() if e or o)}
    return TitleData([l for l, _ in train], [o for _, o in train], by_occupation, skill_lists,
                     [l for l, _ in val], [o for _, o in val], [l for l, _ in index], [o for _, o in index],
                     len(esco.occupations), counts)


def add_pairs(data: TitleData, esco: Esco, pairs: str, title_column: str, uri_column: str,
              exclude: set[str]) -> TitleData:
    """Add the ``train`` side of a labelled titles file as anchors and its ``select`` side as validation queries;
    titles in ``exclude`` (see :func:`contextmatch.evaluation.title_benchmarks.title_key`) are dropped from the
    anchors."""
    from ..evaluation.title_benchmarks import read_title_benchmark, title_key

    train = read_title_benchmark(pairs, title_column, uri_column, "train", esco.version)
    select = read_title_benchmark(pairs, title_column, uri_column, "select", esco.version)
    position = {o.uri: i for i, o in enumerate(esco.occupations)}
    held = {title_key(t) for t in select.titles} | exclude
    kept = [(title, position[uri]) for title, uri in zip(train.titles, train.uris) if title_key(title) not in held]
    data.labels += [title for title, _ in kept]
    data.owners += [owner for _, owner in kept]
    data.pair_queries = list(select.titles)
    data.pair_owners = [position[uri] for uri in select.uris]
    data.counts.update({"pair_anchors": len(kept), "pair_rows": train.n_rows,
                        "pair_rows_dropped_uri": train.n_dropped, "pair_rows_excluded": train.n_queries - len(kept),
                        "pair_validation_titles": len(select.titles), "pairs_file": Path(pairs).name})
    return data


def plan_epoch(data: TitleData, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Batches of anchor indices for one epoch: shuffled, with no two anchors of one occupation (nor two equal
    lower-cased labels) in a batch; a deferred anchor goes first into the next batch. Deterministic in (seed, epoch).
    """
    from collections import deque

    order = list(range(len(data.labels)))
    random.Random(f"{seed}-{epoch}").shuffle(order)
    queue, batches = deque(order), []
    while queue:
        batch, occupations, texts, deferred = [], set(), set(), []
        while queue and len(batch) < batch_size:
            item = queue.popleft()
            owner, text = data.owners[item], data.labels[item].lower()
            if owner in occupations or text in texts:
                deferred.append(item)
                continue
            batch.append(item)
            occupations.add(owner)
            texts.add(text)
        queue.extendleft(reversed(deferred))
        batches.append(batch)
    return batches


def sample_skill_list(essential: list[str], optional: list[str], rng: random.Random, low: int, high: int) -> str:
    """A JobBERT-v2-style skill list: about 60% essential skills, the rest optional, shuffled, comma-separated.

    >>> sample_skill_list(["a", "b", "c"], ["x"], random.Random(0), 2, 2).count(",")
    1
    """
    size = rng.randint(low, high)
    n_essential = min(len(essential), max(1, math.ceil(0.6 * size)))
    chosen = rng.sample(essential, n_essential) if essential else []
    chosen += rng.sample(optional, min(len(optional), size - len(chosen)))
    if len(chosen) < size:
        rest = [s for s in essential if s not in chosen]
        chosen += rng.sample(rest, min(len(rest), size - len(chosen)))
    rng.shuffle(chosen)
    return ", ".join(chosen)


_LEVELS = ("senior", "sr.", "sr", "junior", "jr.", "lead", "trainee", "intern", "internship", "graduate",
           "entry level", "experienced")
_GRADES = ("I", "II", "III", "2", "3", "(senior)", "(junior)")
_EXTRAS = ("(m/f/d)", "(m/w/d)", "(full time)", "(part time)", "(contract)", "- urgent", "(immediate start)",
           "- remote", "(temporary)", "- night shift", "- permanent", "(hybrid)", "- London", "- New York",
           "- Berlin", "- Singapore", "- Sydney", "- Toronto", "- Dublin", "- Madrid", "- Nairobi", "- Mumbai",
           "@ head office", "- branch office", "- team lead", "(12 months)", "- apply now")
_SHORT = {"manager": "mgr", "assistant": "asst", "executive": "exec", "engineer": "eng", "developer": "dev",
          "senior": "sr", "junior": "jr", "administrator": "admin", "administrative": "admin",
          "representative": "rep", "technician": "tech", "supervisor": "supv", "department": "dept",
          "operator": "op", "specialist": "spec", "coordinator": "coord", "information technology": "IT",
          "human resources": "HR", "customer service": "CS", "and": "&"}


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1:]  # drop a letter
    if kind == 1:
        return word[:i] + word[i] + word[i:]  # double a letter
    return word[:i - 1] + word[i] + word[i - 1] + word[i + 1:]  # swap two letters


def vacancy_noise(title: str, rng: random.Random, other: str | None = None) -> str:
    """A job-ad-like variant of a clean taxonomy label: seniority, grades, contract or place notes, abbreviations,
    inverted word order ("lecturer, biology"), two titles joined ("clerk / receptionist"), typos and shouting.

    >>> vacancy_noise("biology lecturer", random.Random(4)) != "biology lecturer"
    True
    """
    words = title.split()
    changes = 0
    if rng.random() < 0.25 and len(words) >= 2:
        words = [words[-1] + ","] + words[:-1]  # "biology lecturer" -> "lecturer, biology"
        changes += 1
    text = " ".join(words)
    if rng.random() < 0.2:
        for long, short in _SHORT.items():
            if f" {long} " in f" {text.lower()} " and rng.random() < 0.7:
                text = " ".join(short if w.lower() == long else w for w in text.split()) if " " not in long else \
                    text.replace(long, short)
                changes += 1
    if rng.random() < 0.3:
        text = f"{rng.choice(_LEVELS)} {text}"
        changes += 1
    if rng.random() < 0.1:
        text = f"{text} {rng.choice(_GRADES)}"
        changes += 1
    if other and rng.random() < 0.1:
        text = f"{text} {rng.choice(('/', '&', 'cum', '-'))} {other}"
        changes += 1
    if rng.random() < 0.25:
        text = f"{text} {rng.choice(_EXTRAS)}"
        changes += 1
    if rng.random() < 0.15:
        parts = text.split()
        j = rng.randrange(len(parts))
        parts[j] = _typo(parts[j], rng)
        text = " ".join(parts)
        changes += 1
    case = rng.random()
    if case < 0.25:
        text = text.upper()
    elif case < 0.55:
        text = " ".join(w[:1].upper() + w[1:] for w in text.split())
    if not changes:
        text = f"{rng.choice(_LEVELS)} {text}"
    return text
