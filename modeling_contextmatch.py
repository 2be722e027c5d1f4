"""ConTeXT-match: a bi-encoder with a token-attention head (remote code: depends only on torch and transformers).

For a sentence with token embeddings x_1..x_L and a skill with mean-pooled label embedding e (neither normalised):

    a_j = x_j . e                 alpha = softmax_j(a_j / T) over real tokens
    score = sum_j alpha_j * cos(x_j, e)        (a convex mix of cosines, in [-1, 1])

Since cos(x_j, e) = a_j / (|x_j| |e|), one matrix product gives both the logits and the cosines.
"""

import math

import torch
from torch import nn
from transformers import AutoModel, PretrainedConfig, PreTrainedModel

try:  # loaded as remote code from a model folder
    from .configuration_contextmatch import ContextMatchConfig
except ImportError:  # imported from the repository root
    from configuration_contextmatch import ContextMatchConfig

EPS = 1e-8


def mean_pool(token_embeddings, attention_mask):
    """Mean of the token embeddings over non-padding positions.

    >>> x = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]]])
    >>> mean_pool(x, torch.tensor([[1, 1, 0]]))
    tensor([[2., 3.]])
    """
    mask = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)
    return (token_embeddings * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def token_attention(logits, attention_mask, temperature=1.0):
    """Softmax of ``logits / temperature`` over the token axis (dim 1), padding masked out.

    ``logits`` is (batch, tokens) or (batch, tokens, skills); ``attention_mask`` is (batch, tokens).

    >>> token_attention(torch.tensor([[2.0, 0.0, 5.0]]), torch.tensor([[1, 1, 0]])).round(decimals=4)
    tensor([[0.8808, 0.1192, 0.0000]])
    """
    mask = attention_mask.bool()
    if logits.dim() == 3:
        mask = mask.unsqueeze(-1)
    return torch.softmax((logits / temperature).masked_fill(~mask, float("-inf")), dim=1)


def without_special_tokens(attention_mask):
    """The attention mask without each row's first and last real token (CLS and SEP with right padding);
    rows with fewer than three real tokens are kept whole, so no sentence is left without tokens.

    >>> without_special_tokens(torch.tensor([[1, 1, 1, 1, 0], [1, 1, 0, 0, 0]])).tolist()
    [[0, 1, 1, 0, 0], [1, 1, 0, 0, 0]]
    """
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    last = (attention_mask.bool() * positions).argmax(dim=1, keepdim=True)
    inner = attention_mask.bool() & (positions > 0) & (positions != last)
    keep_whole = attention_mask.bool().sum(1, keepdim=True) < 3
    return torch.where(keep_whole, attention_mask.bool(), inner).to(attention_mask.dtype)


def contextmatch_scores(token_embeddings, attention_mask, skill_embeddings, temperature=1.0, skill_chunk=1024):
    """ConTeXT scores of every sentence against every skill: (batch, tokens, dim) x (skills, dim) -> (batch, skills).

    Skills are processed ``skill_chunk`` at a time, so at most batch x tokens x skill_chunk logits exist at once.

    Hand-computed example: tokens x1 = (1, 0), x2 = (0, 1) and skill e = (2, 0) give logits a = (2, 0),
    alpha = softmax(2, 0) = (0.8808, 0.1192), cosines (1, 0), so the score is 0.8808:

    >>> x = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    >>> contextmatch_scores(x, torch.tensor([[1, 1]]), torch.tensor([[2.0, 0.0]])).round(decimals=4)
    tensor([[0.8808]])
    """
    x = token_embeddings.float()
    token_norms = x.norm(dim=-1).clamp(min=EPS).unsqueeze(-1)  # (B, L, 1)
    chunks = []
    for start in range(0, skill_embeddings.shape[0], skill_chunk):
        e = skill_embeddings[start : start + skill_chunk].float()
        logits = torch.einsum("bld,kd->blk", x, e)  # (B, L, k)
        alpha = token_attention(logits, attention_mask, temperature)
        cosines = logits / token_norms / e.norm(dim=-1).clamp(min=EPS)
        chunks.append((alpha * cosines).sum(dim=1))
    if not chunks:
        return x.new_zeros((x.shape[0], 0))
    return torch.cat(chunks, dim=1)


def aggregate_label_scores(label_scores, skill_labels, weight=0.5, temperature=None):
    """Skill scores (batch, skills) from label scores (batch, labels), for skills with several labels.

    ``skill_labels`` (skills, n) lists each skill's label columns, its preferred label first, padded with -1.
    Default: ``weight * preferred + (1 - weight) * best label`` (weight 1: preferred label only; 0: best label).
    With a ``temperature``, the softmax-weighted mean of the skill's label scores instead (weights
    softmax(score / temperature) over its labels). Both are convex mixes of the skill's label scores.

    Skill 0 has labels 0 and 2, skill 1 label 1 only:

    >>> scores, table = torch.tensor([[0.2, 0.5, 0.6]]), torch.tensor([[0, 2], [1, -1]])
    >>> aggregate_label_scores(scores, table)
    tensor([[0.4000, 0.5000]])
    >>> aggregate_label_scores(scores, table, temperature=0.1).round(decimals=4)
    tensor([[0.5928, 0.5000]])
    """
    if skill_labels.shape[-1] == 1:  # one label per skill: its score, whatever the aggregation
        return label_scores[:, skill_labels[:, 0]]
    padded = label_scores[:, skill_labels.clamp(min=0)].masked_fill(skill_labels < 0, float("-inf"))
    best = padded.amax(dim=-1)
    if temperature is None:
        return weight * padded[..., 0] + (1 - weight) * best
    weights = torch.softmax(padded / temperature, dim=-1)
    return (weights * padded.masked_fill(skill_labels < 0, 0.0)).sum(dim=-1)


def context_features(relevance, previous, following, sentence, best, fifth):
    """Features of the gate's second step for one sentence of an ad: the logits of its own first-step relevance
    and of the sentences before and after it in the same ad (0, even odds, where there is none), log(1 + words),
    whether it ends with a colon (a heading), its best skill score and that minus its fifth best.

    >>> [round(f, 3) for f in context_features(0.5, None, 0.9, "Requirements:", 0.7, 0.6)]
    [0.0, 0.0, 2.197, 0.693, 1.0, 0.7, 0.1]
    """
    logit = lambda p: 0.0 if p is None else math.log(max(p, 1e-6) / max(1.0 - p, 1e-6))
    return [logit(relevance), logit(previous), logit(following), math.log1p(len(sentence.split())),
            float(sentence.rstrip().endswith(":")), best, best - fifth]


def sentence_context(relevance, ads, i, sentence, best, fifth):
    """:func:`context_features` of sentence ``i`` of consecutive sentences whose first-step relevance is
    ``relevance`` and whose ads are ``ads``: a neighbour counts only inside the same ad.

    >>> [round(f, 3) for f in sentence_context([0.9, 0.5, 0.9], ["a", "a", "b"], 1, "Python", 0.7, 0.6)[:3]]
    [0.0, 2.197, 0.0]
    """
    def around(j):
        return relevance[j] if 0 <= j < len(relevance) and ads[j] == ads[i] else None

    return context_features(relevance[i], around(i - 1), around(i + 1), sentence, best, fifth)


def context_relevance(features, weights):
    """The gate's probability after its second step: ``sigmoid(weights . features + bias)`` (bias last).

    >>> round(context_relevance([0.0, 0.0, 2.197, 0.693, 1.0, 0.7, 0.1], [1, 0.3, 0.3, 0.3, -1, 6, -4, -3]), 4)
    0.6608
    """
    *coefficients, bias = weights
    return 1.0 / (1.0 + math.exp(-(sum(w * f for w, f in zip(coefficients, features)) + bias)))


class ContextMatchModel(PreTrainedModel):
    """Encoder plus ConTeXT token-attention head. ``forward`` scores a batch of sentences against skill labels."""

    config_class = ContextMatchConfig
    base_model_prefix = "contextmatch"
    supports_gradient_checkpointing = True

    def __init__(self, config, encoder=None):
        super().__init__(config)
        self.encoder = encoder if encoder is not None else AutoModel.from_config(config.encoder_config())
        self.post_init()

    def _init_weights(self, module):
        self.encoder._init_weights(module)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, config=None, **kwargs):
        """As ``PreTrainedModel.from_pretrained``; when the config names an ``encoder_folder``, the weights are that
        subfolder's, a plain encoder folder (sentence-transformers loads it too); the head has no weights."""
        if not isinstance(config, PretrainedConfig):
            hub = {k: kwargs[k] for k in ("cache_dir", "revision", "token", "local_files_only", "subfolder")
                   if k in kwargs}
            config = cls.config_class.from_pretrained(config or pretrained_model_name_or_path, **hub)
        if not getattr(config, "encoder_folder", None):
            return super().from_pretrained(pretrained_model_name_or_path, *args, config=config, **kwargs)
        subfolder = "/".join(filter(None, (kwargs.pop("subfolder", ""), config.encoder_folder)))
        encoder = AutoModel.from_pretrained(pretrained_model_name_or_path, *args, subfolder=subfolder, **kwargs)
        config.encoder_folder = None  # save_pretrained writes the usual single-file layout
        return cls(config, encoder=encoder).eval()

    def encode_sentences(self, input_ids, attention_mask, **encoder_kwargs):
        """Last-layer token embeddings (batch, tokens, dim), not normalised."""
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **encoder_kwargs)
        return out.last_hidden_state

    def encode_skills(self, input_ids, attention_mask, **encoder_kwargs):
        """Mean-pooled skill label embeddings (skills, dim), not normalised."""
        return mean_pool(self.encode_sentences(input_ids, attention_mask, **encoder_kwargs), attention_mask)

    def score(self, token_embeddings, attention_mask, skill_embeddings, skill_chunk=1024):
        """ConTeXT scores (batch, skills) of encoded sentences against a skill matrix, in memory-bounded chunks."""
        return contextmatch_scores(
            token_embeddings, self.scoring_mask(attention_mask), skill_embeddings, self.config.attn_temperature,
            skill_chunk,
        )

    def score_skills(self, token_embeddings, attention_mask, label_embeddings, skill_labels, weight=0.5,
                     temperature=None):
        """Skill scores (batch, skills) when each skill has several labels: every label scored
        (``label_embeddings`` (labels, dim)), then aggregated per skill by :func:`aggregate_label_scores`."""
        scores = self.score(token_embeddings, attention_mask, label_embeddings)
        return aggregate_label_scores(scores, skill_labels.to(scores.device), weight, temperature)

    def scoring_mask(self, attention_mask):
        """The tokens that take part in the sentence attention, by the special-token policy of the config."""
        if getattr(self.config, "attend_special_tokens", True):
            return attention_mask
        return without_special_tokens(attention_mask)

    def relevance(self, token_embeddings, attention_mask):
        """The gate: probability (batch,) that each sentence states a skill, knowledge or requirement, from its unit
        mean-pooled token embeddings; ``None`` when the config has no gate."""
        if not self.config.gate_weights:
            return None
        pooled = nn.functional.normalize(mean_pool(token_embeddings.float(), attention_mask), dim=-1)
        weights = torch.tensor(self.config.gate_weights, device=pooled.device)
        return torch.sigmoid(pooled @ weights + self.config.gate_bias)

    def ad_relevance(self, relevance, sentences, best_scores, fifth_scores):
        """The gate's second step over one ad's consecutive sentences: their first-step ``relevance`` (from
        :meth:`relevance`), texts, best and fifth-best skill scores -> probabilities (list); unchanged when the
        config has no ``gate_context``."""
        if not self.config.gate_context:
            return list(relevance)
        ads = [0] * len(relevance)
        return [context_relevance(sentence_context(relevance, ads, i, sentences[i], best_scores[i], fifth_scores[i]),
                                  self.config.gate_context) for i in range(len(relevance))]

    def attention_weights(self, token_embeddings, attention_mask, skill_embeddings):
        """The evidence: alpha (batch, tokens, skills) of each sentence token for each given skill.

        ``skill_embeddings`` is (skills, dim), shared by the batch, or (batch, skills, dim), one set per sentence.
        """
        skills = skill_embeddings.float()
        if skills.dim() == 2:
            skills = skills.unsqueeze(0).expand(token_embeddings.shape[0], -1, -1)
        logits = torch.einsum("bld,bkd->blk", token_embeddings.float(), skills)
        return token_attention(logits, self.scoring_mask(attention_mask), self.config.attn_temperature)

    def forward(self, input_ids, attention_mask, skill_input_ids, skill_attention_mask, **kwargs):
        """Score matrix (sentences, skills) for training: every sentence against every skill label given."""
        tokens = self.encode_sentences(input_ids, attention_mask)
        skills = self.encode_skills(skill_input_ids, skill_attention_mask)
        return self.score(tokens, attention_mask, skills)

    def _batches(self, tokenizer, texts, max_length, batch_size):
        for start in range(0, len(texts), batch_size):
            yield tokenizer(list(texts[start : start + batch_size]), padding=True, truncation=True,
                            max_length=max_length, return_tensors="pt").to(self.device)

    @torch.no_grad()
    def embed_skill_labels(self, tokenizer, labels, batch_size=256):
        """Encode skill label strings with ``tokenizer`` into a (skills, dim) float32 matrix."""
        parts = [self.encode_skills(b["input_ids"], b["attention_mask"]).float()
                 for b in self._batches(tokenizer, labels, self.config.max_skill_length, batch_size)]
        return torch.cat(parts) if parts else torch.zeros((0, self.encoder.config.hidden_size))

    @torch.no_grad()
    def score_sentences(self, tokenizer, sentences, skill_embeddings, batch_size=32):
        """ConTeXT scores (sentences, skills) of sentence strings against a skill matrix (truncating long ones)."""
        skills = skill_embeddings.to(self.device)
        parts = [self.score(self.encode_sentences(b["input_ids"], b["attention_mask"]), b["attention_mask"], skills)
                 for b in self._batches(tokenizer, sentences, self.config.max_sentence_length, batch_size)]
        return torch.cat(parts) if parts else torch.zeros((0, skill_embeddings.shape[0]))
