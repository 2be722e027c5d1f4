"""The ConTeXT score: a hand-computed example, chunking, padding invariance and evidence weights."""

import math

import pytest
import torch

from modeling_contextmatch import contextmatch_scores, mean_pool, token_attention


def test_hand_computed_two_skills_with_temperature():
    # tokens x1 = (1, 0), x2 = (1, 1); skills e1 = (2, 0), e2 = (0, 1); temperature T = 2
    x = torch.tensor([[[1.0, 0.0], [1.0, 1.0]]])
    e = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    # e1: logits (2, 2) -> alpha (0.5, 0.5); cosines (1, 1/sqrt 2) -> score (1 + 0.70711) / 2
    # e2: logits (0, 1) / 2 -> alpha = softmax(0, 0.5); cosines (0, 1/sqrt 2)
    alpha2 = math.exp(0.5) / (1 + math.exp(0.5))
    expected = torch.tensor([[(1 + 1 / math.sqrt(2)) / 2, alpha2 / math.sqrt(2)]])
    got = contextmatch_scores(x, torch.tensor([[1, 1]]), e, temperature=2.0)
    assert torch.allclose(got, expected, atol=1e-6)


def test_padding_is_ignored_in_the_formula():
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [50.0, 0.0]]])  # the third token is padding
    e = torch.tensor([[2.0, 0.0]])
    padded = contextmatch_scores(x, torch.tensor([[1, 1, 0]]), e)
    alone = contextmatch_scores(x[:, :2], torch.tensor([[1, 1]]), e)
    assert torch.allclose(padded, alone)


def test_chunked_equals_unchunked():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 9, 16, generator=generator)
    mask = torch.ones(4, 9, dtype=torch.long)
    mask[1, 5:] = 0
    mask[3, 2:] = 0
    skills = torch.randn(37, 16, generator=generator) * 3
    whole = contextmatch_scores(x, mask, skills, skill_chunk=10_000)
    for chunk in (1, 5, 36):
        assert torch.allclose(contextmatch_scores(x, mask, skills, skill_chunk=chunk), whole, atol=1e-6)
    assert whole.shape == (4, 37)
    assert whole.min() >= -1 and whole.max() <= 1


def test_high_temperature_gives_mean_cosine():
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    e = torch.tensor([[1.0, 0.0]])
    score = contextmatch_scores(x, torch.tensor([[1, 1]]), e, temperature=1e6)
    assert score.item() == pytest.approx(0.5, abs=1e-5)  # mean of cosines 1 and 0


def test_attention_sums_to_one_over_real_tokens():
    logits = torch.randn(3, 6, 4)
    mask = torch.tensor([[1] * 6, [1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0]])
    alpha = token_attention(logits, mask)
    assert torch.allclose(alpha.sum(dim=1), torch.ones(3, 4))
    assert alpha[1, 3:].abs().sum() == 0 and alpha[2, 1:].abs().sum() == 0


def test_mean_pool_ignores_padding():
    x = torch.arange(12, dtype=torch.float).reshape(1, 4, 3)
    assert torch.equal(mean_pool(x, torch.tensor([[1, 1, 0, 0]])), torch.tensor([[1.5, 2.5, 3.5]]))


def test_sentence_score_does_not_depend_on_its_batch(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    skills = model.embed_skill_labels(tokenizer, ["PostgreSQL", "manage a team", "German"])
    short = "Experience with PostgreSQL."
    long = "You will lead a team of five engineers and speak German with our customers in Berlin every day."
    alone = model.score_sentences(tokenizer, [short], skills)
    batched = model.score_sentences(tokenizer, [long, short], skills)
    assert torch.allclose(alone[0], batched[1], atol=1e-5)


def test_skill_embedding_does_not_depend_on_its_batch(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    alone = model.embed_skill_labels(tokenizer, ["SQL"])
    batched = model.embed_skill_labels(tokenizer, ["manage musical staff and their rehearsal schedules", "SQL"])
    assert torch.allclose(alone[0], batched[1], atol=1e-5)


def test_special_token_policy_keeps_cls_and_sep_out_of_the_attention(model_and_tokenizer):
    import copy

    model, tokenizer = model_and_tokenizer
    batch = tokenizer(["Experience with PostgreSQL.", "SQL"], padding=True, return_tensors="pt")
    tokens = model.encode_sentences(batch["input_ids"], batch["attention_mask"])
    skills = model.embed_skill_labels(tokenizer, ["PostgreSQL"])
    assert model.config.attend_special_tokens  # the shipped policy: every real token attends
    assert model.attention_weights(tokens, batch["attention_mask"], skills)[0, 0, 0] > 0
    strict = copy.copy(model)
    strict.config = copy.deepcopy(model.config)
    strict.config.attend_special_tokens = False
    alpha = strict.attention_weights(tokens, batch["attention_mask"], skills)[:, :, 0]
    last = int(batch["attention_mask"][0].sum()) - 1
    assert alpha[0, 0] == 0 and alpha[0, last] == 0 and torch.isclose(alpha[0].sum(), torch.tensor(1.0))
    assert alpha[1].sum() > 0.99  # a one-word sentence (3 tokens) keeps its word
    scores = strict.score(tokens, batch["attention_mask"], skills)
    assert torch.isfinite(scores).all() and not torch.allclose(scores, model.score(tokens, batch["attention_mask"], skills))
