"""The shipped ESCO v1.1.0 taxonomy."""

import pytest

from contextmatch.esco import ATTRIBUTION, available_versions, load_esco


def test_counts_and_fields():
    esco = load_esco("1.1.0")
    assert len(esco.skills) == 13_891 and len(esco.occupations) == 3_008
    assert sum(len(s.alt_labels) for s in esco.skills) == 97_458
    assert sum(len(o.alt_labels) for o in esco.occupations) == 32_816
    python = esco.skill_by_label["Python (computer programming)"]
    assert python.uri.startswith("http://data.europa.eu/esco/skill/") and python.skill_type == "knowledge"
    assert {s.reuse_level for s in esco.skills} >= {"sector-specific", "cross-sector", "transversal"}
    nurse = next(o for o in esco.occupations if o.label == "specialist nurse")
    assert nurse.code.startswith(nurse.isco_group) and nurse.description


def test_relations():
    esco = load_esco()
    assert sum(len(r["essential"]) + len(r["optional"]) for r in esco.occupation_skills.values()) == 123_852
    some = next(iter(esco.occupation_skills.values()))["essential"][0]
    assert some in esco.skill_by_uri
    assert esco.related_skills and esco.broader_skills


def test_version_is_explicit():
    assert "1.1.0" in available_versions()
    with pytest.raises(ValueError, match="not shipped"):
        load_esco("9.9.9")
    assert "European Commission" in ATTRIBUTION
