"""What the ContextMatch Space's UI calls: the shared models, friendly errors, input checks, the presentation of an
extraction (highlighted ad, skills table, per-sentence menus), the attention of one (sentence, skill), and job-title
normalization.

``app.py`` (the layout) loads this file from its own folder under a name derived from its module name, so two copies
of the Space (the repository's and a release folder's) in one process keep apart models and ``release.json``. The
models load once per module and are shared by all requests.
"""

from __future__ import annotations

import functools
import html
import importlib.util
import json
import logging
import os
import threading
from pathlib import Path

import gradio as gr
import pandas as pd

HERE = Path(__file__).resolve().parent

log = logging.getLogger("contextmatch.space")

MAX_CHARS = 50_000  # longest ad (characters, after HTML clean-up for uploads) the demo analyses
MAX_UPLOAD_BYTES = 2_000_000  # largest uploaded file
UPLOAD_TYPES = (".txt", ".md", ".markdown", ".html", ".htm")
MAX_TOP_K = 20
MAX_TITLE_CHARS = 200
MODEL = os.environ.get("CONTEXTMATCH_DEMO_MODEL") or None  # None: the released model, else the package's default
RELEASE_FILE = HERE / "release.json"  # written by `contextmatch release`: the models' hub ids and local folders
EXAMPLES_DIR = HERE / "examples"
SNIPPET = 70  # characters of a sentence shown in tables and menus

# Distinguishable colours for highlighted skills, dark enough for the white inline labels (cycled when an ad has
# more skills than colours).
PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17a2b8",
    "#6c757d", "#b8860b", "#3b5b92", "#c2185b", "#00897b", "#5d4037", "#7b1fa2", "#ef6c00",
]

EMPTY_AD = "Nothing to analyse: paste a job ad into the text box, pick an example, or upload a .txt, .md or .html file."
ERROR_AD = "Something went wrong while extracting skills from this ad. Please try again, or try a shorter ad."
ERROR_MODEL = "The skill extraction model could not be loaded on this server. Please try again later."
TITLE_MISSING = (
    "The title model is not installed in this build of the demo (the module `contextmatch.titles.normalizer` is "
    "missing), so job titles cannot be normalized here yet. Skill extraction works as usual."
)
ERROR_TITLE = "Something went wrong while normalizing this title. Please try again."


# ---- models, loaded once and shared ------------------------------------------------------------------------------

class _Engine:
    """The skill extractor plus a URI -> row index of its skill matrix (for attention plots)."""

    def __init__(self):
        from contextmatch.skills.extractor import SkillExtractor

        # the sentence encoder as `contextmatch extract` runs it (int8 where it runs), so the Space reports the
        # same skills as the CLI; the shared float32 pair still draws the attention plots
        self.extractor = SkillExtractor(model_pair(), quantize="auto")  # encodes (or loads) the ESCO skill matrix
        self.skill_index = {skill.uri: i for i, skill in enumerate(self.extractor.esco.skills)}


_pair_lock = threading.Lock()
_engine_lock = threading.Lock()
_titles_lock = threading.Lock()  # the title model loads apart, so it never holds up skill extraction
_model_pair = None
_engine: _Engine | None = None
_titles = None


def release_entry(key: str) -> dict | None:
    """``{"hub_id", "local"}`` of the model ``key`` ("skill_model", "title_model") in a release build; else None."""
    if not RELEASE_FILE.exists():
        return None
    return json.loads(RELEASE_FILE.read_text(encoding="utf-8"))[key]


@functools.cache
def released_model(key: str) -> str | None:
    """The folder of a release build's model: its local release folder when present (run here), else a download of
    its hub id (the deployed Space); None outside a release build (the package's default model is used)."""
    entry = release_entry(key)
    if entry is None:
        return None
    local = (HERE / entry["local"]).resolve()
    if local.is_dir():
        return str(local)
    from huggingface_hub import snapshot_download

    return snapshot_download(entry["hub_id"])


def model_pair():
    """The skill model and its tokenizer (weights only: a second or two), loaded once."""
    global _model_pair
    if _model_pair is None:
        with _pair_lock:
            if _model_pair is None:
                from contextmatch.models import load_model

                _model_pair = load_model(MODEL or released_model("skill_model"))
    return _model_pair


def engine() -> _Engine:
    """The shared skill extractor, loaded on first use (thread-safe)."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = _Engine()
    return _engine


def titles_available() -> bool:
    """Whether the title normalization module is installed."""
    try:
        return importlib.util.find_spec("contextmatch.titles.normalizer") is not None
    except (ImportError, ValueError):
        return False


def title_normalizer():
    """The shared :class:`contextmatch.titles.normalizer.TitleNormalizer`, loaded on first use; ``None`` if not
    installed."""
    global _titles
    if _titles is None:
        with _titles_lock:
            if _titles is None:
                try:
                    from contextmatch.titles.normalizer import TitleNormalizer
                except ImportError:
                    return None
                normalizer = TitleNormalizer(released_model("title_model"))
                normalizer.normalize(["nurse"], top_k=1)  # encodes (or loads the cached) occupation labels and
                normalizer.implied_skills("nurse", top_k=1)  # skill labels once, before any request uses them
                _titles = normalizer
    return _titles


def default_threshold() -> float:
    """The model's tuned score threshold (``config.score_threshold``), the default of the threshold slider."""
    if _engine is not None:
        return float(_engine.extractor.threshold)
    try:
        model, _ = model_pair()
    except Exception:  # reported to the user when an extraction needs the model
        log.exception("loading the skill extraction model failed")
        from configuration_contextmatch import ContextMatchConfig

        return float(ContextMatchConfig().score_threshold)
    return float(model.config.score_threshold)


def model_name() -> str:
    from contextmatch.models import default_model

    name = MODEL or (release_entry("skill_model") or {}).get("hub_id") or default_model()
    return Path(name).name if Path(name).exists() else name


def warm_up() -> None:
    """Load the models (and the cached ESCO skill matrix) before the first request needs them."""
    try:
        engine()
        if titles_available():
            title_normalizer()
    except Exception:
        log.exception("warm-up failed; the models will be loaded on first use")


# ---- error handling ----------------------------------------------------------------------------------------------

def friendly(message: str):
    """Show users ``message`` (never a stack trace) when a handler fails; the traceback goes to the server log."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except gr.Error:
                raise
            except Exception:
                log.exception("%s failed", fn.__name__)
                raise gr.Error(message) from None

        return wrapper

    return decorate


def _model_call(fn, *args, **kwargs):
    try:
        current = engine()
    except Exception:
        log.exception("loading the skill extraction model failed")
        raise gr.Error(ERROR_MODEL) from None
    return fn(current, *args, **kwargs)


# ---- inputs ------------------------------------------------------------------------------------------------------

def check_ad(text) -> str:
    """The ad text, or a :class:`gr.Error` with a message that says what to do."""
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise gr.Error("The job ad must be text.")
    if len(text) > MAX_CHARS:
        raise gr.Error(
            f"This ad is {len(text):,} characters long; the demo accepts at most {MAX_CHARS:,}. "
            "Paste a shorter ad, or run the contextmatch command line tool locally for long documents.",
            title="Ad too long",
        )
    if not text.strip():
        raise gr.Error(EMPTY_AD, title="No ad")
    return text


def _number(value, name: str, low: float, high: float, default: float) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{name} must be a number between {low:g} and {high:g}.") from None
    if not low <= number <= high:
        raise gr.Error(f"{name} must be between {low:g} and {high:g}, got {number:g}.")
    return number


@friendly("This file could not be read. Upload a UTF-8 text file (.txt, .md or .html).")
def load_upload(path) -> str:
    """Text of an uploaded .txt/.md/.html file for the ad box; HTML is reduced to its visible text."""
    if not path:
        return gr.update()
    path = Path(getattr(path, "name", path))
    if path.suffix.lower() not in UPLOAD_TYPES:
        raise gr.Error(f"Upload a .txt, .md or .html file (got {path.suffix or 'a file without extension'}).")
    if path.stat().st_size > MAX_UPLOAD_BYTES:
        raise gr.Error(f"This file is larger than {MAX_UPLOAD_BYTES // 1_000_000} MB; upload a single job ad.")
    data = path.read_bytes()
    if b"\0" in data[:65536]:
        raise gr.Error("This file looks binary, not text: upload a UTF-8 .txt, .md or .html file.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise gr.Error("This file is not UTF-8 text: save it as UTF-8 and upload it again.") from None
    if path.suffix.lower() in (".html", ".htm"):
        from contextmatch.text import clean_text

        text = clean_text(text)
    if not text.strip():
        raise gr.Error("This file holds no text to analyse.")
    if len(text) > MAX_CHARS:
        raise gr.Error(f"This file holds {len(text):,} characters of text; the demo accepts at most {MAX_CHARS:,}.")
    return text


def examples() -> list[dict[str, str]]:
    """The bundled example ads: ``[{"file", "label", "source", "text"}]`` (see make_examples.py)."""
    index_file = EXAMPLES_DIR / "index.json"
    if not index_file.exists():
        return []
    items = json.loads(index_file.read_text(encoding="utf-8"))
    return [{**item, "text": (EXAMPLES_DIR / item["file"]).read_text(encoding="utf-8")} for item in items]


# ---- presenting an extraction ------------------------------------------------------------------------------------

def _snippet(text: str, limit: int = SNIPPET) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def skill_colors(skills) -> dict[str, str]:
    """Skill label -> highlight colour for the ad's skills (best first; ``skills`` as dicts or AdSkill)."""
    labels = [skill["label"] if isinstance(skill, dict) else skill.label for skill in skills]
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}


def highlight_segments(result) -> list[tuple[str, str | None]]:
    """The cleaned ad as ``(text, skill label or None)`` segments that concatenate to ``result.text``.

    Each evidence word of each reported skill is highlighted with the label of its ad-level group (one colour per
    row of the skills table); a word that is evidence for several skills shows the best-scoring one.
    """
    candidates = []  # (score, weight, start, end, label)
    for sentence in result.sentences:
        for match in sentence.skills:
            label = result.skills[match.group].label if match.group is not None else match.label
            for ev in match.evidence:
                start, end = sentence.start + ev.start, sentence.start + ev.end
                if 0 <= start < end <= len(result.text):
                    candidates.append((match.score, ev.weight, start, end, label))
    taken = [False] * len(result.text)
    kept = []
    for score, weight, start, end, label in sorted(candidates, key=lambda c: (-c[0], -c[1], c[2])):
        if not any(taken[start:end]):
            taken[start:end] = [True] * (end - start)
            kept.append((start, end, label))
    segments, position = [], 0
    for start, end, label in sorted(kept):
        if start > position:
            segments.append((result.text[position:start], None))
        segments.append((result.text[start:end], label))
        position = end
    if position < len(result.text):
        segments.append((result.text[position:], None))
    return segments


def _md_link(label: str, url: str) -> str:
    escaped = label.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    return f"[{escaped}]({url})"


TABLE_COLUMNS = ["ESCO skill", "type", "score", "also reported as", "supporting sentences"]


def skills_table(result, page_url) -> pd.DataFrame:
    """One row per skill group of the ad, best first: linked ESCO label, type, best score, the group's other
    skills (near-duplicates), supporting sentences."""
    rows = []
    for skill in result.skills:
        sentences = "; ".join(f"#{i + 1} {_snippet(result.sentences[i].text, 60)}" for i in skill.sentences[:3])
        if len(skill.sentences) > 3:
            sentences += f"; +{len(skill.sentences) - 3} more"
        also = ", ".join(_md_link(a.label, page_url(a.uri)) for a in skill.alternatives[:4])
        if len(skill.alternatives) > 4:
            also += f", +{len(skill.alternatives) - 4} more"
        rows.append([_md_link(skill.label, page_url(skill.uri)), skill.skill_type or "-", round(skill.score, 3),
                     also or "–", sentences])
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def _summary(result, top_k: int, threshold: float) -> str:
    with_skills = sum(1 for s in result.sentences if s.skills)
    from contextmatch.skills.render import rule_text

    calibrated = round(threshold, 2) == round(default_threshold(), 2)
    rule = engine().extractor.rule(None if calibrated else threshold)
    skipped = sum(1 for s in result.sentences if rule.skips(s.relevance))
    gated = f" {skipped} sentences were skipped as stating no skill." if rule.gate is not None else ""
    return (
        f"**{len(result.skills)} ESCO skills** in {with_skills} of {len(result.sentences)} sentences "
        f"({rule_text(rule)}, at most {top_k} per sentence; model `{model_name()}`).{gated} "
        "Skills that name the same thing are one row. Highlighted words carried each skill's match; the label "
        "follows the word."
    )


def _sentence_choices(state) -> list[tuple[str, int]]:
    return [(f"#{s['index'] + 1} ({len(s['skills'])}) {_snippet(s['text'])}", s["index"])
            for s in state["sentences"] if s["skills"]]


def _skill_choices(result, sentence_index) -> list[tuple[str, str]]:
    if sentence_index is None or not 0 <= int(sentence_index) < len(result["sentences"]):
        return []
    return [(f"{m['label']} ({m['score']:.2f})", m["uri"]) for m in result["sentences"][int(sentence_index)]["skills"]]


def run_extraction(text, top_k=5, threshold=None):
    """Validate the inputs and extract: the library's :class:`Extraction` and the settings used."""
    text = check_ad(text)
    top_k = int(_number(top_k, "Top-k", 1, MAX_TOP_K, 5))
    threshold = _number(threshold, "The score threshold", -1.0, 1.0, default_threshold())
    # the slider at the model's default means the model's own (calibrated) selection; moved, one threshold decides
    chosen = None if round(threshold, 2) == round(default_threshold(), 2) else threshold
    result = _model_call(lambda e: e.extractor.extract(text, top_k=top_k, threshold=chosen))
    if not result.text.strip():
        raise gr.Error("This ad holds no text once its markup is removed. " + EMPTY_AD, title="No ad")
    return result, top_k, threshold


@friendly(ERROR_AD)
def extract(text, top_k=5, threshold=None):
    """The extract event (the public API): summary, highlighted ad, skills table, the result as JSON, and state."""
    result, top_k, threshold = run_extraction(text, top_k, threshold)
    state = result.to_dict()
    return (
        _summary(result, top_k, threshold),
        highlight_segments(result),
        skills_table(result, engine().extractor.esco.page_url),
        state,
        state,
    )


@friendly("The per-sentence view could not be prepared. Please run the extraction again.")
def refresh_view(state):
    """After an extraction: skill colours, the sentence and skill menus (first of each chosen), and its attention."""
    if not state:
        return (gr.update(), gr.update(choices=[], value=None), gr.update(choices=[], value=None),
                *_empty_attention("Run an extraction, then choose a sentence and one of its skills."))
    sentences = _sentence_choices(state)
    first = sentences[0][1] if sentences else None
    skills = _skill_choices(state, first)
    skill = skills[0][1] if skills else None
    if first is None:
        attention = _empty_attention("No sentence of this ad has a skill above the threshold: lower the threshold.")
    else:
        attention = show_attention(state, first, skill)
    return (gr.update(color_map=skill_colors(state["skills"])), gr.update(choices=sentences, value=first),
            gr.update(choices=skills, value=skill), *attention)


# ---- attention of one (sentence, skill) --------------------------------------------------------------------------

def token_attention(current: _Engine, sentence: str, skill_uri: str):
    """Words of ``sentence`` with the attention alpha the skill gives them, and the score of that window.

    Returns ``(words, score)`` with ``words = [(start, end, text, weight)]``; special tokens come as
    ``(-1, -1, "[CLS]", weight)``. Word pieces are merged into words (weights added). A sentence longer than the
    model's window is split into overlapping windows and the best-scoring window for the skill is shown.
    """
    import torch

    x = current.extractor
    if skill_uri not in current.skill_index:
        raise gr.Error("Unknown skill: run the extraction again.")
    length = x.model.config.max_sentence_length
    encoded = x.tokenizer(
        sentence, truncation=True, max_length=length, stride=length // 4, return_overflowing_tokens=True,
        return_offsets_mapping=True, padding=True, return_tensors="pt",
    )
    offsets = encoded["offset_mapping"].tolist()
    ids = encoded["input_ids"].to(x.model.device)
    mask = encoded["attention_mask"].to(x.model.device)
    skill = x.skill_embeddings[[current.skill_index[skill_uri]]]
    with torch.inference_mode():
        tokens = x.model.encode_sentences(ids, mask)
        scores = x.model.score(tokens, mask, skill)[:, 0]
        best = int(scores.argmax())
        alpha = x.model.attention_weights(tokens[best : best + 1], mask[best : best + 1], skill)[0, :, 0].tolist()
    names = x.tokenizer.convert_ids_to_tokens(encoded["input_ids"][best].tolist())
    words: list[list] = []
    for (start, end), weight, real, name in zip(offsets[best], alpha, mask[best].tolist(), names):
        if not real:
            continue
        if end <= start:
            words.append([-1, -1, name, weight])
        elif (words and words[-1][0] >= 0 and start == words[-1][1] and sentence[start].isalnum()
              and sentence[start - 1].isalnum()):
            words[-1][1] = end
            words[-1][3] += weight
        else:
            words.append([start, end, None, weight])
    out = [(a, b, name if a < 0 else sentence[a:b], float(w)) for a, b, name, w in words]
    return out, float(scores[best])


def attention_frame(words) -> pd.DataFrame:
    """Bar-plot data: one row per word (numbered, so repeated words stay apart), in sentence order."""
    return pd.DataFrame(
        {"word": [f"{i + 1}. {text}" for i, (_, _, text, _) in enumerate(words)],
         "attention": [round(w, 4) for *_, w in words]}
    )


def heat_segments(sentence: str, words) -> list[tuple[str, float | None]]:
    """The sentence as HighlightedText segments with each word's attention scaled to [0, 1]."""
    peak = max((w for a, _, _, w in words if a >= 0), default=0.0) or 1.0
    segments, position = [], 0
    for start, end, _, weight in words:
        if start < 0 or start < position:
            continue
        if start > position:
            segments.append((sentence[position:start], None))
        segments.append((sentence[start:end], round(weight / peak, 3)))
        position = end
    if position < len(sentence):
        segments.append((sentence[position:], None))
    return segments


def _empty_attention(message: str):
    return gr.update(value=None), [], message


@friendly("The attention of this sentence could not be computed. Please run the extraction again.")
def show_attention(state, sentence_index, skill_uri):
    """Bar plot, heat-coloured sentence and caption for the chosen (sentence, skill)."""
    if not state or sentence_index is None or not skill_uri:
        return _empty_attention("Run an extraction, then choose a sentence and one of its skills.")
    index = int(sentence_index)
    if not 0 <= index < len(state["sentences"]):
        return _empty_attention("Choose a sentence of the current ad.")
    sentence = state["sentences"][index]
    label = next((m["label"] for m in sentence["skills"] if m["uri"] == skill_uri), None)
    if label is None:
        return _empty_attention("Choose one of this sentence's skills.")
    words, score = _model_call(token_attention, sentence["text"], skill_uri)
    frame = attention_frame(words)
    caption = (
        f"Attention of **{html.escape(label)}** over sentence #{index + 1} (score {score:.3f}). The weights sum to 1 "
        "over the tokens, [CLS] and [SEP] included; word pieces are added up per word."
    )
    plot = gr.update(value=frame, sort=list(frame["word"]), x_label_angle=-45 if len(frame) > 12 else 0)
    return plot, heat_segments(sentence["text"], words), caption


@friendly("The per-sentence view could not be prepared. Please run the extraction again.")
def choose_sentence(state, sentence_index):
    """A new sentence: its skills in the skill menu (first chosen) and that skill's attention."""
    skills = _skill_choices(state or {"sentences": []}, sentence_index)
    skill = skills[0][1] if skills else None
    return (gr.update(choices=skills, value=skill), *show_attention(state, sentence_index, skill))


# ---- titles ------------------------------------------------------------------------------------------------------

OCCUPATION_COLUMNS = ["ESCO occupation", "ISCO group", "ESCO code", "score", "of which prior", "matched label"]
IMPLIED_COLUMNS = ["ESCO skill", "type", "score"]


@friendly(ERROR_TITLE)
def normalize_title(title, top_k=5):
    """The title event: top ESCO occupations (link, ISCO code, score, matched label) and the implied skills."""
    if title is None or (isinstance(title, str) and not title.strip()):
        raise gr.Error("Type a job title first, for example “sr. java dev”.", title="No title")
    if not isinstance(title, str):
        raise gr.Error("The job title must be text.")
    title = " ".join(title.split())
    if len(title) > MAX_TITLE_CHARS:
        raise gr.Error(f"A job title may be at most {MAX_TITLE_CHARS} characters long (got {len(title)}).")
    top_k = int(_number(top_k, "Top-k", 1, MAX_TOP_K, 5))
    if not titles_available():
        raise gr.Error(TITLE_MISSING, title="Title model not installed")
    try:
        normalizer = title_normalizer()
    except Exception:
        log.exception("loading the title model failed")
        raise gr.Error("The title model could not be loaded on this server. Please try again later.") from None
    if normalizer is None:
        raise gr.Error(TITLE_MISSING, title="Title model not installed")
    from contextmatch.esco import Esco, load_esco

    occupations = normalizer.normalize([title], top_k=top_k)[0]
    implied = normalizer.implied_skills(title, top_k=max(10, top_k))
    esco = load_esco()
    occupation_rows = []
    for o in occupations:
        code = o.isco_code or ""
        group = getattr(esco.occupation_by_uri.get(o.uri), "isco_group", "") or code.split(".")[0]
        occupation_rows.append([_md_link(o.label, Esco.page_url(o.uri)), group or "-", code or "-",
                                round(float(o.score), 3), round(float(o.score - o.similarity), 3),
                                o.matched_label or "-"])
    skill_rows = [
        [_md_link(s.label, Esco.page_url(s.uri)),
         getattr(esco.skill_by_uri.get(s.uri), "skill_type", "") or "-", round(float(s.score), 3)]
        for s in implied
    ]
    summary = f"Top {len(occupations)} ESCO occupations for **{html.escape(title)}**, and the skills it implies."
    model = getattr(normalizer, "model", None)
    if getattr(model, "has_heads", True) is False:
        summary += (" Model: the zero-shot base encoder (mean-pooled cosine), as the trained title model is not "
                    "shipped in this build.")
    if getattr(normalizer, "prior_weight", 0):
        summary += (" The score adds a prior for occupations that are common among labelled vacancy titles (the "
                    "'of which prior' column); the rest is the similarity of the title with the occupation's labels.")
    return (pd.DataFrame(occupation_rows, columns=OCCUPATION_COLUMNS), pd.DataFrame(skill_rows, columns=IMPLIED_COLUMNS),
            summary)
