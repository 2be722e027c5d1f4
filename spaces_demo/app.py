"""ContextMatch Space: ESCO skill extraction from job ads (with token evidence) and job-title normalization.

This file is the layout: the Blocks (tabs, inputs, outputs), their event wiring and the server's settings. What the
UI calls (models, input checks, tables, attention, titles) is in ``callbacks.py`` beside it, loaded under a name
derived from this module's, as :data:`callbacks`.

Run ``python app.py`` in this folder (or ``python spaces_demo/app.py`` from the repository root). The server binds
to ``$GRADIO_SERVER_NAME:$GRADIO_SERVER_PORT`` (default 127.0.0.1:7860). The models load once per process and are
shared by all requests: the skill model's weights when the Blocks are built (for its tuned threshold), the ESCO skill
matrix and the title model on first use, which ``main()`` brings forward with a background warm-up.

This service uses the ESCO classification of the European Commission.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
if importlib.util.find_spec("contextmatch") is None or importlib.util.find_spec("modeling_contextmatch") is None:
    sys.path.insert(0, str(HERE.parent))  # run from a checkout without `pip install -e .`

import gradio as gr  # noqa: E402

from contextmatch.esco import ATTRIBUTION  # noqa: E402


def _load_callbacks():
    """``callbacks.py`` from this file's folder, as the module ``<this module's name>_callbacks``: a plain ``import
    callbacks`` would hand a second copy of the Space (a release folder, loaded in the same process) the first one's
    module, with its models and its ``release.json``."""
    name = f"{__name__}_callbacks"
    spec = importlib.util.spec_from_file_location(name, HERE / "callbacks.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


callbacks = _load_callbacks()

CONCURRENCY = int(os.environ.get("CONTEXTMATCH_DEMO_CONCURRENCY", "2"))  # model calls at once (CPU Space)
QUEUE_SIZE = int(os.environ.get("CONTEXTMATCH_DEMO_QUEUE", "32"))  # waiting requests before "queue full"

SKILL_XL_CITATION = (
    "Skill-XL validation split, released by TechWolf under CC-BY-4.0 with Decorte, Van Hautte, Develder and "
    "Demeester, *Efficient Text Encoders for Labor Market Analysis*, IEEE Access 13, 2025 "
    "([arXiv:2505.24640](https://arxiv.org/abs/2505.24640))"
)


# ---- the Blocks --------------------------------------------------------------------------------------------------

CSS = """
#highlighted-ad { max-height: 900px; overflow-y: auto; }
.footnote { font-size: 0.85em; opacity: 0.85; }
"""

INTRO = """# ContextMatch: ESCO skills in job ads
Paste a job ad (plain text, Markdown or HTML) and see which of the 13,891 ESCO v1.1.0 skills each sentence
mentions, with the words that carried each match. A ConTeXT-match model scores every skill against the
sentence's tokens (Decorte et al., *Efficient Text Encoders for Labor Market Analysis*, 2025).
"""


def build_demo() -> gr.Blocks:
    """The Space's Blocks, queue configured. The skill model's weights load here (the threshold slider shows its
    tuned threshold); the ESCO skill matrix and the title model load on first use (or in ``main``'s warm-up)."""
    threshold = callbacks.default_threshold()
    example_items = callbacks.examples()
    with gr.Blocks(title="ContextMatch: ESCO skill extraction") as demo:
        gr.Markdown(INTRO)
        with gr.Tab("Skill extraction", id="extract"):
            with gr.Row():
                with gr.Column(scale=2):
                    ad = gr.Textbox(label="Job ad", lines=12, max_lines=24, elem_id="ad-text",
                                    placeholder="Paste a job ad here, or upload a file below.",
                                    info=f"Plain text, Markdown or HTML; at most {callbacks.MAX_CHARS:,} characters.")
                    upload = gr.File(label="…or upload a job ad (.txt, .md, .html)",
                                     file_types=list(callbacks.UPLOAD_TYPES), type="filepath", height=130,
                                     elem_id="ad-file")
                    with gr.Row():
                        top_k = gr.Slider(1, callbacks.MAX_TOP_K, value=5, step=1, label="Top-k skills per sentence",
                                          elem_id="top-k")
                        thr = gr.Slider(0.0, 1.0, value=round(threshold, 2), step=0.01,
                                        label="Score threshold",
                                        info="at the default the model's calibrated selection decides; moved, "
                                             "this one threshold does",
                                        elem_id="threshold")
                    run = gr.Button("Extract skills", variant="primary", elem_id="extract-btn")
                    if example_items:
                        gr.Examples([[item["text"]] for item in example_items], inputs=[ad],
                                    example_labels=[item["label"] for item in example_items],
                                    label="Example ads")
                        gr.Markdown(f"Skill-XL examples: {SKILL_XL_CITATION}. The data engineer ad was written "
                                    "for this demo.", elem_classes=["footnote"])
                with gr.Column(scale=3):
                    summary = gr.Markdown("Results appear here.", elem_id="summary")
                    highlighted = gr.HighlightedText(label="Ad with skill evidence", elem_id="highlighted-ad",
                                                     show_legend=False, show_inline_category=True,
                                                     combine_adjacent=False)
            table = gr.Dataframe(headers=callbacks.TABLE_COLUMNS,
                                 datatype=["markdown", "str", "number", "markdown", "str"],
                                 label="Skills of the ad (best first; labels link to ESCO)", interactive=False,
                                 wrap=True, elem_id="skills-table", column_widths=["26%", "15%", "8%", "51%"])
            with gr.Accordion("Per-sentence view: attention of a skill over the sentence's words", open=True):
                with gr.Row():
                    sentence_menu = gr.Dropdown(label="Sentence (number of skills)", choices=[], value=None,
                                                interactive=True, elem_id="sentence-menu", scale=3)
                    skill_menu = gr.Dropdown(label="Skill", choices=[], value=None, interactive=True,
                                             elem_id="skill-menu", scale=2)
                caption = gr.Markdown("Run an extraction, then choose a sentence and one of its skills.",
                                      elem_id="attention-caption")
                with gr.Row():
                    plot = gr.BarPlot(None, x="word", y="attention", y_lim=[0, 1], label="Attention per word",
                                      height=280, elem_id="attention-plot", scale=3)
                    heat = gr.HighlightedText(label="Sentence coloured by attention", show_legend=False,
                                              elem_id="attention-sentence", scale=2)
            with gr.Accordion("Raw result (JSON)", open=False):
                raw = gr.JSON(label="Extraction", elem_id="raw-json")
            state = gr.State(None)

            run.click(
                callbacks.extract, inputs=[ad, top_k, thr], outputs=[summary, highlighted, table, raw, state],
                api_name="extract", concurrency_limit=CONCURRENCY, concurrency_id="model",
                api_description="Extract ESCO skills from a job ad: (ad text, top-k, threshold) -> (summary, "
                                "highlighted ad, skills table, full result as JSON).",
            ).success(callbacks.refresh_view, inputs=[state],
                      outputs=[highlighted, sentence_menu, skill_menu, plot, heat, caption],
                      api_visibility="private", concurrency_limit=CONCURRENCY, concurrency_id="model")
            upload.upload(callbacks.load_upload, inputs=[upload], outputs=[ad], api_visibility="private")
            sentence_menu.input(callbacks.choose_sentence, inputs=[state, sentence_menu],
                                outputs=[skill_menu, plot, heat, caption], api_visibility="private",
                                concurrency_limit=CONCURRENCY, concurrency_id="model")
            skill_menu.input(callbacks.show_attention, inputs=[state, sentence_menu, skill_menu],
                             outputs=[plot, heat, caption], api_visibility="private",
                             concurrency_limit=CONCURRENCY, concurrency_id="model")

        with gr.Tab("Job title", id="titles"):
            gr.Markdown("Type a job title to see the closest ESCO occupations (with their ISCO-08 unit group and "
                        "ESCO code) and the skills the title implies.")
            if not callbacks.titles_available():
                gr.Markdown(f"⚠️ {callbacks.TITLE_MISSING}", elem_id="titles-missing")
            with gr.Row():
                title = gr.Textbox(label="Job title", placeholder="e.g. sr. java dev", max_lines=1, scale=3,
                                   elem_id="title-text")
                title_k = gr.Slider(1, callbacks.MAX_TOP_K, value=5, step=1, label="Occupations", scale=1)
            normalize = gr.Button("Normalize title", variant="primary", elem_id="normalize-btn")
            gr.Examples([["sr. java dev"], ["registered nurse"], ["forklift driver"], ["data engineer"]],
                        inputs=[title], label="Example titles")
            title_summary = gr.Markdown()
            with gr.Row():
                occupations = gr.Dataframe(headers=callbacks.OCCUPATION_COLUMNS,
                                           datatype=["markdown", "str", "str", "number", "str"],
                                           label="ESCO occupations", interactive=False, wrap=True, scale=1,
                                           column_widths=["34%", "13%", "15%", "11%", "27%"],
                                           elem_id="occupations-table")
                implied = gr.Dataframe(headers=callbacks.IMPLIED_COLUMNS, datatype=["markdown", "str", "number"],
                                       label="Implied skills", interactive=False, wrap=True, scale=1,
                                       column_widths=["58%", "28%", "14%"],
                                       elem_id="implied-table")
            gr.on([normalize.click, title.submit], callbacks.normalize_title, inputs=[title, title_k],
                  outputs=[occupations, implied, title_summary], api_name="normalize_title",
                  concurrency_limit=CONCURRENCY, concurrency_id="model",
                  api_description="Normalize a job title to ESCO occupations: (title, top-k).")

        gr.Markdown(
            f"{ATTRIBUTION} Skill and occupation labels link to the ESCO portal. Example ads: {SKILL_XL_CITATION}. "
            "Demo code under Apache-2.0.",
            elem_classes=["footnote"],
        )
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    return demo


def launch(demo: gr.Blocks | None = None, server_name: str | None = None, server_port: int | None = None, **kwargs):
    """Start the server (the Space's settings): ``$GRADIO_SERVER_NAME``/``$GRADIO_SERVER_PORT`` or 127.0.0.1:7860."""
    demo = demo or build_demo()
    server_name = server_name or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    server_port = int(server_port or os.environ.get("GRADIO_SERVER_PORT") or 7860)
    options = dict(server_name=server_name, server_port=server_port, max_file_size=callbacks.MAX_UPLOAD_BYTES,
                   show_error=False, ssr_mode=False, theme=gr.themes.Soft(), css=CSS)
    options.update(kwargs)
    return demo.launch(**options)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    demo = build_demo()  # loads the skill model's weights (its threshold is the slider's default)
    if os.environ.get("CONTEXTMATCH_DEMO_PRELOAD", "1") != "0":
        threading.Thread(target=callbacks.warm_up, name="warm-up", daemon=True).start()
    launch(demo)


if __name__ == "__main__":
    main()
