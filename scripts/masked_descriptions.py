"""A training-data variant against the word-overlap shortcut: each ESCO description without its skill's label words.

    python scripts/masked_descriptions.py training_data/v1 training_data/v1-masked
    contextmatch train --recipe cpu --data training_data/v1-masked --soup 1 --seed 0 --out runs/cpu-masked-s0

Every ``esco-description`` text loses the words that equal a content word of its skill's preferred label or share
its first four letters (``contextmatch.skills.selection.content_words`` and ``stems``), so that the model has to
match a description's meaning, not the label's words; the other pairs are copied unchanged, in the same order.
A description with no word left stays whole (the two seeds in `results/training/comparisons/masked_descriptions.json`
were trained before that rule, with two such descriptions reduced to a full stop).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contextmatch.skills.selection import content_words  # noqa: E402

WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9+#]*(?:[.'-][A-Za-z0-9+#]+)*")


def without_label_words(text: str, label: str) -> str:
    """``text`` without the words of ``label`` (exact, or sharing the first four letters of one of four or more).

    >>> without_label_words("Docker is a tool to run containers; dockers ship software.", "Docker (software)")
    'is a tool to run containers; ship.'
    >>> without_label_words("Risks of physical, chemical, and biological hazards.", "chemical hazards")
    'Risks of physical, and biological.'
    """
    words = set(content_words(label))
    prefixes = {w[:4] for w in words if len(w) >= 4}

    def drop(match: re.Match) -> bool:
        word = match.group().lower()
        return word in words or (len(word) >= 4 and word[:4] in prefixes)

    kept = WORD.sub(lambda m: "" if drop(m) else m.group(), text)
    kept = re.sub(r"\s+([.,;:])", r"\1", re.sub(r"\s{2,}", " ", kept))
    return re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", kept).strip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="a folder written by contextmatch build-training-data")
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    changed = total = 0
    with gzip.open(args.data / "train.jsonl.gz", "rt", encoding="utf-8") as source, \
            gzip.open(args.out / "train.jsonl.gz", "wt", encoding="utf-8") as target:
        for line in source:
            record = json.loads(line)
            if record["source"] == "esco-description":
                total += 1
                masked = without_label_words(record["text"], record["skills"][0])
                if WORD.search(masked):  # a description that was only its label stays whole
                    changed += masked != record["text"]
                    record["text"] = masked
            target.write(json.dumps(record, ensure_ascii=False) + "\n")
    stats = json.loads((args.data / "stats.json").read_text(encoding="utf-8"))
    stats.update(version=stats["version"] + "-masked", masked_descriptions=changed, content_md5=None)
    (args.out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    print(f"{changed} of {total} descriptions lost label words -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
