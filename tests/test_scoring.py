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
    # the scores change, if only a little: the shipped model gives CLS and SEP almost no attention on these sentences
    assert torch.isfinite(scores).all() and not torch.equal(scores, model.score(tokens, batch["attention_mask"], skills))


# ---- several labels per skill ---------------------------------------------------------------------------------------

def _label_problem(seed: int, skills: int = 400):
    """Random sentences and a label table: every skill its preferred label plus 0 to 6 alternative labels."""
    gen = torch.Generator().manual_seed(seed)
    counts = torch.randint(0, 7, (skills,), generator=gen)
    owners = torch.cat([torch.arange(skills), torch.repeat_interleave(torch.arange(skills), counts)])
    from contextmatch.skills.labels import LabelTable

    table = LabelTable([str(i) for i in range(len(owners))], owners, skills).skill_labels()
    x = torch.randn(4, 7, 16, generator=gen) * 3
    mask = torch.ones(4, 7, dtype=torch.long)
    mask[1, 4:] = 0
    mask[3, 1:] = 0
    return x, mask, torch.randn(len(owners), 16, generator=gen) * 2, table


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("weight,label_temperature", [(1.0, None), (0.5, None), (0.0, None), (0.3, None),
                                                      (0.0, 0.05)])
@pytest.mark.parametrize("k,candidates", [(1, None), (5, 5), (10, 300)])
def test_label_topk_equals_full_aggregated_scoring(dtype, weight, label_temperature, k, candidates):
    from contextmatch.skills.topk import label_topk, unit_rows
    from modeling_contextmatch import aggregate_label_scores

    x, mask, labels, table = _label_problem(k)
    values, indices, alpha, best = label_topk(x, mask, labels, table, k, 0.5, unit_rows(labels).to(dtype),
                                              candidates, weight, label_temperature)
    label_scores = contextmatch_scores(x, mask, labels, 0.5)
    full = aggregate_label_scores(label_scores, table, weight, label_temperature).topk(k)
    assert torch.equal(indices, full.indices)
    assert torch.allclose(values, full.values, atol=1e-6)
    # the best label is the skill's highest-scored label, and the attention is that label's
    padded = label_scores[:, table.clamp(min=0)].masked_fill(table < 0, float("-inf"))
    expected_best = table[indices].gather(2, padded.gather(1, indices.unsqueeze(-1).expand(-1, -1, table.shape[1]))
                                          .argmax(-1, keepdim=True)).squeeze(-1)
    assert torch.equal(best, expected_best)
    expected_alpha = token_attention(torch.einsum("bld,bkd->blk", x, labels[best]), mask, 0.5)
    assert torch.allclose(alpha, expected_alpha, atol=1e-6)


@pytest.mark.parametrize("weight,label_temperature", [(0.5, None), (0.0, None), (0.0, 0.02), (0.0, 10.0)])
def test_aggregated_label_bounds_bound_the_aggregated_scores(weight, label_temperature):
    from contextmatch.skills.topk import aggregated_bounds, cosine_bounds, unit_rows
    from modeling_contextmatch import aggregate_label_scores

    x, mask, labels, table = _label_problem(7)
    scores = aggregate_label_scores(contextmatch_scores(x, mask, labels), table, weight, label_temperature)
    bound_weight = 0.0 if label_temperature is not None else weight  # as label_topk bounds them
    label_bounds = cosine_bounds(x, mask, unit_rows(labels))
    bounds = aggregated_bounds(label_bounds, table, bound_weight)
    assert torch.allclose(bounds, aggregate_label_scores(label_bounds, table, bound_weight), atol=1e-7)
    assert (scores <= bounds + 1e-6).all()


def test_one_label_per_skill_aggregates_to_its_score():
    from modeling_contextmatch import aggregate_label_scores

    scores = torch.randn(3, 5)
    table = torch.arange(5).unsqueeze(1)
    for weight, temperature in [(0.3, None), (0.0, 0.1)]:
        assert torch.equal(aggregate_label_scores(scores, table, weight, temperature), scores)


def test_mix_is_monotone_and_softmax_stays_in_the_label_range():
    from modeling_contextmatch import aggregate_label_scores

    gen = torch.Generator().manual_seed(3)
    table = torch.tensor([[0, 1, 2, -1], [3, 4, 5, 6]])
    low = torch.rand(200, 7, generator=gen) * 2 - 1
    high = low + torch.rand(200, 7, generator=gen) * (torch.rand(200, 7, generator=gen) < 0.3)  # some labels rise
    for weight in (0.0, 0.25, 0.5, 1.0):
        assert (aggregate_label_scores(low, table, weight) <= aggregate_label_scores(high, table, weight)).all()
    soft = aggregate_label_scores(low, table, temperature=0.1)
    padded = low[:, table.clamp(min=0)].masked_fill(table < 0, float("nan"))
    assert (soft >= padded.nan_to_num(2.0).amin(-1) - 1e-6).all()
    assert (soft <= padded.nan_to_num(-2.0).amax(-1) + 1e-6).all()
