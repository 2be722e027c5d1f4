"""The skill extraction pipeline: job-ad text -> sentences -> ranked ESCO skills with token evidence."""

from __future__ import annotations

import sys
from typing import Iterator, Sequence

import torch
from tqdm.auto import tqdm

from ..cache import label_matrix, skill_matrix
from ..esco import DEFAULT_ESCO_VERSION, load_esco
from ..models import load_model
from ..runtime import configure_threads, ordered_map
from ..text import clean_text, split_sentences
from .evidence import _evidence, _word_spans, _word_weights, special_tokens, token_windows, window_inputs, _Window
from .labels import DEFAULT_AGGREGATION, DEFAULT_SKILL_LABELS, SKILL_LABEL_MODES, label_table, parse_aggregation
from .quantize import encoder_name, resolve_quantize, sentence_encoder
from .results import AdSkill, Alternative, Extraction, SentenceResult, SkillMatch
from .selection import Forest, Redundancy, SelectionRule, SkillFeatures
from .topk import (OUTSIDE_POOL, bound_dtype, bound_rows, candidate_skill_scores, label_topk, pool_members,
                   pool_ranking, pooled_label_topk, unit_rows)

from modeling_contextmatch import context_relevance, sentence_context


DEFAULT_TOP_K = 5
SCORING_MODES = ("bound", "full")
DECISION_CHUNK = 4096  # sentences ranked before their candidates are decided and the rest dropped
CONTEXT_DEPTH = 5  # the gate's second step reads a sentence's best and fifth-best scores


class SkillExtractor:
    """Ranks the ESCO skills of each sentence of job ads with a ConTeXT-match model.

    Args:
        model: a model folder, a base name (``all-MiniLM-L6-v2``, ``all-mpnet-base-v2``), a hub id, or ``None`` for
            the default model; or an already loaded ``(model, tokenizer)`` pair.
        esco_version: the ESCO taxonomy whose skills are ranked.
        top_k: most skills reported per sentence.
        threshold: least score reported; ``None`` takes the model's ``config.score_threshold``, which is tuned on a
            validation split for each shipped model.
        batch_size: sentence windows encoded at once (windows are sorted by token length into batches).
        quantize: ``None`` (float32, the reference the evaluation harness measures), ``"int8"``, ``"bf16"``, or
            ``"auto"`` (the CLI's default: int8 where it runs, else float32): the precision of the sentence encoder
            (:mod:`contextmatch.skills.quantize`); skill embeddings stay float32. ``encoder_name`` says what runs.
        backend: ``"torch"`` (default) or ``"onnx"``: ONNX Runtime for the sentence encoder, float32 or int8
            (needs ``pip install "contextmatch[onnx]"``; exported once per model into the user cache).
        threads: torch CPU threads (default: the cores this process may use, see :mod:`contextmatch.runtime`).
        scoring: ``"bound"`` (default) finds each sentence's exact top-k with a cosine bound and scores only the
            candidates (:mod:`contextmatch.skills.topk`); ``"full"`` scores every skill first. Both give the same
            skills.
        gate: skip sentences the model's relevance gate rejects (when the model has one; ``False`` reports every
            sentence's skills, the relevance is still shown).
        grouping: report skills that name the same thing as one group with ``alternatives``
            (:mod:`contextmatch.skills.selection`).
        margin: keep a skill only within this distance of its sentence's best score (default: the model's
            ``config.score_margin``).
        skill_labels: ``"preferred"`` scores each skill by its preferred label; ``"all"`` scores every ESCO label
            of the skill (preferred and alternative, :mod:`contextmatch.skills.labels`) and aggregates them.
        label_aggregation: how ``"all"`` aggregates a skill's label scores: ``mix:W`` (W times the preferred
            label's score plus 1 - W times the best label's), ``max`` or ``softmax:T``.
        label_pool: with ``"all"``, rank the skills by their preferred label first and score every label of only
            the best ``label_pool`` of them (:func:`contextmatch.skills.topk.pooled_label_topk`: close to the exact
            ranking at the cost of the preferred-label one); ``None`` (default) ranks exactly over every label.
    """

    def __init__(self, model=None, esco_version: str = DEFAULT_ESCO_VERSION, top_k: int = DEFAULT_TOP_K,
                 threshold: float | None = None, batch_size: int = 32, device: str | None = None,
                 quantize: str | None = None, backend: str = "torch", threads: int | None = None,
                 scoring: str = "bound", gate: bool = True, grouping: bool = True, margin: float | None = None,
                 skill_labels: str = DEFAULT_SKILL_LABELS, label_aggregation: str = DEFAULT_AGGREGATION,
                 label_pool: int | None = None):
        if scoring not in SCORING_MODES:
            raise ValueError(f"unknown scoring {scoring!r}: choose one of {', '.join(SCORING_MODES)}")
        if skill_labels not in SKILL_LABEL_MODES:
            raise ValueError(f"unknown skill_labels {skill_labels!r}: choose one of {', '.join(SKILL_LABEL_MODES)}")
        if label_pool is not None and (skill_labels != "all" or label_pool < 1):
            raise ValueError(f"label_pool={label_pool!r} needs skill_labels='all' and a positive number of skills")
        self.label_weight, self.label_temperature = parse_aggregation(label_aggregation)
        self.label_pool = label_pool
        self.model, self.tokenizer = model if isinstance(model, tuple) else load_model(model, device)
        if self.model.device.type == "cpu":
            configure_threads(threads)
        self.esco = load_esco(esco_version)
        self.skills = self.esco.skills
        self.top_k = top_k
        self.threshold = self.model.config.score_threshold if threshold is None else threshold
        self.batch_size = batch_size
        self.skill_embeddings = skill_matrix(self.model, self.tokenizer, self.esco.skill_labels, esco_version).to(
            self.model.device
        )
        self.scoring = scoring
        self.skill_label_mode, self.label_aggregation = skill_labels, label_aggregation
        if skill_labels == "all":  # label_embeddings (labels, dim); skill_labels (skills, n): rows of each skill
            table = label_table(self.skills)
            self.labels = table.labels
            # a pool encodes the alternative labels it needs on first use, unless every label is cached already
            matrix, self._unencoded = label_matrix(self.model, self.tokenizer, table, esco_version,
                                                   encode_alternatives=label_pool is None)
            self.label_embeddings = matrix.to(self.model.device)
            self.skill_labels = table.skill_labels().to(self.model.device)
        else:
            self.labels, self.label_embeddings = self.esco.skill_labels, self.skill_embeddings
            self.skill_labels = torch.arange(len(self.skills), device=self.model.device).unsqueeze(1)
            self._unencoded = None
        unit = unit_rows(self.skill_embeddings)
        self.unit_skills = unit.to(bound_dtype(self.model.device))  # for grouping
        # the cosine bound's rows (contextmatch.skills.topk.bound_rows): int8 or bfloat16, whichever is faster here
        self.bound_skills = bound_rows(unit)
        exact_labels = skill_labels == "all" and label_pool is None  # only the exact all-label bound reads them
        self.bound_labels = bound_rows(unit_rows(self.label_embeddings)) if exact_labels else self.bound_skills
        self.quantize, self.backend = resolve_quantize(quantize, backend, self.model.device.type), backend
        self.encoder_name = encoder_name(self.quantize, backend)
        self.encoder = sentence_encoder(self.model, self.quantize, backend)  # the model's encoder unless quantized
        self._template = special_tokens(self.tokenizer)
        config = self.model.config
        self.gate = gate and getattr(config, "gate_threshold", None) is not None
        self.margin = getattr(config, "score_margin", 2.0) if margin is None else margin
        self.grouping = grouping
        self._redundancy = None
        self._skill_features = None
        self._trees = None
        self._threshold_given = threshold is not None
        self._skill_index = {skill.uri: i for i, skill in enumerate(self.skills)}

    # ---- public API -------------------------------------------------------------------------------------------

    def extract(self, text: str, top_k: int | None = None, threshold: float | None = None) -> Extraction:
        """Skills of one job ad (plain text, bullet list, Markdown or HTML)."""
        return self.extract_many([text], top_k, threshold)[0]

    def extract_many(self, texts: Sequence[str], top_k: int | None = None, threshold: float | None = None,
                     progress: bool = False) -> list[Extraction]:
        """Skills of several ads; their sentences are batched together."""
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"job-ad text must be str, got {type(text).__name__}")
        cleaned = [clean_text(text) for text in texts]
        return self._extract_spans(cleaned, [split_sentences(text) for text in cleaned], top_k, threshold, progress)

    def extract_sentences(self, ads: Sequence[Sequence[str]], top_k: int | None = None,
                          threshold: float | None = None, progress: bool = False) -> list[Extraction]:
        """Skills of ads given as lists of sentences, taken as they are (no cleaning or splitting): for benchmarks
        and for callers with their own sentence splitter. An ad's ``text`` is its sentences joined by newlines."""
        texts, spans = [], []
        for sentences in ads:
            ad_spans, position = [], 0
            for sentence in sentences:
                if not isinstance(sentence, str):
                    raise TypeError(f"sentences must be str, got {type(sentence).__name__}")
                ad_spans.append((position, position + len(sentence)))
                position += len(sentence) + 1
            texts.append("\n".join(sentences))
            spans.append(ad_spans)
        return self._extract_spans(texts, spans, top_k, threshold, progress)

    def rule(self, threshold: float | None = None) -> SelectionRule:
        """The decision layer in force: the model's calibrated selection (unless a threshold is given here or to
        the constructor, which then decides alone), margin, gate cut-off and grouping."""
        config = self.model.config
        explicit = threshold is not None or self._threshold_given
        weights = None if explicit else getattr(config, "selection_weights", None)
        trees = None if explicit else self._forest()
        floor = -1.0 if weights or trees else self.threshold if threshold is None else threshold  # scores >= -1
        return SelectionRule(floor, self.margin,
                             config.gate_threshold if self.gate else None,
                             getattr(config, "group_similarity", None) if self.grouping else None,
                             tuple(weights) if weights else None, getattr(config, "selection_cutoff", 0.5),
                             getattr(config, "group_relations", True), trees)

    def _forest(self) -> Forest | None:
        """The config's ``selection_trees`` as a :class:`Forest` (parsed once), or ``None``."""
        spec = getattr(self.model.config, "selection_trees", None)
        if spec and (self._trees is None or self._trees[0] is not spec):
            self._trees = (spec, Forest(spec))
        return self._trees[1] if spec else None

    def candidates(self, top_k: int) -> int:
        """Skills ranked per sentence before selection: twice ``top_k`` when grouping may fold some together."""
        return 2 * top_k if self.grouping else top_k

    def decide(self, sentence: str, matches: list[SkillMatch], relevance: float | None, rule: SelectionRule,
               top_k: int) -> list[SkillMatch]:
        """The reported skills of ``sentence`` from its ranked ``matches``: gate and selection (``rule``), then at
        most ``top_k`` groups of skills that name the same thing, each headed by its best-scored skill."""
        rows = None
        if rule.reads_skills and matches and not rule.skips(relevance):
            rows = self.skill_features.rows(sentence, [self._skill_index[m.uri] for m in matches])
        kept = [matches[i] for i in rule.keeps([m.score for m in matches], relevance, rows)]
        if not self.grouping:
            return kept[:top_k]
        index = [self._skill_index[m.uri] for m in kept]
        heads = []
        for group in self.redundancy.group(index)[:top_k]:
            head = kept[group[0]]
            head.alternatives = [Alternative(kept[i].uri, kept[i].label, kept[i].score) for i in group[1:]]
            heads.append(head)
        return heads

    @property
    def skill_features(self) -> SkillFeatures:
        """What the calibrated selection reads of each ranked skill (built on first use)."""
        if self._skill_features is None:
            self._skill_features = SkillFeatures(self.esco)
        return self._skill_features

    @property
    def redundancy(self) -> Redundancy:
        """Which skills name the same thing (built on first use)."""
        if self._redundancy is None:
            config = self.model.config
            self._redundancy = Redundancy(self.esco, self.unit_skills, getattr(config, "group_similarity", None),
                                          getattr(config, "group_relations", True))
        return self._redundancy

    def _extract_spans(self, texts: list[str], spans: list[list[tuple[int, int]]], top_k: int | None,
                       threshold: float | None, progress: bool) -> list[Extraction]:
        top_k = self.top_k if top_k is None else top_k
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        rule = self.rule(threshold)
        flat = [text[a:b] for text, ad_spans in zip(texts, spans) for a, b in ad_spans]
        ad_of = [n for n, ad_spans in enumerate(spans) for _ in ad_spans]
        context = getattr(self.model.config, "gate_context", None)
        depth = self.candidates(top_k)
        ranked = max(depth, CONTEXT_DEPTH) if context else depth  # the gate's second step reads the 5th score
        first: list[float | None] = [None] * len(flat)  # the gate's first step, sentence by sentence
        relevance: list[float | None] = [None] * len(flat)
        decided: list[list[SkillMatch]] = []
        for start in range(0, len(flat), DECISION_CHUNK):  # candidates are decided a chunk at a time: flat memory
            end = min(start + DECISION_CHUNK, len(flat))
            stop = min(end + 1, len(flat)) if context else end  # one more: the next sentence's first step
            part = first[start:stop]
            matches = self._match_sentences(flat[start:stop], ranked, progress, part)
            first[start:stop] = part
            for i in range(start, end):
                found = matches[i - start]
                relevance[i] = first[i] if not context or first[i] is None else self._in_context(i, first, ad_of,
                                                                                                 flat[i], found)
                decided.append(self.decide(flat[i], found[:depth], relevance[i], rule, top_k))
        results, position = [], 0
        for text, ad_spans in zip(texts, spans):
            sentences = []
            for index, (a, b) in enumerate(ad_spans):
                score = relevance[position + index]
                sentences.append(SentenceResult(index, a, b, text[a:b], decided[position + index], score))
            position += len(ad_spans)
            results.append(Extraction(text, sentences, self._summarise(sentences)))
        return results

    def _in_context(self, i: int, first: list, ad_of: list[int], sentence: str, found: list[SkillMatch]) -> float:
        """The gate's second step for flat sentence ``i``: its first-step relevance beside its neighbours' in the
        same ad, its length, a heading's colon and its best and fifth-best scores
        (``modeling_contextmatch.sentence_context``)."""
        scores = [m.score for m in found[:CONTEXT_DEPTH]] or [0.0]
        features = sentence_context(first, ad_of, i, sentence, scores[0], scores[-1])
        return context_relevance(features, self.model.config.gate_context)

    def score_sentences(self, sentences: Sequence[str], progress: bool = False) -> torch.Tensor:
        """Scores (sentences, skills) of every ESCO skill, for ranking and evaluation (a long sentence takes the
        best score over its windows). With a ``label_pool``, the skills outside a window's pool rank after it
        (:func:`contextmatch.skills.topk.pool_ranking`), as :meth:`extract` never reports them."""
        lowest = -2.0 - (OUTSIDE_POOL if self.label_pool else 0.0)
        scores = torch.full((len(sentences), len(self.skills)), lowest)
        for windows, tokens, mask, _ in self._encoded_batches(sentences, progress):
            if self.label_pool is None:
                batch_scores = self.model.score_skills(tokens, mask, self.label_embeddings, self.skill_labels,
                                                       self.label_weight, self.label_temperature)
            else:
                batch_scores = self._pooled_scores(tokens, mask)
            for window, row in zip(windows, batch_scores):
                scores[window.sentence] = torch.maximum(scores[window.sentence], row.cpu())
        return scores

    # ---- internals ----------------------------------------------------------------------------------------------

    def _pooled_scores(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Every skill's score under :attr:`label_pool` (see :meth:`score_sentences`)."""
        preferred = self.model.score(tokens, mask, self.skill_embeddings)
        members = preferred.topk(min(self.label_pool, preferred.shape[1]), dim=1).indices
        self._encode_pool(members)
        pooled, _, _ = candidate_skill_scores(tokens, self._scoring_mask(mask), self.label_embeddings,
                                              self.skill_labels, members, self.model.config.attn_temperature,
                                              self.label_weight, self.label_temperature)
        return pool_ranking(preferred, members, pooled)

    def _encode_pool(self, members: torch.Tensor) -> None:
        """Encode the alternative labels of the pool's skills (``members``) that are not encoded yet."""
        if self._unencoded is None:
            return
        rows = self.skill_labels[members.unique()].flatten().cpu()
        rows = rows[rows >= 0]
        rows = rows[self._unencoded[rows]]
        if len(rows):
            vectors = self.model.embed_skill_labels(self.tokenizer, [self.labels[i] for i in rows.tolist()])
            self.label_embeddings[rows.to(self.label_embeddings.device)] = vectors.to(self.label_embeddings)
            self._unencoded[rows] = False

    def _all_windows(self, sentences: Sequence[str]) -> list[_Window]:
        """The windows of every sentence, tokenized in one call: their word pieces are the encoder's input."""
        if not sentences:
            return []
        encoded = self.tokenizer(list(sentences), add_special_tokens=False, return_offsets_mapping=True)
        return [w for i, (s, ids, o) in enumerate(zip(sentences, encoded["input_ids"], encoded["offset_mapping"]))
                for w in self._windows(i, s, ids, o)]

    def _windows(self, index: int, sentence: str, ids: list[int], offsets: list) -> list[_Window]:
        """Split a sentence longer than the encoder's window into overlapping windows that start at word starts."""
        budget = self.model.config.max_sentence_length - sum(map(len, self._template))
        return [_Window(index, a, sentence[a:b], n, tuple(ids[first : first + n]),
                        tuple((s - a, e - a) for s, e in offsets[first : first + n]))
                for a, b, first, n in token_windows(sentence, offsets, budget)]

    @staticmethod
    def _batch_order(windows: list[_Window]) -> list[int]:
        """Length buckets: windows sorted by token count, so a batch pads little. A window's scores do not depend
        on its batch, so the order changes speed only."""
        return sorted(range(len(windows)), key=lambda i: windows[i].length)

    def _batches(self, sentences: Sequence[str]) -> list[list[_Window]]:
        """The windows of ``sentences`` in length-bucketed batches of :attr:`batch_size`."""
        windows = self._all_windows(sentences)
        order = self._batch_order(windows)
        return [[windows[i] for i in order[start : start + self.batch_size]]
                for start in range(0, len(order), self.batch_size)]

    def _encode(self, batch: list[_Window]) -> tuple[torch.Tensor, torch.Tensor, list]:
        """Token embeddings, mask and offsets of one batch of windows."""
        ids, mask, offsets = window_inputs(batch, *self._template, self.tokenizer.pad_token_id)
        mask = mask.to(self.model.device)
        return self.encoder(ids.to(self.model.device), mask), mask, offsets

    def _encoded_batches(self, sentences: Sequence[str], progress: bool) -> Iterator:
        """Encode windows in length-bucketed batches: yields (windows, token embeddings, mask, offsets)."""
        batches = self._batches(sentences)
        with torch.inference_mode(), self._progress(batches, progress) as bar:
            for batch in batches:
                yield batch, *self._encode(batch)
                bar.update(len(batch))

    def _ranked_batches(self, sentences: Sequence[str], k: int, relevance: bool, progress: bool) -> Iterator:
        """Rank the windows of ``sentences`` batch by batch: yields (windows, offsets, top-k of
        :meth:`_top_skills`, the gate's relevance or ``None``). On CPU with torch on several threads, the batches
        run that many at a time, one thread each (:func:`contextmatch.runtime.ordered_map`); the results are the
        same."""
        batches = self._batches(sentences)

        def rank(batch: list[_Window]):
            with torch.inference_mode():
                tokens, mask, offsets = self._encode(batch)
                return offsets, self._top_skills(tokens, mask, k), \
                    self.model.relevance(tokens, mask) if relevance else None

        with self._progress(batches, progress) as bar:
            for batch, ranked in zip(batches, ordered_map(rank, batches, self._batch_workers(len(batches)))):
                yield batch, *ranked
                bar.update(len(batch))

    def _batch_workers(self, batches: int) -> int:
        """Batches ranked at once: torch's CPU threads, one each, where ranking a batch changes no shared state
        (a label pool encodes labels on first use; ONNX Runtime keeps its own threads)."""
        if self.model.device.type != "cpu" or self.backend != "torch" or self.label_pool is not None:
            return 1
        return max(1, min(torch.get_num_threads(), batches))

    def _progress(self, batches: list[list[_Window]], progress: bool) -> tqdm:
        windows = sum(map(len, batches))
        return tqdm(total=windows, desc="Scoring sentences", unit="sent", file=sys.stderr,
                    disable=not progress or windows < 2 * self.batch_size)

    def _top_skills(self, tokens: torch.Tensor, mask: torch.Tensor, k: int):
        """Exact top-k skills of each window: scores, indices (batch, k), attention (batch, tokens, k) of each
        skill's best-scored label, and that label's index into :attr:`labels` (batch, k)."""
        temperature, scoring_mask = self.model.config.attn_temperature, self._scoring_mask(mask)
        if self.label_pool is not None:  # the pool step is exact whatever the scoring mode
            members = pool_members(tokens, scoring_mask, self.skill_embeddings, k, self.label_pool, temperature,
                                   self.bound_skills)
            self._encode_pool(members)
            return pooled_label_topk(tokens, scoring_mask, self.label_embeddings, self.skill_labels, k,
                                     self.label_pool, temperature, self.bound_skills, self.label_weight,
                                     self.label_temperature, members)
        if self.scoring == "full":
            top = self.model.score_skills(tokens, mask, self.label_embeddings, self.skill_labels, self.label_weight,
                                          self.label_temperature).topk(k, dim=1)
            _, labels, alpha = candidate_skill_scores(tokens, scoring_mask, self.label_embeddings, self.skill_labels,
                                                      top.indices, temperature, self.label_weight,
                                                      self.label_temperature)
            return top.values, top.indices, alpha, labels
        return label_topk(tokens, scoring_mask, self.label_embeddings, self.skill_labels, k, temperature,
                          self.bound_labels, None, self.label_weight, self.label_temperature)

    def _scoring_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """The tokens that take part in the attention: the model's special-token policy, where it has one."""
        policy = getattr(self.model, "scoring_mask", None)
        return policy(mask) if callable(policy) else mask

    def _match_sentences(self, sentences: Sequence[str], top_k: int, progress: bool,
                         relevance: list | None = None) -> list[list[SkillMatch]]:
        """Top-k skills with evidence for each sentence (best window per skill); fills ``relevance`` (one slot per
        sentence) with the gate's probability, the highest over a sentence's windows."""
        best: list[dict[int, SkillMatch]] = [{} for _ in sentences]
        k = min(top_k, len(self.skills))
        for windows, offsets, top, scores in self._ranked_batches(sentences, k, relevance is not None, progress):
            values, indices, alpha, labels = top
            self._record_relevance(windows, scores, relevance)
            spans = [_word_spans(window.text, row) for window, row in zip(windows, offsets)]  # once a window
            weights = _word_weights(alpha, [token_words for _, token_words in spans], max(len(w) for w, _ in spans))
            values, indices, labels = values.tolist(), indices.tolist(), labels.tolist()
            for row, window in enumerate(windows):
                for col in range(k):
                    skill_index, score = indices[row][col], values[row][col]
                    current = best[window.sentence].get(skill_index)
                    if current is None or score > current.score:
                        skill = self.skills[skill_index]
                        evidence = _evidence(window, spans[row][0], weights[row][col])
                        matched = self.labels[labels[row][col]]
                        best[window.sentence][skill_index] = SkillMatch(
                            skill.uri, skill.label, score, evidence,
                            matched_label=matched if matched != skill.label else None)
        return [sorted(found.values(), key=lambda m: -m.score)[:top_k] for found in best]

    @staticmethod
    def _record_relevance(windows, scores: torch.Tensor | None, relevance: list | None) -> None:
        """Each sentence's relevance: the highest of its windows' gate probabilities ``scores`` (``None`` when
        ``relevance`` is not wanted)."""
        if scores is not None:
            for window, score in zip(windows, scores.tolist()):
                current = relevance[window.sentence]
                relevance[window.sentence] = score if current is None else max(current, score)

    def _summarise(self, sentences: list[SentenceResult]) -> list[AdSkill]:
        """The ad's groups, best first: each reported skill once, then (with grouping) skills that name the same
        thing folded into the best-scored one; sets each sentence skill's ``group``."""
        summary: dict[str, AdSkill] = {}
        for sentence in sentences:
            for match in sentence.skills:
                entry = summary.get(match.uri)
                if entry is None:
                    skill_type = self.esco.skill_by_uri[match.uri].skill_type
                    entry = summary[match.uri] = AdSkill(match.uri, match.label, skill_type, match.score, [])
                entry.score = max(entry.score, match.score)
                entry.sentences.append(sentence.index)
                entry.alternatives.extend(match.alternatives)
        ranked = sorted(summary.values(), key=lambda s: -s.score)
        index = [self._skill_index[s.uri] for s in ranked]
        groups = self.redundancy.group(index) if self.grouping else [[i] for i in range(len(ranked))]
        out, group_of = [], {}
        for number, group in enumerate(groups):
            head = ranked[group[0]]
            members = [Alternative(ranked[i].uri, ranked[i].label, ranked[i].score) for i in group[1:]]
            best: dict[str, Alternative] = {}
            for alt in [*members, *(a for i in group for a in ranked[i].alternatives)]:
                if alt.uri != head.uri and (alt.uri not in best or alt.score > best[alt.uri].score):
                    best[alt.uri] = alt
            head.alternatives = sorted(best.values(), key=lambda a: -a.score)
            head.sentences = sorted({n for i in group for n in ranked[i].sentences})
            group_of.update({ranked[i].uri: number for i in group})
            out.append(head)
        for sentence in sentences:
            for match in sentence.skills:
                match.group = group_of[match.uri]
        return out
