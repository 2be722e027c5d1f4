"""The relevance gate at the cut-off the model ships with: accuracy, precision and recall of "states a skill".

    python scripts/gate_cutoff.py        # writes results/extraction/gate_cutoff.json

The shipped pipeline (``SkillExtractor`` as ``extract`` runs it) scores each sentence's relevance with its ad
around it: Skill-XL ``report`` ads (label: ``relevant``) and SkillSpan dev postings (label: a SKILL or KNOWLEDGE
span), the two sets the gate never saw. A sentence passes when its relevance reaches the config's
``gate_threshold``, which ``scripts/tune_selection.py`` chose on ``select``. ROC AUC, which needs no cut-off, is in
``results/extraction/gate.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from train_gate import DEV, skill_xl_relevance  # noqa: E402

from contextmatch.evaluation.extraction import RESULTS_DIR  # noqa: E402
from contextmatch.models import default_model  # noqa: E402
from contextmatch.skills.extractor import SkillExtractor  # noqa: E402
from contextmatch.skills.gate import group_by_ad, skillspan_postings, skillspan_sentences  # noqa: E402


def confusion(passed: list[bool], labels: list[int]) -> dict:
    """Accuracy of the gate, and precision and recall of the sentences it passes.

    >>> confusion([True, True, False, False], [1, 0, 0, 1])
    {'sentences': 4, 'stating_a_skill': 2, 'passed': 2, 'accuracy': 0.5, 'precision': 0.5, 'recall': 0.5}
    """
    right = sum(p == bool(y) for p, y in zip(passed, labels))
    hits = sum(p and bool(y) for p, y in zip(passed, labels))
    return {"sentences": len(labels), "stating_a_skill": sum(labels), "passed": sum(passed),
            "accuracy": round(right / len(labels), 4), "precision": round(hits / max(sum(passed), 1), 4),
            "recall": round(hits / max(sum(labels), 1), 4)}


def main() -> int:
    folder = str(default_model())
    extractor = SkillExtractor(folder, quantize="auto")
    cutoff = extractor.model.config.gate_threshold
    texts, labels, ads = skill_xl_relevance()["report"]
    dev_texts, dev_labels = skillspan_sentences(DEV)
    sets = {"skill-xl-report": (texts, labels, ads), "skillspan-dev": (dev_texts, dev_labels, skillspan_postings(DEV))}
    out = {"command": "python scripts/gate_cutoff.py", "model": Path(folder).name, "gate_threshold": cutoff}
    for name, (sentences, gold, ad_ids) in sets.items():
        groups = group_by_ad(ad_ids)
        results = extractor.extract_sentences([[sentences[i] for i in group] for group in groups], progress=True)
        relevance = [s.relevance for r in results for s in r.sentences]
        order = [i for group in groups for i in group]
        passed = [False] * len(sentences)
        for i, value in zip(order, relevance):
            passed[i] = value >= cutoff
        out[name] = confusion(passed, gold)
        print(f"{name}: {out[name]}")
    path = RESULTS_DIR / "gate_cutoff.json"
    path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
