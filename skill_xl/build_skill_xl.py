#!/usr/bin/env python
"""Build the Skill-XL dataset folder (Parquet files + dataset card) from the upstream CSVs.

Skill-XL (TechWolf, CC-BY-4.0) is a set of English job ads split into sentences, each sentence
annotated with the ESCO v1.1.0 skills it mentions. Upstream it is distributed as CSV files with the
columns ``ID, subset, title, sentence, relevant, cluster, skill`` and one row per (sentence, gold skill)
pair. Sentences without a skill have a single row with ``relevant=False`` and empty ``cluster``/``skill``.

``datasets`` 5 has no loading scripts, so this module is *not* loaded by ``load_dataset``. It converts the
CSVs once, through a :class:`datasets.GeneratorBasedBuilder` used programmatically, into::

    <out>/data/sentences/validation-00000-of-00001.parquet   one row per sentence
    <out>/data/pairs/validation-00000-of-00001.parquet       one row per upstream CSV row
    <out>/data/<config>/test-00000-of-00001.parquet          only when a test CSV is given
    <out>/README.md                                          dataset card with YAML configs + dataset_info

after which ``datasets.load_dataset(<out>, "sentences", split="validation")`` works offline.

Command line (paths are relative to the current directory)::

    python skill_xl/build_skill_xl.py --dev skill_xl/raw/development.csv [--test test.csv] --out skill_xl/

With no arguments it rebuilds this folder from the copy of the development split in ``raw/``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import gzip
import hashlib
import io
import logging
import os
import shutil
import sys
import tempfile
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence, Union

import datasets

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
RAW_DIR = HERE / "raw"
DEFAULT_DEV_CSV = RAW_DIR / "development.csv"
DEFAULT_SKILLS_CSV = RAW_DIR / "esco_v1.1.0_skill_uris.csv"

PathLike = Union[str, "os.PathLike[str]"]

UPSTREAM_COLUMNS = ("ID", "subset", "title", "sentence", "relevant", "cluster", "skill")
SKILLS_COLUMNS = ("conceptUri", "preferredLabel")
CONFIG_NAMES = ("sentences", "pairs")
SPLIT_FILES = {"validation": "development.csv", "test": "test.csv"}
NUM_ESCO_V110_SKILLS = 13_891

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}

CITATION = """\
@article{decorte2025efficient,
  title   = {Efficient Text Encoders for Labor Market Analysis},
  author  = {Decorte, Jens-Joris and Van Hautte, Jeroen and Develder, Chris and Demeester, Thomas},
  journal = {IEEE Access},
  volume  = {13},
  year    = {2025},
  eprint  = {2505.24640},
  archivePrefix = {arXiv},
  url     = {https://arxiv.org/abs/2505.24640}
}"""

DESCRIPTION = (
    "Skill-XL: English job ads split into sentences; every sentence is annotated with the ESCO v1.1.0 "
    "skills it mentions (skill extraction as ranking over the ESCO skill taxonomy)."
)

SENTENCES_FEATURES = datasets.Features(
    {
        "ad_id": datasets.Value("string"),
        "subset": datasets.Value("string"),
        "job_title": datasets.Value("string"),
        "sentence_index": datasets.Value("int32"),
        "sentence": datasets.Value("string"),
        "relevant": datasets.Value("bool"),
        "skills": datasets.List(datasets.Value("string")),
        "skill_uris": datasets.List(datasets.Value("string")),
        "clusters": datasets.List(datasets.Value("int32")),
    }
)

PAIRS_FEATURES = datasets.Features(
    {
        "ad_id": datasets.Value("string"),
        "subset": datasets.Value("string"),
        "job_title": datasets.Value("string"),
        "sentence_index": datasets.Value("int32"),
        "sentence": datasets.Value("string"),
        "relevant": datasets.Value("bool"),
        "cluster": datasets.Value("int32"),
        "skill": datasets.Value("string"),
        "skill_uri": datasets.Value("string"),
    }
)

FEATURES = {"sentences": SENTENCES_FEATURES, "pairs": PAIRS_FEATURES}


# --------------------------------------------------------------------------------------------------
# Reading and validating the upstream files
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class UpstreamRow:
    """One row of an upstream Skill-XL CSV, parsed and validated."""

    line: int  # 1-based line of the row's record in the file (header = line 1)
    ad_id: str
    subset: str
    job_title: str
    sentence: str
    relevant: bool
    cluster: Optional[int]
    skill: Optional[str]


def _open_text(path: PathLike) -> io.TextIOBase:
    path = Path(path)
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, "r", encoding="utf-8-sig", newline="")


def _check_columns(path: PathLike, fieldnames: Optional[Sequence[str]], required: Sequence[str]) -> None:
    present = [name.strip() for name in (fieldnames or [])]
    missing = [name for name in required if name not in present]
    if missing:
        raise ValueError(
            f"{path}: missing required column(s) {', '.join(repr(m) for m in missing)}; "
            f"expected columns {', '.join(required)}, found {', '.join(present) or 'none (empty file?)'}"
        )


def _parse_bool(value: str, path: PathLike, line: int) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValueError(f"{path}, line {line}: column 'relevant' must be True or False, got {value!r}")


def _parse_cluster(value: str, path: PathLike, line: int) -> Optional[int]:
    v = value.strip()
    if not v:
        return None
    try:
        f = float(v)  # tolerate "3.0" as written by pandas for a nullable int column
    except ValueError:
        f = None
    if f is None or not f.is_integer() or f < 0:
        raise ValueError(f"{path}, line {line}: column 'cluster' must be empty or a non-negative integer, got {value!r}")
    return int(f)


def read_upstream_csv(path: PathLike) -> list[UpstreamRow]:
    """Read an upstream Skill-XL CSV (``development.csv`` / ``test.csv``; ``.gz`` also accepted).

    Raises ``ValueError`` naming the column when a required column is missing or a value is malformed.
    """
    rows: list[UpstreamRow] = []
    with _open_text(path) as handle:
        reader = csv.DictReader(handle)
        _check_columns(path, reader.fieldnames, UPSTREAM_COLUMNS)
        reader.fieldnames = [name.strip() for name in reader.fieldnames]
        ad_meta: dict[str, tuple[str, str]] = {}
        for record in reader:
            line = reader.line_num
            if None in record:
                raise ValueError(f"{path}, line {line}: more fields than columns in the header")
            values = {k: (record[k] if record[k] is not None else "") for k in UPSTREAM_COLUMNS}
            ad_id = values["ID"].strip()
            if not ad_id:
                raise ValueError(f"{path}, line {line}: column 'ID' is empty")
            if not values["sentence"].strip():
                raise ValueError(f"{path}, line {line}: column 'sentence' is empty")
            meta = (values["subset"], values["title"])
            if ad_meta.setdefault(ad_id, meta) != meta:
                raise ValueError(
                    f"{path}, line {line}: ad {ad_id!r} has subset/title {meta!r} here but "
                    f"{ad_meta[ad_id]!r} on an earlier row"
                )
            # Labels are kept verbatim: some ESCO v1.1.0 preferred labels end in a space (e.g. "plan ").
            skill = values["skill"] if values["skill"].strip() else None
            rows.append(
                UpstreamRow(
                    line=line,
                    ad_id=ad_id,
                    subset=values["subset"],
                    job_title=values["title"],
                    sentence=values["sentence"],
                    relevant=_parse_bool(values["relevant"], path, line),
                    cluster=_parse_cluster(values["cluster"], path, line),
                    skill=skill,
                )
            )
    if not rows:
        raise ValueError(f"{path}: no data rows")
    return rows


def read_skill_uris(path: PathLike) -> dict[str, str]:
    """Map ESCO preferredLabel -> conceptUri from a CSV with ``conceptUri`` and ``preferredLabel`` columns.

    Accepts the official ESCO export (``skills_en.csv``) or the small map shipped in ``raw/``.
    """
    mapping: dict[str, str] = {}
    with _open_text(path) as handle:
        reader = csv.DictReader(handle)
        _check_columns(path, reader.fieldnames, SKILLS_COLUMNS)
        reader.fieldnames = [name.strip() for name in reader.fieldnames]
        for record in reader:
            label, uri = record["preferredLabel"], record["conceptUri"].strip()  # label verbatim, see above
            if not label.strip():
                continue
            if label in mapping and mapping[label] != uri:
                raise ValueError(f"{path}: preferredLabel {label!r} maps to two URIs ({mapping[label]}, {uri})")
            mapping[label] = uri
    # Also index the stripped labels, so that a gold label differing only in surrounding whitespace still
    # resolves (an exact match always wins).
    for label, uri in list(mapping.items()):
        mapping.setdefault(label.strip(), uri)
    return mapping


def write_skill_uri_map(gold_csvs: Iterable[PathLike], esco_skills_csv: PathLike, out_path: PathLike) -> int:
    """Write the label -> URI map for the gold skills of ``gold_csvs`` (how ``raw/`` was made). Returns its size."""
    esco = read_skill_uris(esco_skills_csv)
    labels = {r.skill for p in gold_csvs for r in read_upstream_csv(p) if r.relevant and r.skill}
    missing = sorted(labels - esco.keys())
    if missing:
        raise ValueError(f"{len(missing)} gold skill(s) are not preferred labels in {esco_skills_csv}: {missing[:10]}")
    with open(out_path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(SKILLS_COLUMNS)
        for label in sorted(labels):
            writer.writerow([esco[label], label])
    return len(labels)


# --------------------------------------------------------------------------------------------------
# Turning upstream rows into the two configs
# --------------------------------------------------------------------------------------------------


def _sentence_indices(rows: Sequence[UpstreamRow]) -> dict[tuple[str, str], int]:
    """A sentence is identified by (ad ID, exact sentence text); its index is its first-appearance rank in the ad."""
    per_ad: dict[str, int] = {}
    index: dict[tuple[str, str], int] = {}
    for r in rows:
        key = (r.ad_id, r.sentence)
        if key not in index:
            index[key] = per_ad.get(r.ad_id, 0)
            per_ad[r.ad_id] = index[key] + 1
    return index


def _uri_for(label: str, uri_map: dict[str, str]) -> Optional[str]:
    """Exact label first, then the whitespace-stripped label (see :func:`read_skill_uris`)."""
    return uri_map.get(label) or uri_map.get(label.strip())


def _lookup_uri(label: str, uri_map: dict[str, str], unknown: set[str]) -> Optional[str]:
    uri = _uri_for(label, uri_map)
    if uri is None:
        unknown.add(label)
    return uri


def make_sentences(rows: Sequence[UpstreamRow], uri_map: dict[str, str]) -> list[dict[str, Any]]:
    """Group upstream rows into one example per sentence, in ad order then sentence order.

    Gold skills are the non-empty ``skill`` values of ``relevant`` rows, duplicates merged (a skill listed
    under several clusters of one sentence keeps its smallest, i.e. most central, rank). Skills are ordered
    by rank, then by first appearance.
    """
    index = _sentence_indices(rows)
    groups: "OrderedDict[tuple[str, str], list[UpstreamRow]]" = OrderedDict()
    for r in rows:
        groups.setdefault((r.ad_id, r.sentence), []).append(r)
    unknown: set[str] = set()
    out = []
    for key, group in groups.items():
        first = group[0]
        best: "OrderedDict[str, Optional[int]]" = OrderedDict()
        for r in group:
            if not (r.relevant and r.skill):
                continue
            if r.skill not in best:
                best[r.skill] = r.cluster
            elif r.cluster is not None and (best[r.skill] is None or r.cluster < best[r.skill]):
                best[r.skill] = r.cluster
        order = {label: i for i, label in enumerate(best)}
        skills = sorted(best, key=lambda s: (best[s] is None, best[s] or 0, order[s]))
        out.append(
            {
                "ad_id": first.ad_id,
                "subset": first.subset,
                "job_title": first.job_title,
                "sentence_index": index[key],
                "sentence": first.sentence,
                "relevant": any(r.relevant for r in group),
                "skills": skills,
                "skill_uris": [_lookup_uri(s, uri_map, unknown) for s in skills],
                "clusters": [best[s] for s in skills],
            }
        )
    if unknown:
        logger.warning("%d gold skill label(s) have no URI in the skills CSV (skill_uris holds null): %s",
                       len(unknown), sorted(unknown)[:10])
    return out


def make_pairs(rows: Sequence[UpstreamRow], uri_map: dict[str, str]) -> list[dict[str, Any]]:
    """One example per upstream row, in file order; empty cluster/skill become null."""
    index = _sentence_indices(rows)
    unknown: set[str] = set()
    out = [
        {
            "ad_id": r.ad_id,
            "subset": r.subset,
            "job_title": r.job_title,
            "sentence_index": index[(r.ad_id, r.sentence)],
            "sentence": r.sentence,
            "relevant": r.relevant,
            "cluster": r.cluster,
            "skill": r.skill,
            "skill_uri": _lookup_uri(r.skill, uri_map, unknown) if r.skill else None,
        }
        for r in rows
    ]
    if unknown:
        logger.warning("%d skill label(s) have no URI in the skills CSV (skill_uri is null): %s",
                       len(unknown), sorted(unknown)[:10])
    return out


def compute_statistics(rows: Sequence[UpstreamRow], uri_map: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Statistics of one split, overall (key ``"all"``) and per subset."""
    sentences = make_sentences(rows, uri_map)
    subsets = sorted({s["subset"] for s in sentences})
    stats: dict[str, dict[str, Any]] = {}
    for name in ["all", *subsets]:
        sel = [s for s in sentences if name == "all" or s["subset"] == name]
        sel_rows = [r for r in rows if name == "all" or r.subset == name]
        gold = [s for s in sel if s["skills"]]
        n_gold = sum(len(s["skills"]) for s in sel)
        clusters = Counter(c for s in sel for c in s["clusters"])
        stats[name] = {
            "ads": len({s["ad_id"] for s in sel}),
            "sentences": len(sel),
            "relevant_sentences": sum(s["relevant"] for s in sel),
            "gold_sentences": len(gold),
            "gold_pairs": n_gold,
            "gold_rows": sum(1 for r in sel_rows if r.relevant and r.skill),
            "unique_skills": len({k for s in sel for k in s["skills"]}),
            "skills_without_uri": len({k for s in sel for k in s["skills"] if _uri_for(k, uri_map) is None}),
            "skills_with_surrounding_whitespace": len({k for s in sel for k in s["skills"] if k != k.strip()}),
            "mean_gold_per_gold_sentence": round(n_gold / len(gold), 2) if gold else 0.0,
            "upstream_rows": len(sel_rows),
            "cluster_counts": {str(k): v for k, v in sorted(clusters.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))},
        }
    return stats


# --------------------------------------------------------------------------------------------------
# The datasets builder
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class SkillXLConfig(datasets.BuilderConfig):
    """``name`` is ``sentences`` or ``pairs``; the paths point at the upstream CSVs and the label->URI map."""

    dev_csv: Optional[str] = None
    test_csv: Optional[str] = None
    skills_csv: Optional[str] = None


class SkillXL(datasets.GeneratorBasedBuilder):
    """Skill-XL from the upstream CSVs. Use programmatically (see :func:`build`); not a loading script."""

    BUILDER_CONFIG_CLASS = SkillXLConfig
    BUILDER_CONFIGS = [
        SkillXLConfig(name="sentences", version=datasets.Version("1.0.0"),
                      description="One row per sentence with its list of gold ESCO skills."),
        SkillXLConfig(name="pairs", version=datasets.Version("1.0.0"),
                      description="One row per upstream (sentence, skill) row, including sentences without skills."),
    ]
    DEFAULT_CONFIG_NAME = "sentences"

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=DESCRIPTION,
            features=FEATURES[self.config.name],
            citation=CITATION,
            license="cc-by-4.0",
            homepage="https://huggingface.co/datasets/TechWolf/Skill-XL",
        )

    def _split_generators(self, dl_manager) -> list[datasets.SplitGenerator]:
        if not self.config.dev_csv and not self.config.test_csv:
            raise ValueError("SkillXL needs dev_csv and/or test_csv")
        skills_csv = self.config.skills_csv or str(DEFAULT_SKILLS_CSV)
        self._uri_map = read_skill_uris(skills_csv)
        splits = []
        if self.config.dev_csv:
            splits.append(datasets.SplitGenerator(name=datasets.Split.VALIDATION,
                                                  gen_kwargs={"csv_path": self.config.dev_csv}))
        if self.config.test_csv:
            splits.append(datasets.SplitGenerator(name=datasets.Split.TEST,
                                                  gen_kwargs={"csv_path": self.config.test_csv}))
        return splits

    def _generate_examples(self, csv_path: str) -> Iterator[tuple[int, dict[str, Any]]]:
        rows = read_upstream_csv(csv_path)
        make = make_sentences if self.config.name == "sentences" else make_pairs
        yield from enumerate(make(rows, self._uri_map))


# --------------------------------------------------------------------------------------------------
# Building the folder
# --------------------------------------------------------------------------------------------------


def _sha256(path: PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build(
    dev_csv: Optional[PathLike],
    out_dir: PathLike,
    test_csv: Optional[PathLike] = None,
    skills_csv: PathLike = DEFAULT_SKILLS_CSV,
    *,
    cache_dir: Optional[PathLike] = None,
) -> dict[str, Any]:
    """Convert the upstream CSVs into ``out_dir/data/<config>/<split>-00000-of-00001.parquet`` + ``README.md``.

    ``dev_csv`` becomes split ``validation`` and ``test_csv`` (optional) split ``test``. ``skills_csv`` maps
    ESCO preferred labels to URIs (the shipped map covers the development split's gold skills only; pass the
    official ESCO v1.1.0 ``skills_en.csv`` for a test split). Parquet files of this builder that are not
    rewritten (for example a test split from an earlier build) are removed; nothing else in ``out_dir`` is
    touched. Returns a summary: statistics per split, features and file sizes per config.
    """
    if dev_csv is None and test_csv is None:
        raise ValueError("build() needs dev_csv and/or test_csv")
    inputs = {split: Path(p) for split, p in (("validation", dev_csv), ("test", test_csv)) if p is not None}
    for split, path in inputs.items():
        if not path.is_file():
            raise FileNotFoundError(f"{split} CSV not found: {path}")
    if not Path(skills_csv).is_file():
        raise FileNotFoundError(f"skills CSV not found: {skills_csv}")

    # Validate and compute statistics first, so a bad file fails before anything is written.
    uri_map = read_skill_uris(skills_csv)
    statistics = {split: compute_statistics(read_upstream_csv(path), uri_map) for split, path in inputs.items()}

    out = Path(out_dir)
    summary: dict[str, Any] = {
        "statistics": statistics,
        "configs": {},
        "inputs": {split: {"file": path.name, "sha256": _sha256(path), "bytes": path.stat().st_size}
                   for split, path in inputs.items()},
        "skills_csv": {"file": Path(skills_csv).name, "labels": len(set(uri_map.values()))},
    }
    infos: dict[str, datasets.DatasetInfo] = {}
    with tempfile.TemporaryDirectory(prefix="skill_xl_build_") as tmp:
        cache = Path(cache_dir) if cache_dir is not None else Path(tmp)
        for config_name in CONFIG_NAMES:
            builder = SkillXL(
                cache_dir=str(cache / "cache"),
                config_name=config_name,
                dev_csv=str(inputs["validation"]) if "validation" in inputs else None,
                test_csv=str(inputs["test"]) if "test" in inputs else None,
                skills_csv=str(skills_csv),
            )
            builder.download_and_prepare(
                output_dir=str(cache / "prepared" / config_name),
                file_format="parquet",
                download_mode=datasets.DownloadMode.FORCE_REDOWNLOAD,
            )
            target = out / "data" / config_name
            target.mkdir(parents=True, exist_ok=True)
            written = set()
            files = {}
            for split in builder.info.splits:
                produced = sorted((cache / "prepared" / config_name).glob(f"*-{split}*.parquet"))
                if len(produced) != 1:
                    raise RuntimeError(f"expected one Parquet file for {config_name}/{split}, got {produced}")
                dest = target / f"{split}-00000-of-00001.parquet"
                shutil.copyfile(produced[0], dest)
                written.add(dest.name)
                files[split] = dest.stat().st_size
            for stale in target.glob("*.parquet"):
                if stale.name not in written:
                    stale.unlink()
            info = datasets.DatasetInfo(
                features=builder.info.features,
                splits=builder.info.splits,
                download_size=sum(files.values()),
                dataset_size=sum(s.num_bytes for s in builder.info.splits.values()),
            )
            infos[config_name] = info
            summary["configs"][config_name] = {
                "num_examples": {s: builder.info.splits[s].num_examples for s in builder.info.splits},
                "parquet_bytes": files,
                "features": builder.info.features,
            }
    _check_counts(statistics, summary["configs"])
    (out / "README.md").write_text(render_card(statistics, infos, summary), encoding="utf-8")
    return summary


def _check_counts(statistics: dict, configs: dict) -> None:
    for split, stats in statistics.items():
        n_sent = configs["sentences"]["num_examples"][split]
        n_rows = configs["pairs"]["num_examples"][split]
        if n_sent != stats["all"]["sentences"] or n_rows != stats["all"]["upstream_rows"]:
            raise RuntimeError(f"{split}: written rows ({n_sent}, {n_rows}) disagree with the statistics")


# --------------------------------------------------------------------------------------------------
# The dataset card
# --------------------------------------------------------------------------------------------------


def _yaml_header(infos: dict[str, datasets.DatasetInfo], n_sentences: int) -> str:
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    size = "n<1K" if n_sentences < 1_000 else "1K<n<10K" if n_sentences < 10_000 else "10K<n<100K"
    card_data = DatasetCardData(
        language=["en"],
        license="cc-by-4.0",
        pretty_name="Skill-XL",
        size_categories=[size],
        task_categories=["text-retrieval", "text-classification"],
        tags=["esco", "skill-extraction", "job-ads", "labor-market", "extreme-multi-label"],
        source_datasets=["TechWolf/Skill-XL"],
        configs=[
            {
                "config_name": name,
                "data_files": [
                    {"split": split, "path": f"data/{name}/{split}-00000-of-00001.parquet"}
                    for split in info.splits
                ],
                **({"default": True} if name == "sentences" else {}),
            }
            for name, info in infos.items()
        ],
    )
    DatasetInfosDict(infos).to_dataset_card_data(card_data)
    return card_data.to_yaml().rstrip("\n") + "\n"


def _stats_table(statistics: dict[str, dict[str, dict[str, Any]]]) -> str:
    rows = [
        ("ads", "job ads"),
        ("sentences", "sentences"),
        ("relevant_sentences", "sentences flagged `relevant`"),
        ("gold_sentences", "sentences with ≥ 1 gold skill (evaluation queries)"),
        ("gold_pairs", "gold (sentence, skill) pairs, duplicates merged"),
        ("gold_rows", "upstream rows with `relevant` and a skill (before merging)"),
        ("unique_skills", "distinct gold skills"),
        ("mean_gold_per_gold_sentence", "mean gold skills per evaluation query"),
        ("upstream_rows", "upstream CSV rows (`pairs` examples)"),
    ]
    columns = [(split, sub) for split, stats in statistics.items() for sub in stats]
    head = "| | " + " | ".join(f"{split} ({sub})" for split, sub in columns) + " |"
    sep = "|---|" + "---:|" * len(columns)
    lines = [head, sep]
    for key, label in rows:
        cells = []
        for split, sub in columns:
            v = statistics[split][sub][key]
            cells.append(f"{v:,.2f}" if isinstance(v, float) else f"{v:,}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_card(statistics: dict, infos: dict[str, datasets.DatasetInfo], summary: dict) -> str:
    n_sentences = max(s["all"]["sentences"] for s in statistics.values())
    splits = list(statistics)
    dev = statistics.get("validation", {}).get("all")
    cluster_line = ""
    if dev:
        cc = ", ".join(f"{k}: {v:,}" for k, v in dev["cluster_counts"].items())
        cluster_line = f"\nGold skills per `clusters` rank (validation, after merging): {cc}.\n"
    inputs = "\n".join(
        f"- `{info['file']}` → split `{split}` ({info['bytes']:,} bytes, sha256 `{info['sha256']}`)"
        for split, info in summary["inputs"].items()
    )
    missing_uri = {split: s["all"]["skills_without_uri"] for split, s in statistics.items() if s["all"]["skills_without_uri"]}
    uri_note = (
        f"\n**Warning:** some gold labels had no URI in the skills CSV and have a null URI: {missing_uri}.\n"
        if missing_uri else ""
    )
    test_note = (
        "" if "test" in splits else
        "\nThe upstream **test** split is not included in this build; run the builder with `--test test.csv` "
        "(and `--skills skills_en.csv` from ESCO v1.1.0) to add it.\n"
    )
    duplicate_note = ""
    if dev and dev["gold_rows"] != dev["gold_pairs"]:
        duplicate_note = (
            f" In the validation split {dev['gold_rows'] - dev['gold_pairs']:,} of the {dev['gold_rows']:,} "
            f"upstream skill rows repeat a skill already listed for the same sentence under another cluster, "
            f"which leaves {dev['gold_pairs']:,} distinct gold pairs."
        )
    ws = sum(st["all"]["skills_with_surrounding_whitespace"] for st in statistics.values())
    ws_note = (
        f" Skill labels are verbatim ESCO v1.1.0 preferred labels; {ws} distinct gold label(s) begin or end with "
        "whitespace exactly as in ESCO (for example `\"plan \"`), so compare labels the way your ESCO copy stores "
        "them, or compare `skill_uris`."
        if ws else ""
    )
    body = f"""
# Skill-XL

{DESCRIPTION}

Skill-XL was released by TechWolf with the paper *Efficient Text Encoders for Labor Market Analysis*
(Decorte, Van Hautte, Develder, Demeester; IEEE Access 13, 2025; [arXiv 2505.24640](https://arxiv.org/abs/2505.24640)).
Complete job ads, in two subsets (`RANDOM` and `UNIQUE`), were split into sentences, and each sentence
was annotated with the ESCO v1.1.0 skills it expresses. Each gold skill carries a `cluster` rank, its
centrality for the sentence (1 = most central).

This folder is a Parquet conversion of the upstream CSV files, with ESCO concept URIs added. Splits here:
{", ".join(f"`{s}`" for s in splits)}.{test_note}

```python
from datasets import load_dataset

sentences = load_dataset("path/to/skill_xl", "sentences", split="validation")
pairs = load_dataset("path/to/skill_xl", "pairs", split="validation")
queries = sentences.filter(lambda ex: len(ex["skills"]) > 0)   # the evaluation queries
```

## Statistics

{_stats_table(statistics)}
{cluster_line}
A sentence is identified by its ad `ID` and its exact text: a sentence that occurs more than once in an
ad (for example a repeated heading such as "Responsibilities") is one example of the `sentences` config.
Some sentences are flagged `relevant` without any skill label; they are kept, with empty lists, and are
not evaluation queries.{duplicate_note}{ws_note}

## Configurations and fields

### `sentences` (default): one row per sentence

| field | type | meaning |
|---|---|---|
| `ad_id` | string | upstream `ID` of the job ad |
| `subset` | string | `RANDOM` or `UNIQUE` |
| `job_title` | string | upstream `title` of the ad |
| `sentence_index` | int32 | 0-based position of the sentence among the distinct sentences of its ad (first occurrence) |
| `sentence` | string | the sentence text |
| `relevant` | bool | upstream `relevant` flag (true if any row of the sentence has it) |
| `skills` | list of string | gold ESCO v1.1.0 preferred labels: the skills of the `relevant` rows, duplicates merged, ordered by cluster rank then upstream order; empty when none |
| `skill_uris` | list of string | ESCO concept URIs, aligned with `skills` |
| `clusters` | list of int32 | cluster rank of each skill, aligned with `skills` (1 = most central; for a skill listed under several clusters, the smallest rank) |

### `pairs`: one row per upstream CSV row, in file order

| field | type | meaning |
|---|---|---|
| `ad_id`, `subset`, `job_title`, `sentence_index`, `sentence` | | as above (`sentence_index` joins to `sentences`) |
| `relevant` | bool | upstream `relevant` |
| `cluster` | int32, nullable | upstream `cluster`; null when empty |
| `skill` | string, nullable | upstream `skill` (ESCO v1.1.0 preferred label); null when empty |
| `skill_uri` | string, nullable | ESCO concept URI of `skill` |

## Evaluation protocol

Skill extraction is evaluated as ranking, per sentence, over the whole taxonomy:

- Candidates: all {NUM_ESCO_V110_SKILLS:,} skills of ESCO v1.1.0 (preferred labels; every gold label is one of them).
- Gold: the skills of the sentence's `relevant` rows, duplicates merged (the `skills` column).
  Sentences with no gold skill are dropped.
- RP@K = (number of gold skills in the top K) / min(K, |gold|), averaged over sentences, for K ∈ {{1, 5, 10}}.
- MRR = mean over sentences of 1 / (rank of the first gold skill).
- A graded nDCG may use `clusters` as relevance grades (rank 1 = most relevant); state the gain function used.
- `validation` is the upstream development split; `test` is the upstream test split.

## How this folder was built

`build_skill_xl.py` (in this folder) reads the upstream CSVs (columns `ID, subset, title, sentence,
relevant, cluster, skill`), checks them, runs a `datasets.GeneratorBasedBuilder` per configuration and writes
`data/<config>/<split>-00000-of-00001.parquet` and this card (statistics are computed by the builder):

```bash
python skill_xl/build_skill_xl.py --dev skill_xl/raw/development.csv [--test test.csv] \\
    [--skills skills_en.csv] --out skill_xl/
```

Inputs of this build:

{inputs}
- `{summary['skills_csv']['file']}`: ESCO v1.1.0 preferredLabel → conceptUri for {summary['skills_csv']['labels']:,} labels
{uri_note}
`raw/development.csv` is the unmodified upstream file (`development.csv` of `TechWolf/Skill-XL`);
`raw/esco_v1.1.0_skill_uris.csv` holds the ESCO v1.1.0 URIs of its gold skills, taken from the official
`skills_en.csv` export. Built with `datasets` {datasets.__version__}.

## License and attribution

Skill-XL is released by TechWolf under **CC-BY-4.0**; this conversion keeps that license. The skill labels and
URIs come from ESCO v1.1.0. This service uses the ESCO classification of the European Commission.

## Citation

```bibtex
{CITATION}
```
"""
    return f"---\n{_yaml_header(infos, n_sentences)}---\n{body}"


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev", default=str(DEFAULT_DEV_CSV),
                        help="upstream development.csv -> split 'validation' (default: %(default)s)")
    parser.add_argument("--test", default=None, help="upstream test.csv -> split 'test' (optional)")
    parser.add_argument("--skills", default=str(DEFAULT_SKILLS_CSV),
                        help="CSV with conceptUri,preferredLabel (ESCO v1.1.0 skills_en.csv works; default: %(default)s)")
    parser.add_argument("--out", default=str(HERE), help="output dataset folder (default: %(default)s)")
    parser.add_argument("--write-uri-map", metavar="ESCO_SKILLS_CSV", default=None,
                        help="first regenerate --skills from this ESCO skills_en.csv, restricted to the gold skills")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    if args.quiet:
        datasets.disable_progress_bars()
    try:
        if args.write_uri_map:
            n = write_skill_uri_map([p for p in (args.dev, args.test) if p], args.write_uri_map, args.skills)
            logger.info("wrote %d labels to %s", n, args.skills)
        summary = build(args.dev, args.out, test_csv=args.test, skills_csv=args.skills)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for split, stats in summary["statistics"].items():
        s = stats["all"]
        print(f"{split}: {s['ads']} ads, {s['sentences']} sentences, {s['gold_sentences']} with gold, "
              f"{s['gold_pairs']} gold pairs, {s['unique_skills']} skills")
    print(f"wrote {Path(args.out) / 'README.md'} and {Path(args.out) / 'data'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
