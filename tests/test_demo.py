"""The Gradio Space (spaces_demo/app.py and the callbacks.py it loads): its functions in-process, and its HTTP API
through gradio_client against a server that the test starts on 127.0.0.1 (``python app.py`` in spaces_demo/, as on a
Space).

Every test runs under a time bound; servers are started and stopped here. Offline: HF_HUB_OFFLINE=1.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

REPO = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO / "spaces_demo"
APP = DEMO_DIR / "app.py"
EXAMPLE_AD = (REPO / "examples" / "job_ad.txt").read_text(encoding="utf-8")
TEST_SECONDS = 600  # per test; a first (uncached) load encodes all ESCO skills and occupation labels: minutes on 2 CPUs
SERVER_START_SECONDS = 180
API_SECONDS = 420


# ---- helpers (also used by test_demo_browser.py) -----------------------------------------------------------------

def load_app():
    """spaces_demo/app.py as a module (once per process, so its model is shared by the tests)."""
    name = "contextmatch_space_app"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, APP)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@contextlib.contextmanager
def time_bound(seconds: float, what: str):
    """Raise TimeoutError in the main thread when the block runs longer than ``seconds``."""

    def expire(signum, frame):
        raise TimeoutError(f"{what} took more than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DemoServer:
    """``python app.py`` run in spaces_demo/ on 127.0.0.1 and a free port, stopped by :meth:`stop`."""

    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = Path(log_dir) / "demo_server.log"
        env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(self.port),
                   HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
        env.setdefault("HF_HOME", str(Path(log_dir) / "hf_home"))
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen([sys.executable, "app.py"], cwd=DEMO_DIR, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, seconds: float = SERVER_START_SECONDS) -> "DemoServer":
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the demo server exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url, timeout=5) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"the demo server did not answer within {seconds:g} s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)
        self._log.close()


@contextlib.contextmanager
def running_server(log_dir: Path):
    server = DemoServer(log_dir)
    try:
        yield server.wait_ready()
    finally:
        server.stop()


# ---- fixtures ----------------------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _bounded(request):
    with time_bound(TEST_SECONDS, request.node.name):
        yield


@pytest.fixture(scope="module")
def app():
    return load_app()


@pytest.fixture(scope="module")
def callbacks(app):
    """spaces_demo/callbacks.py, as app.py loaded it: what the UI calls."""
    return app.callbacks


@pytest.fixture(scope="module")
def extraction(callbacks):
    """The example ad extracted with the default settings: (extract outputs, view outputs, Extraction)."""
    with time_bound(TEST_SECONDS, "extracting the example ad"):
        outputs = callbacks.extract(EXAMPLE_AD, 5, None)
        view = callbacks.refresh_view(outputs[4])
        result, _, _ = callbacks.run_extraction(EXAMPLE_AD, 5, None)
    return outputs, view, result


# ---- in-process --------------------------------------------------------------------------------------------------

def test_example_ad_highlights_evidence_spans_of_the_ad(extraction):
    from contextmatch.text import clean_text

    (summary, segments, table, raw, state), (colors, *_), result = extraction
    assert "".join(text for text, _ in segments) == clean_text(EXAMPLE_AD) == result.text
    labelled = [(text, label) for text, label in segments if label]
    assert labelled, "no evidence was highlighted in the example ad"
    # Every highlighted span is an evidence word of its skill, at the same place in the ad.
    evidence = {}
    for sentence in result.sentences:
        for match in sentence.skills:
            for ev in match.evidence:
                evidence.setdefault(match.label, set()).add(
                    (sentence.start + ev.start, sentence.start + ev.end, ev.text))
    position = 0
    for text, label in segments:
        if label:
            assert (position, position + len(text), text) in evidence[label]
            assert result.text[position : position + len(text)] == text
        position += len(text)
    # One colour per skill label shown.
    assert set(label for _, label in labelled) <= set(colors["color_map"])
    assert "ESCO skills" in summary


def test_skills_table_links_labels_to_esco(callbacks, extraction):
    (_, _, table, raw, state), (_, sentence_menu, skill_menu, *_), result = extraction
    assert list(table.columns) == callbacks.TABLE_COLUMNS
    assert len(table) == len(result.skills) > 0
    first = result.skills[0]
    assert table.iloc[0]["ESCO skill"] == f"[{first.label}](https://esco.ec.europa.eu/en/classification/skill?uri={first.uri})"
    assert table.iloc[0]["type"] in ("skill/competence", "knowledge")
    assert list(table["score"]) == sorted(table["score"], reverse=True)
    assert all(score >= -1 for score in table["score"])  # the calibrated selection has no score floor
    assert all(cell == "–" or cell.startswith("[") for cell in table["also reported as"])
    assert table.iloc[0]["supporting sentences"].startswith(f"#{first.sentences[0] + 1} ")
    assert raw == state and raw["skills"][0]["uri"] == first.uri
    assert sentence_menu["value"] is not None and skill_menu["value"] is not None


def test_default_threshold_is_the_models(callbacks, extraction):
    assert callbacks.default_threshold() == pytest.approx(callbacks.engine().extractor.threshold)


def test_top_k_and_threshold_change_the_result(app, callbacks):
    strict, _, _ = callbacks.run_extraction(EXAMPLE_AD, 1, 0.65)
    assert all(len(s.skills) <= 1 for s in strict.sentences)
    assert all(m.score >= 0.65 for s in strict.sentences for m in s.skills)
    with pytest.raises(app.gr.Error, match="Top-k must be between 1 and 20"):
        callbacks.extract(EXAMPLE_AD, 0, 0.5)
    with pytest.raises(app.gr.Error, match="threshold must be a number"):
        callbacks.extract(EXAMPLE_AD, 5, "high")


def test_attention_view_of_a_sentence_and_skill(callbacks, extraction):
    (*_, state), (_, sentence_menu, skill_menu, *view), _ = extraction
    index, uri = sentence_menu["value"], skill_menu["value"]
    plot, heat, caption = callbacks.show_attention(state, index, uri)
    assert view[1:] == [heat, caption]  # the view after an extraction shows the first sentence's first skill
    frame = plot["value"]
    assert list(frame.columns) == ["word", "attention"]
    assert frame["attention"].sum() == pytest.approx(1.0, abs=1e-3)  # alpha is a softmax over the tokens
    assert frame["word"].iloc[0] == "1. [CLS]" and frame["word"].iloc[-1].endswith("[SEP]")
    sentence = state["sentences"][index]["text"]
    assert "".join(text for text, _ in heat) == sentence
    assert max(score for _, score in heat if score is not None) == pytest.approx(1.0)
    label = next(m["label"] for m in state["sentences"][index]["skills"] if m["uri"] == uri)
    assert label in caption
    # Choosing another sentence fills the skill menu with that sentence's skills and plots the first one.
    other = sentence_menu["choices"][-1][1]
    menu, plot, _, caption = callbacks.choose_sentence(state, other)
    assert [uri for _, uri in menu["choices"]] == [m["uri"] for m in state["sentences"][other]["skills"]]
    assert f"sentence #{other + 1}" in caption
    # No extraction yet: a hint, not an error.
    assert "Run an extraction" in callbacks.show_attention(None, None, None)[2]


def test_no_skill_above_the_threshold(callbacks):
    summary, segments, table, raw, state = callbacks.extract(EXAMPLE_AD, 5, 0.99)
    assert summary.startswith("**0 ESCO skills**") and table.empty and list(table.columns) == callbacks.TABLE_COLUMNS
    assert segments == [(raw["text"], None)]
    _, sentences, skills, plot, heat, caption = callbacks.refresh_view(state)
    assert sentences["choices"] == [] and skills["value"] is None and "lower the threshold" in caption


@pytest.mark.parametrize("text", ["", "   \n\t ", None])
def test_empty_input_gets_a_clear_message(app, callbacks, text):
    with pytest.raises(app.gr.Error, match="Nothing to analyse"):
        callbacks.extract(text, 5, 0.5)


def test_markup_without_text_is_empty_input(app, callbacks):
    with pytest.raises(app.gr.Error, match="no text once its markup is removed"):
        callbacks.extract("<div><p></p><br></div>", 5, 0.5)


def test_oversize_input_is_refused_with_its_size(app, callbacks):
    text = "Python developer. " * (callbacks.MAX_CHARS // 18 + 1)
    with pytest.raises(app.gr.Error, match=r"is \d{2},\d{3} characters long; the demo accepts at most 50,000"):
        callbacks.extract(text, 5, 0.5)


def test_internal_errors_are_friendly(app, callbacks, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("CUDA exploded at line 42")

    monkeypatch.setattr(callbacks.engine().extractor, "extract", broken)
    with pytest.raises(app.gr.Error) as caught:
        callbacks.extract(EXAMPLE_AD, 5, 0.5)
    assert caught.value.message == callbacks.ERROR_AD and "line 42" not in str(caught.value)


def test_upload_html_file(callbacks, tmp_path):
    page = tmp_path / "ad.html"
    page.write_text(
        "<html><head><style>p {color: red}</style></head><body><h1>Backend Developer</h1>"
        "<p>You build REST services in <b>Python</b> and SQL.</p><ul><li>Docker &amp; Kubernetes</li></ul>"
        "<script>track()</script></body></html>", encoding="utf-8")
    text = callbacks.load_upload(str(page))
    assert text == "Backend Developer\nYou build REST services in Python and SQL.\n- Docker & Kubernetes"
    result, _, _ = callbacks.run_extraction(text, 5, 0.0)
    assert len(result.sentences) == 3 and result.skills


def test_upload_text_and_bad_files(app, callbacks, tmp_path):
    notes = tmp_path / "ad.md"
    notes.write_text("# Nurse\n\n- patient care\n", encoding="utf-8")
    assert callbacks.load_upload(str(notes)) == "# Nurse\n\n- patient care\n"
    pdf = tmp_path / "ad.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    with pytest.raises(app.gr.Error, match="Upload a .txt, .md or .html file"):
        callbacks.load_upload(str(pdf))
    binary = tmp_path / "ad.txt"
    binary.write_bytes(b"\x00\x01\x02 text")
    with pytest.raises(app.gr.Error, match="looks binary"):
        callbacks.load_upload(str(binary))
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Caf\xe9 manager".encode("latin-1"))
    with pytest.raises(app.gr.Error, match="not UTF-8"):
        callbacks.load_upload(str(latin))
    huge = tmp_path / "huge.txt"
    huge.write_text("a" * (callbacks.MAX_CHARS + 1), encoding="utf-8")
    with pytest.raises(app.gr.Error, match="at most 50,000"):
        callbacks.load_upload(str(huge))


def test_examples_are_rebuilt_from_the_repository(callbacks):
    spec = importlib.util.spec_from_file_location("make_examples", DEMO_DIR / "make_examples.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    files, index = make.build_examples()
    shipped = callbacks.examples()
    assert [item["file"] for item in shipped] == [item["file"] for item in index] == list(files)
    for item in shipped:
        assert item["text"] == files[item["file"]], f"{item['file']} is stale: run spaces_demo/make_examples.py"
    assert (DEMO_DIR / "examples" / "index.json").read_text(encoding="utf-8") == make.index_text(index)
    assert sum("Skill-XL" in item["label"] for item in shipped) == 3
    assert files["demo_data_engineer.txt"] == EXAMPLE_AD
    registered_nurse = files["skill_xl_registered_nurse.txt"].splitlines()
    assert "Strong patient assessment skills and demonstrated clinical competency" in registered_nurse


def test_blocks_expose_the_extract_endpoint_with_the_ad_first(app, callbacks):
    demo = app.build_demo()
    named = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}
    extract = next(fn for name, fn in named.items() if "extract" in name)
    assert extract.inputs[0].elem_id == "ad-text"
    assert extract.concurrency_limit == app.CONCURRENCY
    assert demo._queue.max_size == app.QUEUE_SIZE
    assert "normalize_title" in named
    slider = next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "threshold")
    assert slider.value == pytest.approx(round(callbacks.default_threshold(), 2))


def test_title_tab(app, callbacks):
    if not callbacks.titles_available():
        with pytest.raises(app.gr.Error, match="title model is not installed"):
            callbacks.normalize_title("registered nurse", 5)
        return
    occupations, implied, summary = callbacks.normalize_title("registered nurse", 5)
    assert list(occupations.columns) == callbacks.OCCUPATION_COLUMNS and 0 < len(occupations) <= 5
    assert occupations.iloc[0]["ESCO occupation"].startswith("[")
    assert all(len(group) == 4 and code.startswith(group)
               for group, code in zip(occupations["ISCO group"], occupations["ESCO code"]))
    assert "esco.ec.europa.eu/en/classification/occupation?uri=" in occupations.iloc[0]["ESCO occupation"]
    assert list(occupations["score"]) == sorted(occupations["score"], reverse=True)
    assert list(implied.columns) == callbacks.IMPLIED_COLUMNS and len(implied) >= 1
    assert "registered nurse" in summary
    with pytest.raises(app.gr.Error, match="Type a job title"):
        callbacks.normalize_title("  ", 5)


def test_title_tab_renders_the_normalizer_api(callbacks, monkeypatch):
    """The tab's tables from TitleNormalizer's documented results (a stand-in, so this runs without the model)."""
    from types import SimpleNamespace as Row

    nurse = "http://data.europa.eu/esco/occupation/not-in-esco"
    care = "http://data.europa.eu/esco/skill/9f4b0bcb-e2eb-4e8c-b866-f868073af856"

    class StandIn:
        def normalize(self, titles, top_k=5):
            assert titles == ["sr. nurse"] and top_k == 3
            return [[Row(uri=nurse, label="specialist nurse", isco_code="2221.1", score=0.81,
                         matched_label="senior nurse", similarity=0.75)]]

        def implied_skills(self, title, top_k=10):
            return [Row(uri=care, label="monitor assessment", score=0.52)]

    monkeypatch.setattr(callbacks, "titles_available", lambda: True)
    monkeypatch.setattr(callbacks, "title_normalizer", lambda: StandIn())
    occupations, implied, summary = callbacks.normalize_title("  sr.   nurse ", 3)
    assert occupations.values.tolist() == [[
        f"[specialist nurse](https://esco.ec.europa.eu/en/classification/occupation?uri={nurse})", "2221", "2221.1",
        0.81, 0.06, "senior nurse"]]
    assert implied.values.tolist() == [[
        f"[monitor assessment](https://esco.ec.europa.eu/en/classification/skill?uri={care})", "skill/competence",
        0.52]]
    assert "sr. nurse" in summary


# ---- HTTP API ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server():
    with tempfile.TemporaryDirectory(prefix="contextmatch-demo-") as log_dir:
        with running_server(Path(log_dir)) as running:
            yield running


def test_http_api_extract_through_gradio_client(server):
    from gradio_client import Client

    client = Client(server.url, verbose=False)
    api = client.view_api(return_format="dict", print_info=False)
    endpoint = next(name for name in api["named_endpoints"] if "extract" in name)
    assert api["named_endpoints"][endpoint]["parameters"][0]["label"] == "Job ad"
    job = client.submit(EXAMPLE_AD, 5, 0.5, api_name=endpoint)
    summary, tokens, table, raw = job.result(timeout=API_SECONDS)
    assert "ESCO skills" in summary
    assert "".join(t["token"] for t in tokens) == raw["text"]
    assert any(t["class_or_confidence"] for t in tokens)
    assert table["headers"] == ["ESCO skill", "type", "score", "also reported as", "supporting sentences"]
    assert len(table["data"]) == len(raw["skills"]) > 0
    assert table["data"][0][0].startswith(f"[{raw['skills'][0]['label']}](https://esco.ec.europa.eu/")
    # Bad input comes back as the friendly message, without a stack trace.
    with pytest.raises(Exception) as caught:
        client.predict("", 5, 0.5, api_name=endpoint)
    assert "Nothing to analyse" in str(caught.value) and "Traceback" not in str(caught.value)
    client.close()


def test_space_requirements_follow_the_pinned_set():
    import configparser
    import re

    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    pinned = {}
    for block in (config["options"]["install_requires"], config["options.extras_require"]["demo"]):
        for line in block.split("\n"):
            if "==" in line:
                name, version = line.strip().split("==")
                pinned[name.lower()] = version
    space = {}
    for line in (DEMO_DIR / "requirements.txt").read_text().splitlines():
        if re.match(r"^[A-Za-z0-9_.-]+==", line):
            name, version = line.split("==")
            space[name.lower()] = version
    assert space == pinned, "spaces_demo/requirements.txt and setup.cfg pin different versions"
    readme = (DEMO_DIR / "README.md").read_text(encoding="utf-8")
    header = readme.split("---")[1]
    for key in ("sdk: gradio", f"sdk_version: {pinned['gradio']}", "app_file: app.py", "license: apache-2.0",
                "models:", "datasets:"):
        assert key in header
