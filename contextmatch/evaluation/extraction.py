"""Set-level extraction benchmark: what ``extract`` reports (after gate, selection and grouping) against the gold.

DESIGN.md §4: on Skill-XL, rows of one sentence that share a ``cluster`` are interchangeable labels of one mention.
A reported skill (the head of a group; its alternatives do not count) is *right* when it is a label of a gold
cluster of its sentence; a cluster is *found* when any of its labels is reported; a second reported label inside
one gold cluster is *redundant*. Sentences with no gold skill stay in, and every skill reported on them is wrong.
Precision = right / reported, recall = found / gold clusters, F1 of the two, summed over sentences (micro); per ad
the same on the unions of an ad's reported skills and gold clusters. Files without clusters (TECH, HOUSE,
``sentence,label``) count each gold label as its own cluster, have no ads and keep only sentences with a gold ESCO
label (as the ranking harness), so they measure label-level precision and recall but not the no-skill share.
"""

from __future__ import annotations

import csv
import datetime
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from ..inputs import InputError
from .benchmarks import NAMED, NOT_A_SKILL, SKILL_XL_COLUMNS, SKILL_XL_DIR, load_benchmark

SKILL_XL_HALVES = SKILL_XL_DIR / "raw" / "development_halves.csv"
HALVES = ("select", "report")
RESULTS_DIR = Path(__file__).resolve().parents[2] / "results" / "extraction"


@dataclass
class GoldSentence:
    """A benchmark sentence of ad ``ad`` and its gold clusters (each a set of interchangeable ESCO labels)."""

    ad: str
    text: str
    clusters: list[frozenset[str]] = field(default_factory=list)


@dataclass
class ExtractionBenchmark:
    name: str
    split: str
    sentences: list[GoldSentence]
    has_ads: bool  # whole ads (Skill-XL): per-ad metrics and the no-skill share are meaningful
    n_dropped: int = 0

    def ads(self) -> list[list[GoldSentence]]:
        """Sentences grouped by ad, in file order."""
        grouped: dict[str, list[GoldSentence]] = {}
        for sentence in self.sentences:
            grouped.setdefault(sentence.ad, []).append(sentence)
        return list(grouped.values())


def skill_xl_halves() -> dict[str, str]:
    """Ad id -> ``select`` or ``report`` (the fixed split written by ``scripts/split_skill_xl.py``)."""
    with open(SKILL_XL_HALVES, encoding="utf-8", newline="") as handle:
        return {row["ID"]: row["half"] for row in csv.DictReader(handle)}


def selection_benchmarks(known_labels: set[str]) -> dict:
    """The pooled selection queries every model and rule is chosen on: TECH and HOUSE validation and the Skill-XL
    validation rows of the ``select`` ads (the ``report`` half stays unseen), as ranking benchmarks by name."""
    half = skill_xl_halves()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "skill-xl-select.csv"
        with open(NAMED["skill-xl"]["validation"], encoding="utf-8", newline="") as source, \
                open(path, "w", encoding="utf-8", newline="") as target:
            reader = csv.DictReader(source)
            writer = csv.DictWriter(target, reader.fieldnames)
            writer.writeheader()
            writer.writerows(row for row in reader if half.get(row["ID"]) == "select")
        return {"tech validation": load_benchmark("tech", "validation", known_labels),
                "house validation": load_benchmark("house", "validation", known_labels),
                "skill-xl select": load_benchmark(str(path), "select", known_labels)}


def load_extraction_benchmark(name_or_path: str, split: str | None = None,
                              known_labels: set[str] | None = None) -> ExtractionBenchmark:
    """``skill-xl`` (split ``validation``, ``select`` or ``report``), ``tech``/``house`` (``validation``/``test``)
    or a CSV in one of the skill harness's formats."""
    key = name_or_path.lower().replace("_", "-")
    if key == "skill-xl" or (Path(name_or_path).suffix.lower() == ".csv" and _has_skill_xl_columns(name_or_path)):
        path = NAMED["skill-xl"]["validation"] if key == "skill-xl" else Path(name_or_path)
        split = split or "report" if key == "skill-xl" else split or "file"
        return _read_skill_xl(path, key if key == "skill-xl" else Path(name_or_path).stem, split, known_labels)
    ranking = load_benchmark(name_or_path, split, known_labels)
    sentences = [GoldSentence(str(i), text, [frozenset([g]) for g in gold])
                 for i, (text, gold) in enumerate(zip(ranking.sentences, ranking.gold))]
    return ExtractionBenchmark(ranking.name, ranking.split, sentences, False, ranking.n_dropped)


def _has_skill_xl_columns(path: str) -> bool:
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return SKILL_XL_COLUMNS <= set(next(csv.reader(handle), []))
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from None
    except (UnicodeDecodeError, csv.Error) as err:
        raise InputError(f"{path}: not a readable UTF-8 CSV file ({err})") from None


def _read_skill_xl(path: Path, name: str, split: str, known_labels: set[str] | None) -> ExtractionBenchmark:
    halves = None
    if split in HALVES:
        halves = skill_xl_halves()
    elif split not in ("validation", "file"):
        raise InputError(f"Skill-XL has the splits validation, select and report, not {split!r}")
    grouped: dict[tuple[str, str], dict[str, set[str]]] = {}
    with open(path, encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            if halves is not None and halves.get(row["ID"]) != split:
                continue
            clusters = grouped.setdefault((row["ID"], row["sentence"]), {})
            label = (row.get("skill") or "").strip()
            if str(row["relevant"]).strip().lower() != "true" or not label or label in NOT_A_SKILL:
                continue
            if known_labels is not None and label not in known_labels:
                continue
            cluster = (row.get("cluster") or "").strip() or f"label:{label}"
            clusters.setdefault(cluster, set()).add(label)
    sentences = [GoldSentence(ad, text, [frozenset(c) for c in clusters.values()])
                 for (ad, text), clusters in grouped.items()]
    first = {}
    for n, sentence in enumerate(sentences):
        first.setdefault(sentence.ad, n)
    sentences.sort(key=lambda s: first[s.ad])  # an ad's sentences together, so ads() keeps this order
    return ExtractionBenchmark(name, split, sentences, True)


def set_counts(pairs: Iterable[tuple[Sequence[str], Sequence[frozenset[str]]]]) -> dict:
    """Micro counts and metrics of (reported labels, gold clusters) pairs: one pair per sentence (or per ad).

    Hand-computed example: sentence 1 reports a and b, both labels of its one cluster {a, b} (one right cluster
    found, one redundant report) and x (wrong); sentence 2 has no gold and reports y (wrong, on a no-skill
    sentence); sentence 3 misses its cluster {c}. Right 2 of 4 reported, found 1 of 2 clusters:

    >>> m = set_counts([(["a", "x", "b"], [frozenset("ab")]), (["y"], []), ([], [frozenset("c")])])
    >>> m["precision"], m["recall"], round(m["f1"], 4), m["redundant"], m["on_no_skill"], m["no_skill_share"]
    (0.5, 0.5, 0.5, 1, 1, 0.25)
    """
    reported = right = found = gold = redundant = on_no_skill = 0
    for labels, clusters in pairs:
        labels = list(dict.fromkeys(labels))
        reported += len(labels)
        gold += len(clusters)
        if not clusters:
            on_no_skill += len(labels)
            continue
        golden = set().union(*clusters)
        right += sum(label in golden for label in labels)
        for cluster in clusters:
            hits = sum(label in cluster for label in labels)
            found += hits > 0
            redundant += max(0, hits - 1)
    precision = right / reported if reported else 0.0
    recall = found / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "reported": reported, "right": right,
            "gold_clusters": gold, "found": found, "redundant": redundant, "on_no_skill": on_no_skill,
            "no_skill_share": on_no_skill / reported if reported else 0.0}


def extraction_metrics(benchmark: ExtractionBenchmark, reported: Sequence[Sequence[str]]) -> dict:
    """Sentence-level (and, for whole ads, ad-level) set metrics of ``reported`` labels, one list per benchmark
    sentence in order."""
    sentence = set_counts(zip(reported, (s.clusters for s in benchmark.sentences)))
    result = {"sentence": sentence}
    if benchmark.has_ads:
        ads: dict[str, tuple[list[str], set[frozenset[str]]]] = {}
        for labels, gold in zip(reported, benchmark.sentences):
            entry = ads.setdefault(gold.ad, ([], set()))
            entry[0].extend(labels)
            entry[1].update(gold.clusters)
        result["ad"] = set_counts((labels, list(clusters)) for labels, clusters in ads.values())
    return result


def ad_bootstrap(benchmark: ExtractionBenchmark, reported_a: Sequence[Sequence[str]],
                 reported_b: Sequence[Sequence[str]], resamples: int = 1000, seed: int = 0) -> dict:
    """Paired bootstrap over ads of the sentence-level F1 difference b − a: ads are drawn with replacement (the
    unit a benchmark of whole ads varies by), and each draw scores both systems on the same sentences.

    >>> ads = ExtractionBenchmark("toy", "x", [GoldSentence("1", "s", [frozenset({"a"})]),
    ...                                        GoldSentence("2", "t", [frozenset({"b"})])], True)
    >>> ad_bootstrap(ads, [["a"], []], [["a"], ["b"]], resamples=200)["difference"]
    0.3333
    """
    import random

    by_ad: dict[str, list[int]] = {}
    for i, sentence in enumerate(benchmark.sentences):
        by_ad.setdefault(sentence.ad, []).append(i)
    ads = list(by_ad)

    def f1(reported, rows):
        return set_counts((reported[i], benchmark.sentences[i].clusters) for i in rows)["f1"]

    everything = range(len(benchmark.sentences))
    rng, differences = random.Random(seed), []
    for _ in range(resamples):
        rows = [i for ad in rng.choices(ads, k=len(ads)) for i in by_ad[ad]]
        differences.append(f1(reported_b, rows) - f1(reported_a, rows))
    differences.sort()
    low, high = differences[int(0.025 * resamples)], differences[min(int(0.975 * resamples), resamples - 1)]
    return {"difference": round(f1(reported_b, everything) - f1(reported_a, everything), 4),
            "ci95": [round(low, 4), round(high, 4)], "resamples": resamples, "unit": "ad", "seed": seed}


def reported_labels(benchmark: ExtractionBenchmark, extractor, top_k: int | None = None,
                    threshold: float | None = None) -> list[list[str]]:
    """What ``extractor`` reports (group heads) for each benchmark sentence, ads scored as whole ads."""
    ads = benchmark.ads()
    results = extractor.extract_sentences([[s.text for s in ad] for ad in ads], top_k, threshold, progress=True)
    return [[m.label for m in sentence.skills] for result in results for sentence in result.sentences]


def rounded(metrics: dict) -> dict:
    """Metrics with fractions to four decimals (counts unchanged)."""
    return {level: {k: round(v, 4) if isinstance(v, float) else v for k, v in values.items()}
            for level, values in metrics.items()}


def write_result(result: dict, results_dir: Path = RESULTS_DIR) -> Path:
    """``results/extraction/<benchmark>__<split>__<system>.json``."""
    slug = re.sub(r"[^a-z0-9]+", "-", result["system"].lower()).strip("-")
    path = Path(results_dir) / f"{result['benchmark']}__{result['split']}__{slug}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    result = {**result, "date": datetime.date.today().isoformat()}
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return path


# Thresholds of the baseline rows, chosen on the Skill-XL select half by scripts/tune_selection.py
# (results/extraction/selection.json; a test keeps them equal).
GLOBAL_THRESHOLD = 0.64
COSINE_THRESHOLD = 0.55
EXTRACTION_SYSTEMS = ("pipeline", "global-threshold", "cosine")


def evaluate_extraction(kind: str, model: str | None, benchmark: ExtractionBenchmark, top_k: int = 5,
                        results_dir: Path | None = RESULTS_DIR) -> dict:
    """Set-level metrics of one system on ``benchmark``: ``pipeline`` (the model's whole decision layer, as
    ``extract``), ``global-threshold`` (the same ranking, one threshold, no gate/margin/grouping) or ``cosine``
    (mean-pooled cosine of all-MiniLM-L6-v2, the PyPI extractors' approach, one threshold). ConTeXT-match runs
    with the encoder ``contextmatch extract`` uses by default (``quantize="auto"``)."""
    from ..skills.extractor import SkillExtractor
    from .ranking import _model_label

    if kind == "pipeline":
        extractor = SkillExtractor(model, quantize="auto")
        name = f"ConTeXT-match pipeline, {_model_label(model)}"
        reported = reported_labels(benchmark, extractor, top_k)
        rule = extractor.rule()
        settings = {"threshold": rule.threshold, "margin": rule.margin, "gate": rule.gate,
                    "calibrated": rule.calibrated, "trees": rule.trees is not None, "cutoff": rule.cutoff,
                    "similarity": rule.similarity, "relations": rule.relations, "grouping": extractor.grouping}
    elif kind == "global-threshold":
        extractor = SkillExtractor(model, threshold=GLOBAL_THRESHOLD, gate=False, grouping=False, margin=2.0,
                                   quantize="auto")
        name = f"global threshold, {_model_label(model)}"
        reported = reported_labels(benchmark, extractor, top_k)
        settings = {"threshold": extractor.threshold}
    elif kind == "cosine":
        from ..models import MINILM

        extractor = SkillExtractor(MINILM, gate=False, grouping=False)
        reported = labels_above(extractor, cosine_top(extractor, benchmark, top_k), COSINE_THRESHOLD)
        name, settings = f"mean-pooled cosine, {MINILM}", {"threshold": COSINE_THRESHOLD}
    else:
        raise ValueError(f"unknown extraction system {kind!r}: choose one of {', '.join(EXTRACTION_SYSTEMS)}")
    result = {"system": name, "kind": kind, "benchmark": benchmark.name, "split": benchmark.split, "top_k": top_k,
              "settings": settings, "n_sentences": len(benchmark.sentences), "n_dropped": benchmark.n_dropped,
              **rounded(extraction_metrics(benchmark, reported))}
    if results_dir is not None:
        write_result(result, results_dir)
    return result


def cosine_top(extractor, benchmark: ExtractionBenchmark, top_k: int):
    """The ``top_k`` skills of each benchmark sentence by mean-pooled cosine (values and indices)."""
    from .ranking import cosine_scores

    return cosine_scores(extractor, [s.text for s in benchmark.sentences]).topk(top_k, dim=1)


def labels_above(extractor, top, threshold: float) -> list[list[str]]:
    """The labels of each row of ``top`` (a ``topk`` result) that score at least ``threshold``."""
    return [[extractor.skills[i].label for v, i in zip(values, indices) if v >= threshold]
            for values, indices in zip(top.values.tolist(), top.indices.tolist())]


def format_extraction_table(results: list[dict]) -> str:
    """Sentence-level (and ad-level) precision, recall, F1, the no-skill share and redundant reports."""
    lines = [f"{'benchmark':<18} {'system':<52} {'P':>5} {'R':>5} {'F1':>5} {'no-skill':>8} {'redund':>6} "
             f"{'ad F1':>5}"]
    for r in results:
        s, ad = r["sentence"], r.get("ad")
        no_skill = f"{100 * s['no_skill_share']:7.1f}%" if "ad" in r else f"{'-':>8}"
        ad_f1 = f"{ad['f1']:5.3f}" if ad else f"{'-':>5}"
        lines.append(f"{r['benchmark'] + ' ' + r['split']:<18} {r['system'][:52]:<52} {s['precision']:5.3f} "
                     f"{s['recall']:5.3f} {s['f1']:5.3f} {no_skill} {s['redundant']:6d} {ad_f1}")
    return "\n".join(lines)
