"""Token evidence: the words of a sentence that carry a skill's attention, and the token windows long sentences are
scored in."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .results import Evidence


EVIDENCE_MIN_WEIGHT = 0.1  # words carrying less attention than this are not listed as evidence
EVIDENCE_MAX_WORDS = 5


@dataclass
class _Window:
    sentence: int  # index into the flat sentence list
    base: int  # character offset of the window in its sentence
    text: str
    length: int = 0  # word-piece tokens, without special tokens
    ids: tuple = ()  # their token ids
    offsets: tuple = ()  # their (start, end) characters in ``text``


def token_windows(sentence: str, offsets: list, budget: int) -> list[tuple[int, int, int, int]]:
    """(start, end, first token, tokens) of the windows of a sentence whose word pieces have character ``offsets``: the whole
    sentence when it has at most ``budget`` pieces, else windows of at most ``budget`` pieces that start at word
    starts, end before one where they can, and overlap by about a quarter.

    >>> text = "aa bb cc dd ee"
    >>> offsets = [(0, 2), (3, 5), (6, 8), (9, 11), (12, 14)]
    >>> token_windows(text, offsets, 8)
    [(0, 14, 0, 5)]
    >>> token_windows(text, offsets, 4)
    [(0, 11, 0, 4), (9, 14, 3, 2)]
    """
    if len(offsets) <= budget:
        return [(0, len(sentence), 0, len(offsets))]

    def word_start(i: int) -> bool:
        start = offsets[i][0]
        return start == 0 or sentence[start - 1].isspace()

    windows, first = [], 0
    while True:
        end = min(first + budget, len(offsets))
        if end < len(offsets):
            cut = end
            while cut > first + budget // 2 and not word_start(cut):
                cut -= 1
            end = cut if cut > first + budget // 2 else end
        windows.append((offsets[first][0], offsets[end - 1][1], first, end - first))
        if end >= len(offsets):
            return windows
        following = max(first + 1, end - budget // 4)  # a quarter of a window overlaps the previous one
        while following < end and not word_start(following):
            following += 1
        first = following


def special_tokens(tokenizer) -> tuple[list[int], list[int]]:
    """The special token ids a tokenizer puts before and after a sentence (``[CLS]`` and ``[SEP]`` for BERT)."""
    content = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    start = next(i for i in range(len(full)) if full[i : i + len(content)] == content)
    return full[:start], full[start + len(content) :]


def window_inputs(windows: list[_Window], prefix: list[int], suffix: list[int], pad_id: int
                  ) -> tuple[torch.Tensor, torch.Tensor, list[list[tuple[int, int]]]]:
    """Input ids and attention mask (batch, tokens) of ``windows`` from their word pieces, between the tokenizer's
    ``prefix`` and ``suffix`` special tokens and padded on the right with ``pad_id``, and each row's character
    offsets in its window (``(0, 0)`` for special tokens and padding): the sentences are tokenized once.

    >>> pieces = [_Window(0, 0, "ab c", 2, (7, 8), ((0, 2), (3, 4))), _Window(1, 0, "d", 1, (9,), ((0, 1),))]
    >>> ids, mask, offsets = window_inputs(pieces, [101], [102], 0)
    >>> ids.tolist(), mask.tolist(), offsets[1]
    ([[101, 7, 8, 102], [101, 9, 102, 0]], [[1, 1, 1, 1], [1, 1, 1, 0]], [(0, 0), (0, 1), (0, 0), (0, 0)])
    """
    width = len(prefix) + len(suffix) + max(len(w.ids) for w in windows)
    ids, mask, offsets = [], [], []
    for w in windows:
        row = [*prefix, *w.ids, *suffix]
        pad = width - len(row)
        ids.append(row + [pad_id] * pad)
        mask.append([1] * len(row) + [0] * pad)
        offsets.append([(0, 0)] * len(prefix) + list(w.offsets) + [(0, 0)] * (len(suffix) + pad))
    return torch.tensor(ids), torch.tensor(mask), offsets


def _word_spans(text: str, offsets: list[list[int]]) -> tuple[list[tuple[int, int]], list[int]]:
    """The words of a window's tokens: their (start, end) in ``text``, and each token's word (``-1``: none).

    Word pieces that touch inside a word are one word; special tokens, punctuation and padding are no word.

    >>> _word_spans("PostgreSQL and Go", [[0, 0], [0, 4], [4, 10], [11, 14], [15, 16], [16, 17], [0, 0]])
    ([(0, 10), (11, 14), (15, 17)], [-1, 0, 0, 1, 2, 2, -1])
    """
    words: list[tuple[int, int]] = []
    token_words = []
    for start, end in offsets:
        if end <= start or not any(ch.isalnum() for ch in text[start:end]):
            token_words.append(-1)
            continue
        if words and start == words[-1][1] and text[start].isalnum() and text[start - 1].isalnum():
            words[-1] = (words[-1][0], end)
        else:
            words.append((start, end))
        token_words.append(len(words) - 1)
    return words, token_words


def _word_weights(alpha: torch.Tensor, token_words: list[list[int]], n_words: int) -> list[list[list[float]]]:
    """Attention (batch, tokens, k) summed over each window's words: ``[row][col][word]``, in float64 and in token
    order, as a Python loop would add them.

    >>> alpha = torch.tensor([[[0.1], [0.3], [0.3], [0.05], [0.2], [0.05]]])
    >>> [round(w, 2) for w in _word_weights(alpha, [[-1, 0, 0, 1, 2, -1]], 3)[0][0]]
    [0.6, 0.05, 0.2]
    """
    batch, length, k = alpha.shape
    index = torch.tensor([row + [-1] * (length - len(row)) for row in token_words], dtype=torch.long)
    index[index < 0] = n_words  # tokens of no word go to a spare column, dropped below
    sums = torch.zeros((batch, n_words + 1, k), dtype=torch.float64)
    sums.scatter_add_(1, index.unsqueeze(-1).expand(-1, -1, k), alpha.detach().cpu().double())
    return sums[:, :n_words].transpose(1, 2).tolist()


def _evidence(window: _Window, words: list[tuple[int, int]], weights: list[float]) -> list[Evidence]:
    """The ``words`` of a window (:func:`_word_spans`) with their attention ``weights`` as word spans of the
    sentence, heaviest first.

    The weights are renormalised over the words (a trained model may put much of its attention on CLS/SEP and
    punctuation). Words with less than ``EVIDENCE_MIN_WEIGHT`` of it are not listed, nor more than
    ``EVIDENCE_MAX_WORDS``.

    >>> w = _Window(0, 4, "PostgreSQL and Go")
    >>> ev = _evidence(w, [(0, 10), (11, 14), (15, 17)], [0.6, 0.05, 0.2])
    >>> [(e.start, e.end, e.text, round(e.weight, 2)) for e in ev]
    [(4, 14, 'PostgreSQL', 0.71), (19, 21, 'Go', 0.24)]
    """
    total = sum(weights)
    shares = [weight / total if total > 0 else 0.0 for weight in weights]
    order = sorted(range(len(words)), key=lambda i: -shares[i])[:EVIDENCE_MAX_WORDS]
    return [Evidence(window.base + words[i][0], window.base + words[i][1], window.text[words[i][0] : words[i][1]],
                     min(1.0, shares[i])) for i in order if shares[i] >= EVIDENCE_MIN_WEIGHT]
