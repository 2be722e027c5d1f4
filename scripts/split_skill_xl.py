"""Split the Skill-XL validation ads once into a ``select`` half and a ``report`` half (by ad id, per subset).

    python scripts/split_skill_xl.py        # writes skill_xl/raw/development_halves.csv

Every parameter of the extraction pipeline (gate cut-off, selection rule, grouping) is chosen on ``select``;
figures are reported on ``report``. Within each ``subset`` the ads are ordered by a hash of their id and dealt out
alternately, so the split is fixed by the data alone and the two halves have the same subset mix.
"""

from __future__ import annotations

import csv
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contextmatch.evaluation.extraction import SKILL_XL_HALVES  # noqa: E402
from contextmatch.evaluation.benchmarks import NAMED  # noqa: E402


def halves(ads: dict[str, str]) -> dict[str, str]:
    """Ad id -> ``select`` or ``report``, dealt alternately per subset in hash order.

    >>> sorted(halves({"a": "X", "b": "X", "c": "Y", "d": "Y"}).values())
    ['report', 'report', 'select', 'select']
    """
    out = {}
    for subset in sorted(set(ads.values())):
        ids = sorted((i for i, s in ads.items() if s == subset), key=lambda i: hashlib.sha256(i.encode()).hexdigest())
        out.update({ad: ("select", "report")[n % 2] for n, ad in enumerate(ids)})
    return out


def main() -> int:
    with open(NAMED["skill-xl"]["validation"], encoding="utf-8", newline="") as handle:
        ads = {row["ID"]: row["subset"] for row in csv.DictReader(handle)}
    split = halves(ads)
    with open(SKILL_XL_HALVES, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ID", "subset", "half"])
        for ad in sorted(split):
            writer.writerow([ad, ads[ad], split[ad]])
    counts = {h: sum(1 for v in split.values() if v == h) for h in ("select", "report")}
    print(f"wrote {SKILL_XL_HALVES}: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
