"""Rebuild the demo's example ads in ``examples/`` from files of this repository.

Three ads come from the Skill-XL validation split (``skill_xl/raw/development.csv``; Decorte et al. 2025,
released by TechWolf under CC-BY-4.0): an ad's text is its distinct sentences in order of first appearance,
one per line. The fourth is the repository's own demo ad, ``examples/job_ad.txt``. The Space ships the
resulting files, so it never reads the repository at run time.

    python spaces_demo/make_examples.py          # from the repository root; rewrites spaces_demo/examples/
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SKILL_XL_CSV = REPO / "skill_xl" / "raw" / "development.csv"
DEMO_AD = REPO / "examples" / "job_ad.txt"
OUT = HERE / "examples"

# (Skill-XL ad ID, file name); chosen for short ads from three different fields.
SKILL_XL_ADS = [
    ("3094f3fc-dbc7-4659-b608-43d0ed029618", "skill_xl_registered_nurse.txt"),
    ("7f0b7249-f05a-49f8-b70d-0b2251b1a1e0", "skill_xl_dental_assistant.txt"),
    ("a4d01c15-014d-4bda-812e-3817d21319ef", "skill_xl_sales_representative.txt"),
]
SKILL_XL_SOURCE = "Skill-XL validation split (TechWolf, CC-BY-4.0; Decorte et al. 2025)"


def skill_xl_ads(path: Path = SKILL_XL_CSV) -> dict[str, tuple[str, list[str]]]:
    """Ad ID -> (job title, distinct sentences in order of first appearance); the CSV has one row per
    (sentence, gold skill) pair, so a sentence repeats once per skill."""
    ads: dict[str, tuple[str, dict[str, None]]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            ads.setdefault(row["ID"], (row["title"].strip(), {}))[1].setdefault(row["sentence"].strip(), None)
    return {ad_id: (title, [s for s in sentences if s]) for ad_id, (title, sentences) in ads.items()}


def build_examples() -> tuple[dict[str, str], list[dict[str, str]]]:
    """The example files (name -> text) and their index entries (file, label, source)."""
    ads = skill_xl_ads()
    files, index = {}, []
    for ad_id, name in SKILL_XL_ADS:
        title, sentences = ads[ad_id]
        files[name] = "\n".join(sentences) + "\n"
        index.append({"file": name, "label": f"Skill-XL: {title}", "source": f"{SKILL_XL_SOURCE}, ad {ad_id}"})
    files["demo_data_engineer.txt"] = DEMO_AD.read_text(encoding="utf-8")
    index.append({"file": "demo_data_engineer.txt", "label": "Demo ad: Data Engineer",
                  "source": "written for this demo (examples/job_ad.txt)"})
    return files, index


def index_text(index: list[dict[str, str]]) -> str:
    return json.dumps(index, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    files, index = build_examples()
    OUT.mkdir(exist_ok=True)
    for name, text in files.items():
        (OUT / name).write_text(text, encoding="utf-8")
    (OUT / "index.json").write_text(index_text(index), encoding="utf-8")
    print(f"wrote {len(files)} example ads and index.json to {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
