"""Job-ad text: HTML and Markdown to plain text, sentence splitting with character offsets, and the word tokens of the
lexical (BM25) baselines."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6",
    "section", "article", "header", "footer", "table", "blockquote", "pre", "dt", "dd", "hr",
}
_SKIP_TAGS = {"script", "style", "head", "noscript", "template"}
_HTML_HINT = re.compile(r"<\s*(?:/?\s*(?:%s)\b|!doctype|html|body|span|strong|em|b|i|a)\b[^>]*>" % "|".join(_BLOCK_TAGS), re.I)


class _TextFromHtml(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP_TAGS:
            self.skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n- " if tag == "li" else "\n")

    def handle_endtag(self, tag):
        if tag in _SKIP_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def looks_like_html(text: str) -> bool:
    """True when ``text`` carries HTML markup.

    >>> looks_like_html("<ul><li>Python</li></ul>"), looks_like_html("5 < 6 and a > b")
    (True, False)
    """
    return bool(_HTML_HINT.search(text))


def html_to_text(text: str) -> str:
    """Visible text of an HTML fragment, block elements on their own lines and list items as bullets.

    >>> html_to_text("<p>We offer:</p><ul><li>Java &amp; SQL</li></ul><script>x()</script>")
    'We offer:\\n- Java & SQL'
    """
    parser = _TextFromHtml()
    parser.feed(text)
    parser.close()
    lines = (re.sub(r"[ \t\r\f\v\xa0]+", " ", line).strip() for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)


_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|`)(?=\S)(.+?)(?<=\S)\1")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+", re.M)


def markdown_to_text(text: str) -> str:
    """Markdown links, emphasis and heading marks removed; bullets are kept for the splitter.

    >>> markdown_to_text("## Skills\\n* **Python** and [Docker](https://docker.com)")
    'Skills\\n* Python and Docker'
    """
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_EMPHASIS.sub(r"\2", text)
    return _MD_HEADING.sub("", text)


def clean_text(text: str) -> str:
    """Plain text from a job ad given as plain text, Markdown or HTML (entities decoded, control characters gone)."""
    if looks_like_html(text):
        text = html_to_text(text)
    else:
        text = markdown_to_text(html.unescape(text))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", " ", text)


# A bullet or list number at the start of a line, or an inline bullet character.
_BULLET = re.compile(r"^[ \t]*(?:[-*+•·▪●◦‣–—]|\(?\d{1,2}[.)]|[a-zA-Z][.)](?=\s))[ \t]+", re.M)
_INLINE_BULLET = re.compile(r"\s[•·▪●◦‣]\s")
_ABBREVIATIONS = {
    "e.g", "i.e", "etc", "vs", "incl", "approx", "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "no", "nr",
    "inc", "ltd", "co", "corp", "dept", "min", "max", "yrs", "approx", "esp", "ca", "cf", "fig", "eg", "ie", "al",
}
# A full stop, '!' or '?' (with closing quotes or brackets) followed by white space, or a semicolon.
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+|;\s*")


def _is_abbreviation(text: str, end: int) -> bool:
    """True when the full stop at ``text[end - 1]`` ends an abbreviation, an initial or a number."""
    if text[end - 1] != ".":
        return False
    start = end - 1  # walk back to the word's start: linear in the word, not in the text before it
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    word = text[start:end - 1]
    if not word:
        return False
    token = word.lower().lstrip("([\"'")
    initial = len(word) == 1 and word.isupper()
    return token in _ABBREVIATIONS or initial or bool(re.fullmatch(r"[a-z](\.[a-z])+", token))


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of the sentences of ``text``.

    Line breaks, bullets, inline bullets, semicolons and sentence-final punctuation end a sentence; abbreviations
    (e.g., Dr., Sr.), initials and decimals do not. Spans are stripped of white space and bullet marks and never
    cut a word. Pieces without a letter or digit are dropped.

    >>> t = "Requirements:\\n- 3+ yrs. of Python, e.g. Django; SQL\\nYou are fluent in English. Nice to have: Go."
    >>> [t[s:e] for s, e in split_sentences(t)]
    ['Requirements:', '3+ yrs. of Python, e.g. Django', 'SQL', 'You are fluent in English.', 'Nice to have: Go.']
    """
    spans = []
    for line in re.finditer(r"[^\n]+", text):
        bullet = _BULLET.match(text, line.start(), line.end())
        for part_start, part_end in _split_line(text, bullet.end() if bullet else line.start(), line.end()):
            while part_start < part_end and text[part_start].isspace():
                part_start += 1
            while part_end > part_start and text[part_end - 1].isspace():
                part_end -= 1
            if any(ch.isalnum() for ch in text[part_start:part_end]):
                spans.append((part_start, part_end))
    return spans


def _split_line(text: str, start: int, end: int) -> list[tuple[int, int]]:
    breaks = [(m.start(), m.end()) for m in _INLINE_BULLET.finditer(text, start, end)]  # (piece end, next start)
    for match in _BOUNDARY.finditer(text, start, end):
        if match.group().startswith(";"):
            breaks.append((match.start(), match.end()))
        elif not _is_abbreviation(text, match.start()):
            breaks.append((match.start() + len(match.group().rstrip()), match.end()))
    pieces, position = [], start
    for piece_end, next_start in sorted(breaks):
        if piece_end >= position:
            pieces.append((position, piece_end))
            position = next_start
    pieces.append((position, end))
    return [(a, b) for a, b in pieces if b > a]


_BM25_WORD = re.compile(r"[a-z0-9][a-z0-9+#.]*[a-z0-9+#]|[a-z0-9]")


def bm25_words(text: str) -> list[str]:
    """Lower-cased word tokens for the BM25 baselines (skills and titles): runs of letters and digits, keeping
    ``+``, ``#`` and inner dots ("c++", "c#", "node.js"); other punctuation separates words.

    >>> bm25_words("Sr. Java Developer (m/f/d), C++ & Node.js")
    ['sr', 'java', 'developer', 'm', 'f', 'd', 'c++', 'node.js']
    """
    return _BM25_WORD.findall(text.lower())
