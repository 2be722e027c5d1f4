"""Every label of a skill on the skill side: the extractor with ``skill_labels="all"`` (on a reduced label table so the
test encodes a few hundred labels, not 85k), its exact bound against full scoring, and the evidence's label."""

import pytest
import torch

import contextmatch.skills.extractor as extractor_module
from contextmatch.skills.labels import label_table, parse_aggregation

SENTENCES = ["Experience with Postgres and Kubernetes is a plus.", "You will mentor junior developers.",
             "Fluent German and English, written and spoken.", "Team player."]
WORDS = ("sql", "postgres", "kubernetes", "mentor", "german", "english", "team")


def _reduced_table(skills):
    """The label table with the alternative labels of the skills that touch the test sentences, plus 50 others."""
    from types import SimpleNamespace

    def keep(index, skill):
        return index < 50 or any(w in " ".join((skill.label, *skill.alt_labels)).lower() for w in WORDS)

    return label_table([SimpleNamespace(label=s.label, alt_labels=s.alt_labels if keep(i, s) else ())
                        for i, s in enumerate(skills)])


@pytest.fixture(scope="module")
def all_labels(model_and_tokenizer):
    from contextmatch.skills.extractor import SkillExtractor

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(extractor_module, "label_table", _reduced_table)
        pooled = SkillExtractor(model_and_tokenizer, skill_labels="all", label_pool=20)  # before the labels are cached
        bound = SkillExtractor(model_and_tokenizer, skill_labels="all")
        full = SkillExtractor(model_and_tokenizer, skill_labels="all", scoring="full")
    return bound, full, pooled


def test_table_has_every_alternative_label_once():
    from contextmatch.esco import load_esco

    skills = load_esco().skills
    table = label_table(skills)
    assert table.labels[: len(skills)] == [s.label for s in skills]
    assert len(table.labels) == len(skills) + sum(len(set(s.alt_labels) - {s.label}) for s in skills)
    padded = table.skill_labels()
    assert torch.equal(padded[:, 0], torch.arange(len(skills)))
    assert int((padded >= 0).sum()) == len(table.labels)


def test_bound_equals_full_scoring_with_all_labels(all_labels):
    bound, full, _ = all_labels
    assert bound.label_embeddings.shape[0] > len(bound.skills) + 500  # alternatives are there
    for a, b in zip(bound._match_sentences(SENTENCES, 10, False), full._match_sentences(SENTENCES, 10, False)):
        assert [m.uri for m in a] == [m.uri for m in b]
        assert [m.matched_label for m in a] == [m.matched_label for m in b]
        assert [m.score for m in a] == pytest.approx([m.score for m in b], abs=1e-5)
        assert [[e.text for e in m.evidence] for m in a] == [[e.text for e in m.evidence] for m in b]


def test_ranking_scores_agree_with_extraction(all_labels):
    bound, *_ = all_labels
    scores = bound.score_sentences(SENTENCES)
    for row, matches in zip(scores, bound._match_sentences(SENTENCES, 5, False)):
        top = row.topk(5)
        assert [bound.skills[i].uri for i in top.indices] == [m.uri for m in matches]
        assert top.values.tolist() == pytest.approx([m.score for m in matches], abs=1e-5)


def test_pool_ranks_its_members_exactly_and_agrees_with_ranking(all_labels):
    """A pool of 20 preferred-label candidates: each reported skill's score is its exact all-label score, the
    reported skills are the best of the pool, and score_sentences ranks the same skills first."""
    bound, _, pooled = all_labels
    exact = bound.score_sentences(SENTENCES)
    preferred = pooled.model.score_sentences(pooled.tokenizer, SENTENCES, pooled.skill_embeddings)
    pool_scores = pooled.score_sentences(SENTENCES)
    for i, matches in enumerate(pooled._match_sentences(SENTENCES, 5, False)):
        members = preferred[i].topk(20).indices
        best = exact[i][members].topk(5)
        assert [m.uri for m in matches] == [pooled.skills[int(members[j])].uri for j in best.indices]
        assert [m.score for m in matches] == pytest.approx(best.values.tolist(), abs=1e-5)
        top = pool_scores[i].topk(5)
        assert [pooled.skills[j].uri for j in top.indices] == [m.uri for m in matches]
    assert any(m.matched_label for found in pooled._match_sentences(SENTENCES, 5, False) for m in found)


def test_pool_encodes_only_the_labels_it_needs(all_labels):
    """A pool without cached alternative labels encodes those of its members on first use, as the full matrix has
    them, and no others."""
    bound, _, pooled = all_labels
    pooled._match_sentences(SENTENCES, 5, False)
    encoded = ~pooled._unencoded
    assert 0 < int(encoded[len(pooled.skills):].sum()) < len(pooled.labels) - len(pooled.skills)
    assert torch.allclose(pooled.label_embeddings[encoded], bound.label_embeddings[encoded], atol=1e-5)
    assert not pooled.label_embeddings[pooled._unencoded].any()


def test_pool_needs_all_labels(model_and_tokenizer):
    from contextmatch.skills.extractor import SkillExtractor

    with pytest.raises(ValueError, match="label_pool=5 needs skill_labels='all'"):
        SkillExtractor(model_and_tokenizer, label_pool=5)


def test_matched_label_names_the_alternative_that_matched(all_labels):
    bound, *_ = all_labels
    matches = [m for found in bound._match_sentences(SENTENCES, 10, False) for m in found]
    by_uri = bound.esco.skill_by_uri
    alternative = [m for m in matches if m.matched_label is not None]
    assert alternative, "some skill should match through an alternative label ('Postgres', 'mentor' ...)"
    for m in alternative:
        assert m.matched_label in by_uri[m.uri].alt_labels and m.matched_label != m.label


def test_preferred_scoring_is_unchanged(extractor, model_and_tokenizer):
    direct = model_and_tokenizer[0].score_sentences(model_and_tokenizer[1], SENTENCES, extractor.skill_embeddings)
    assert torch.allclose(extractor.score_sentences(SENTENCES), direct, atol=1e-6)
    assert all(m.matched_label is None for found in extractor._match_sentences(SENTENCES, 5, False) for m in found)


@pytest.mark.parametrize("bad", ["mix:1.5", "mean", "softmax:0", "mix:x"])
def test_bad_aggregation_is_one_clear_error(bad):
    with pytest.raises(ValueError, match="bad label aggregation"):
        parse_aggregation(bad)


def test_unknown_skill_labels_mode_is_refused(model_and_tokenizer):
    from contextmatch.skills.extractor import SkillExtractor

    with pytest.raises(ValueError, match="unknown skill_labels 'alt'"):
        SkillExtractor(model_and_tokenizer, skill_labels="alt")
