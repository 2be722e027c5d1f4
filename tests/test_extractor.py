"""The extraction pipeline on real text with the default model."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from contextmatch.cache import cache_dir, model_fingerprint


def test_example_ad_sentences_skills_and_evidence(plain_extractor, example_ad):
    extractor = plain_extractor
    result = extractor.extract(example_ad, threshold=0.0)
    assert len(result.sentences) > 10
    for sentence in result.sentences:
        assert result.text[sentence.start : sentence.end] == sentence.text
        assert 1 <= len(sentence.skills) <= extractor.top_k
        scores = [m.score for m in sentence.skills]
        assert scores == sorted(scores, reverse=True)
        for match in sentence.skills:
            for evidence in match.evidence:
                assert sentence.text[evidence.start : evidence.end] == evidence.text
                assert 0 < evidence.weight <= 1
    # the ad-level summary lists each skill once, with its best sentence score and all its sentences
    uris = [s.uri for s in result.skills]
    assert len(uris) == len(set(uris))
    for skill in result.skills:
        found = [m.score for s in result.sentences for m in s.skills if m.uri == skill.uri]
        assert skill.score == max(found) and len(skill.sentences) == len(found)


def test_named_skill_is_found_with_its_evidence(extractor):
    sentence = extractor.extract("Experience with PostgreSQL.", threshold=0.0).sentences[0]
    match = next(m for m in sentence.skills if m.label == "PostgreSQL")
    assert "PostgreSQL" in [e.text for e in match.evidence]


def test_threshold_and_top_k(plain_extractor, example_ad):
    extractor = plain_extractor
    everything = extractor.extract(example_ad, top_k=3, threshold=-1.0)
    assert all(len(s.skills) == 3 for s in everything.sentences)
    strict = extractor.extract(example_ad, top_k=3, threshold=0.99)
    assert all(not s.skills for s in strict.sentences) and not strict.skills
    with pytest.raises(ValueError):
        extractor.extract(example_ad, top_k=0)


@pytest.mark.parametrize("text", ["", "   \n\t  ", "<p> </p>", "---\n***"])
def test_empty_input_gives_empty_result(extractor, text):
    result = extractor.extract(text)
    assert result.sentences == [] and result.skills == []


def test_non_text_is_refused(extractor):
    with pytest.raises(TypeError, match="must be str"):
        extractor.extract(b"bytes are not text")


def test_html_ad(extractor):
    result = extractor.extract("<ul><li>Experience with <b>PostgreSQL</b></li><li>Fluent German</li></ul>", threshold=0)
    assert [s.text for s in result.sentences] == ["Experience with PostgreSQL", "Fluent German"]


def test_long_sentence_is_split_into_windows_not_truncated(extractor):
    filler = " ".join(["the team ships reliable software every week, C++/C#"] * 60)  # far beyond 128 tokens
    sentence = f"{filler} and you need strong PostgreSQL skills"
    windows = extractor._all_windows([sentence])
    assert len(windows) > 2
    for window in windows:  # the encoder reads the sentence's word pieces: those of the window's own text
        encoded = extractor.tokenizer(window.text, add_special_tokens=False, return_offsets_mapping=True)
        assert list(window.ids) == encoded["input_ids"] and list(window.offsets) == encoded["offset_mapping"]
    assert windows[0].base == 0 and windows[-1].base + len(windows[-1].text) == len(sentence)
    for window, following in zip(windows, windows[1:]):
        assert following.base <= window.base + len(window.text)  # windows overlap or touch: nothing is skipped
        assert sentence[window.base : window.base + len(window.text)] == window.text
    match = next(m for m in extractor.extract(sentence, top_k=20, threshold=0).sentences[0].skills
                 if m.label == "PostgreSQL")
    assert any(e.text == "PostgreSQL" and e.start > 2000 for e in match.evidence)


def test_scores_of_a_sentence_match_the_model(extractor, model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    sentence = "You will mentor junior developers."
    pipeline_scores = extractor.score_sentences([sentence])[0]
    direct = model.score_sentences(tokenizer, [sentence], extractor.skill_embeddings)[0]
    assert torch.allclose(pipeline_scores, direct, atol=1e-5)
    top = extractor.extract(sentence, threshold=-1).sentences[0].skills[0]
    assert top.score == pytest.approx(float(pipeline_scores.max()), abs=1e-5)


def test_skill_matrix_is_cached_in_the_user_cache_keyed_by_weights(extractor, model_and_tokenizer):
    files = list((cache_dir() / "skill_embeddings").glob("esco-1.1.0-*.safetensors"))
    assert files and all("site-packages" not in str(f) for f in files)
    model, _ = model_and_tokenizer
    before = model_fingerprint(model)
    with torch.no_grad():
        weight = model.encoder.embeddings.word_embeddings.weight
        weight[0, 0] += 1.0
        try:
            assert model_fingerprint(model) != before
        finally:
            weight[0, 0] -= 1.0
    assert model_fingerprint(model) == before


@pytest.mark.slow
def test_one_megabyte_of_text_in_bounded_memory(tmp_path):
    """Peak memory for 1 MB of text stays close to that for 50 kB: sentences stream through in batches."""
    script = textwrap.dedent(
        """
        import random, resource, sys
        from contextmatch.skills.extractor import SkillExtractor
        words = open("examples/job_ad.txt", encoding="utf-8").read().split()
        random.seed(0)
        size = int(sys.argv[1])
        parts, total = [], 0
        while total < size:
            sentence = " ".join(random.choices(words, k=random.randint(5, 30))) + ".\\n"
            parts.append(sentence)
            total += len(sentence)
        result = SkillExtractor(batch_size=64).extract("".join(parts))
        assert len(result.sentences) > size // 400
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    peaks = []
    for size in (50_000, 1_000_000):
        done = subprocess.run([sys.executable, "-c", script, str(size)], capture_output=True, text=True,
                              timeout=1200, env=env, cwd=env["PYTHONPATH"])
        assert done.returncode == 0, done.stderr[-2000:]
        peaks.append(int(done.stdout.split()[-1]))
    assert peaks[1] < peaks[0] + 400, f"peak RSS grew from {peaks[0]} MB to {peaks[1]} MB"
