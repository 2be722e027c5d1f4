"""Write the fixed train/select split of the JobBERT titles: ``contextmatch/data/benchmarks/jobbert_titles_split.csv.gz``.

80% of the rows go to ``train`` (labelled titles a title model may learn from), 20% to ``select`` (model choice and the
reported figures); all rows of one lower-cased title fall on one side
(``contextmatch.evaluation.title_benchmarks.split_by_title``). Run once; the file is part of the repository and a test
checks that this rule reproduces it.

    python scripts/split_jobbert_titles.py
"""

from __future__ import annotations

import collections
import csv
import gzip
import io
import sys

from contextmatch.evaluation.title_benchmarks import (JOBBERT_SPLIT, JOBBERT_TITLES, _open_csv, split_by_title,
                                                       title_key)


def main() -> int:
    with _open_csv(JOBBERT_TITLES) as handle:
        rows = list(csv.DictReader(handle))
    sides = split_by_title([row["vacancyTitle"] for row in rows])
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["row", "split"])
    writer.writerows((row[""], side) for row, side in zip(rows, sides))
    with gzip.GzipFile(JOBBERT_SPLIT, "wb", mtime=0) as out:  # byte-identical on every run
        out.write(text.getvalue().encode())
    counts = collections.Counter(sides)
    keys = {side: {title_key(row["vacancyTitle"]) for row, s in zip(rows, sides) if s == side} for side in counts}
    occupations = {side: {row["conceptUri"] for row, s in zip(rows, sides) if s == side} for side in counts}
    print(f"wrote {JOBBERT_SPLIT}: " + "; ".join(
        f"{side} {counts[side]:,} rows, {len(keys[side]):,} titles, {len(occupations[side]):,} occupations"
        for side in ("train", "select")) + f"; shared titles: {len(keys['train'] & keys['select'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
