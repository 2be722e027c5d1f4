"""``contextmatch release`` and ``contextmatch publish``: build the release once, check it offline with
``publish --dry-run``, then load each artifact from its folder the way a hub user would (offline)."""

import configparser
import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import ROOT, run_cli, shipped_threshold

import contextmatch
from contextmatch.hub import artifacts as rel
from contextmatch.hub import build, check, publish

NAMESPACE = "test"
BUILT_FOR = "my-org"  # the release is built for this namespace, then published (dry run) to NAMESPACE


@pytest.fixture(scope="module")
def release_dir(tmp_path_factory):
    """``contextmatch release --out DIR --namespace my-org`` then ``contextmatch publish DIR --namespace test
    --dry-run``, both as CLI processes, offline; the dry run moves the cross-references to ``test``."""
    out = tmp_path_factory.mktemp("release") / "release"
    built = run_cli("release", "--out", out, "--namespace", BUILT_FOR)
    assert built.returncode == 0, built.stderr.decode()[-3000:]
    assert json.loads((out / rel.MANIFEST).read_text())["namespace"] == BUILT_FOR
    checked = run_cli("publish", out, "--namespace", NAMESPACE, "--dry-run")
    assert checked.returncode == 0, checked.stderr.decode()[-3000:]
    out.joinpath("dry_run.log").write_bytes(checked.stdout)  # outside the artifact folders: never uploaded
    return out


@pytest.fixture(scope="module")
def dry_run_log(release_dir) -> str:
    return (release_dir / "dry_run.log").read_text()


def folder(release_dir, artifact) -> Path:
    return release_dir / artifact.name


def hub_id(artifact) -> str:
    return rel.repo_id(NAMESPACE, artifact)


def results(kind: str, benchmark: str, split: str, system: str) -> dict:
    """The one results file of ``system`` (its exact name, else the only name that starts with it)."""
    found = [json.loads(path.read_text()) for path in (ROOT / "results" / kind).glob(f"{benchmark}__{split}__*.json")]
    matches = [r for r in found if r["system"] == system] or [r for r in found if r["system"].startswith(system)]
    assert len(matches) == 1, f"{len(matches)} {kind} results for {benchmark} {split} {system}"
    return matches[0]


# -- the commands ------------------------------------------------------------------------------------------------
def test_dry_run_checks_loads_and_lists_every_repository(release_dir, dry_run_log):
    assert f"cross-references moved from {BUILT_FOR}/... to {NAMESPACE}/..." in dry_run_log
    assert "every check passed" in dry_run_log and "dry run: nothing was uploaded" in dry_run_log
    for artifact in rel.ARTIFACTS:
        assert f"loaded {artifact.name}: " in dry_run_log
        assert rel.hub_url(hub_id(artifact), artifact.repo_type) in dry_run_log
    assert "    model.safetensors  45." in dry_run_log  # files are listed with their sizes (float16 weights)
    manifest = json.loads((release_dir / rel.MANIFEST).read_text())
    assert manifest["namespace"] == NAMESPACE and manifest["tag"] == contextmatch.__version__
    assert [a["repo_id"] for a in manifest["artifacts"]] == [hub_id(a) for a in rel.ARTIFACTS]


def test_package_version_is_the_tag_and_has_a_changelog_entry():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    assert config["metadata"]["version"] == contextmatch.__version__
    assert rel.release_tag() == contextmatch.__version__
    assert f"## [{contextmatch.__version__}]" in (ROOT / "CHANGELOG.md").read_text()


def test_nothing_names_the_old_namespace_or_a_local_path(release_dir):
    for path in release_dir.rglob("*"):
        if path.suffix in (".md", ".json") and "contextmatch-demo/contextmatch/" not in path.as_posix():
            text = path.read_text()
            assert f"{BUILT_FOR}/" not in text, path
            assert str(ROOT) not in text and "site-packages" not in text, path
    assert not list(release_dir.rglob("__pycache__"))


def test_release_refuses_a_non_empty_folder_and_a_missing_checkout(release_dir, tmp_path):
    done = run_cli("release", "--out", release_dir)
    assert done.returncode == 1 and b"not empty" in done.stderr
    with pytest.raises(rel.ReleaseError, match=r"missing model_cards/contextmatch\.md.*--source DIR"):
        build.find_sources(tmp_path)
    assert build.find_sources() == ROOT


def _publish_env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH")}
    return {**env, "HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), **extra}


@pytest.mark.parametrize("token, message", [(None, "no Hugging Face token"),
                                            ("hf_fake", "cannot reach the Hugging Face Hub")])
def test_publish_without_token_or_network_fails_in_one_line(release_dir, tmp_path, token, message):
    env = _publish_env(tmp_path, **({"HF_TOKEN": token} if token else {}))
    done = subprocess.run([sys.executable, "-m", "contextmatch.cli.main", "publish", str(release_dir), "--namespace",
                           NAMESPACE], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("contextmatch publish: error: ") and message in lines[0], lines
    assert done.stdout == ""


class FakeHub:
    """Records the huggingface_hub calls of an upload; ``tags`` are the tags each repository already has."""

    def __init__(self, tags=None):
        self.calls, self.tags = [], tags or {}

    def install(self, monkeypatch):
        import huggingface_hub
        from huggingface_hub.errors import RepositoryNotFoundError

        def list_repo_refs(repo_id, repo_type=None, token=None):
            if repo_id not in self.tags:
                raise RepositoryNotFoundError(f"{repo_id} not found", response=_response(404))
            return type("Refs", (), {"tags": [type("Ref", (), {"name": t})() for t in self.tags[repo_id]]})()

        def create_repo(repo_id, repo_type=None, exist_ok=False, token=None, **options):
            self.calls.append(("create_repo", repo_id, repo_type, options))
            return rel.hub_url(repo_id, repo_type)

        def upload_folder(*, repo_id, repo_type, folder_path, token, ignore_patterns, commit_message):
            self.calls.append(("upload_folder", repo_id, repo_type, Path(folder_path).name, commit_message))

        def create_tag(repo_id, tag, repo_type=None, token=None, tag_message=None):
            self.calls.append(("create_tag", repo_id, repo_type, tag))

        for name, fake in (("list_repo_refs", list_repo_refs), ("create_repo", create_repo),
                           ("upload_folder", upload_folder), ("create_tag", create_tag)):
            monkeypatch.setattr(huggingface_hub, name, fake)
        return self


def _response(status: int):
    """An HTTP response of the client library huggingface_hub uses (its errors need one)."""
    from huggingface_hub.errors import HTTPError

    client = importlib.import_module(HTTPError.__module__.split(".")[0])
    return client.Response(status, request=client.Request("GET", "https://huggingface.co/api"))


def test_publish_creates_uploads_and_tags_each_repository(release_dir, monkeypatch):
    hub = FakeHub().install(monkeypatch)
    lines = []
    current = rel.read_manifest(release_dir)
    urls = publish.upload(release_dir, current, "hf_token", log=lines.append)
    tag = contextmatch.__version__
    expected = []
    for artifact in rel.ARTIFACTS:
        options = {"space_sdk": "gradio"} if artifact.repo_type == "space" else {}
        expected += [("create_repo", hub_id(artifact), artifact.repo_type, options),
                     ("upload_folder", hub_id(artifact), artifact.repo_type, artifact.name,
                      f"contextmatch {contextmatch.__version__}"),
                     ("create_tag", hub_id(artifact), artifact.repo_type, tag)]
    assert hub.calls == expected
    assert urls == [rel.hub_url(hub_id(a), a.repo_type) for a in rel.ARTIFACTS]
    assert all(url in line for url, line in zip(urls, lines))


def test_publish_stops_before_uploading_when_the_tag_exists(release_dir, monkeypatch):
    hub = FakeHub(tags={hub_id(rel.SPACE): [contextmatch.__version__]}).install(monkeypatch)
    with pytest.raises(rel.ReleaseError, match="already has tag"):
        publish.upload(release_dir, rel.read_manifest(release_dir), "hf_token", log=lambda line: None)
    assert hub.calls == []


def test_checks_catch_a_broken_release(release_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(release_dir, broken, ignore=shutil.ignore_patterns("model.safetensors", "contextmatch"))
    card = broken / rel.SKILL_MODEL.name / "README.md"
    card.write_text(card.read_text().replace("      type: text-retrieval\n", "", 1))
    space_card = broken / rel.SPACE.name / "README.md"
    space_card.write_text(space_card.read_text().replace(f"- {hub_id(rel.DATASET)}", "- elsewhere/Skill-XL"))
    (broken / rel.DATASET.name / "Skill-XL.py").write_text("# a loading script\n")
    requirements = broken / rel.SPACE.name / "requirements.txt"
    requirements.write_text(requirements.read_text().replace("pandas==", "pandas>="))
    problems = "\n".join(check.check_release(broken, load=False))
    assert "ConTeXT-match-MiniLM-L6/README.md: metadata does not parse" in problems
    assert "ConTeXT-match-MiniLM-L6/encoder/model.safetensors is missing" in problems
    assert "JobTitle-MiniLM-L6/model.safetensors is missing" in problems
    assert "contextmatch-demo/contextmatch/__init__.py is missing" in problems
    assert "contextmatch-demo/README.md names elsewhere/Skill-XL" in problems
    assert "Skill-XL/Skill-XL.py would be read as a loading script" in problems
    assert "pandas>=" in problems and "is not pinned" in problems
    assert check.check_release(release_dir, load=False) == []


def test_checks_catch_paths_of_another_machine(release_dir, tmp_path):
    """A path of the machine that built the release, where this machine's markers cannot see it: in a nested JSON
    value (the export's old encoder._name_or_path, here a home folder) and in safetensors metadata."""
    from safetensors.torch import load_file, save_file

    leaky = tmp_path / "leaky"
    shutil.copytree(release_dir, leaky)
    model = leaky / rel.SKILL_MODEL.name
    config = json.loads((model / "config.json").read_text())
    config["encoder"]["_name_or_path"] = "/home/alice/.cache/contextmatch/bases/all-mpnet-base-v2"
    (model / "config.json").write_text(json.dumps(config))
    weights = model / "encoder" / "model.safetensors"
    save_file(load_file(weights), weights, metadata={"format": "pt", "source": "D:\\runs\\best"})
    problems = check.check_release(leaky, load=False)
    assert problems == [
        f"{rel.SKILL_MODEL.name}/config.json names encoder._name_or_path: /home/alice/.cache/contextmatch/bases/"
        "all-mpnet-base-v2",
        f"{rel.SKILL_MODEL.name}/encoder/model.safetensors metadata names source: D:\\runs\\best"]


# -- the cards -----------------------------------------------------------------------------------------------------
def test_model_cards_parse_and_carry_the_results(release_dir):
    from huggingface_hub import ModelCard

    card = ModelCard((folder(release_dir, rel.SKILL_MODEL) / "README.md").read_text())
    data = card.data
    assert (data.library_name, data.pipeline_tag, data.license) == ("transformers", "feature-extraction", "apache-2.0")
    assert data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert hub_id(rel.DATASET) in data.datasets and data.metrics == [hub_id(rel.METRIC)]
    tech = results("skills", "tech", "test", "ConTeXT-match, contextmatch-default (trained)")
    found = {(r.dataset_type, r.dataset_split, r.metric_type): r.metric_value for r in data.eval_results}
    assert found[("TechWolf/skill-extraction-tech", "test", "rp@5")] == tech["rp@5"]
    skill_xl = results("skills", "skill-xl", "validation", "ConTeXT-match, contextmatch-default (trained)")
    assert found[(hub_id(rel.DATASET), "validation", "mrr")] == skill_xl["mrr"]
    assert f'from_pretrained("{hub_id(rel.SKILL_MODEL)}"' in card.text

    card = ModelCard((folder(release_dir, rel.TITLE_MODEL) / "README.md").read_text())
    data = card.data
    assert (data.library_name, data.pipeline_tag, data.license) == ("sentence-transformers", "sentence-similarity",
                                                                    "apache-2.0")
    assert data.base_model == "sentence-transformers/all-MiniLM-L6-v2" and data.datasets and data.metrics
    # the default learnt from the JobBERT titles' train side: its card reports the select side, prior included
    titles = results("titles", "jobbert-titles", "select", "title model title-default (trained on all-MiniLM-L6-v2 "
                     "+ 12,370 labelled titles), best label + 1 x centroid + 0.05 x log-count prior (scale 50)")
    found = {r.metric_type: r.metric_value for r in data.eval_results}
    assert found == {key: titles[key] for key in rel.TITLE_METRICS}
    assert f'SentenceTransformer("{hub_id(rel.TITLE_MODEL)}")' in card.text and "| select | 0.507 | 39.93 |" in card.text


def test_dataset_metric_and_space_cards_parse(release_dir):
    from huggingface_hub import DatasetCard, SpaceCard

    data = DatasetCard.load(folder(release_dir, rel.DATASET) / "README.md").data.to_dict()
    assert {c["config_name"] for c in data["configs"]} == {"sentences", "pairs"} and data["dataset_info"]
    card = (folder(release_dir, rel.DATASET) / "README.md").read_text()
    assert f'load_dataset("{hub_id(rel.DATASET)}", "sentences"' in card

    metric = SpaceCard.load(folder(release_dir, rel.METRIC) / "README.md")
    assert metric.data.sdk == "gradio" and metric.data.app_file == "app.py" and "evaluate" in metric.data.tags
    assert f'evaluate.load("{hub_id(rel.METRIC)}")' in metric.text

    space = SpaceCard.load(folder(release_dir, rel.SPACE) / "README.md")
    assert space.data.models == [hub_id(rel.SKILL_MODEL), hub_id(rel.TITLE_MODEL)]
    assert space.data.datasets == [hub_id(rel.DATASET)]
    assert space.data.sdk == "gradio" and space.data.app_file == "app.py"
    assert "](screenshots/extraction_tab.png)" in space.text
    assert (folder(release_dir, rel.SPACE) / "screenshots" / "extraction_tab.png").exists()


def test_space_requirements_are_the_release_pins(release_dir):
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    wanted = [line.strip() for line in config["options"]["install_requires"].splitlines()
              + config["options.extras_require"]["demo"].splitlines() if "==" in line]
    lines = (folder(release_dir, rel.SPACE) / "requirements.txt").read_text().splitlines()
    pins = [line for line in lines if line and not line.startswith(("#", "-"))]
    assert all("==" in pin for pin in pins)
    assert set(wanted) <= set(pins) and any(pin.startswith("pandas==") for pin in pins)
    assert rel.TORCH_CPU_INDEX in lines


# -- loading each artifact as a hub user would -------------------------------------------------------------------
def test_skill_model_loads_with_automodel(release_dir, model_and_tokenizer):
    from safetensors import safe_open
    from transformers import AutoModel, AutoTokenizer

    path = folder(release_dir, rel.SKILL_MODEL)
    config = json.loads((path / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_contextmatch.ContextMatchModel"
    assert "_name_or_path" not in config["encoder"] and config["encoder_folder"] == "encoder"
    assert sorted(p.relative_to(path).as_posix() for p in path.rglob("*.safetensors")) == ["encoder/model.safetensors"]
    with safe_open(path / "encoder" / "model.safetensors", "pt") as weights:
        assert {weights.get_slice(k).get_dtype() for k in weights.keys()} == {"F16"}
    model = AutoModel.from_pretrained(str(path), trust_remote_code=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=True)
    assert type(model).__name__ == "ContextMatchModel" and next(model.parameters()).dtype == torch.float32
    sentences, labels = ["Experience with PostgreSQL and Docker."], ["PostgreSQL", "remove rust from motor vehicles"]
    with torch.inference_mode():
        scores = model.score_sentences(tokenizer, sentences, model.embed_skill_labels(tokenizer, labels))
        shipped, shipped_tokenizer = model_and_tokenizer
        expected = shipped.score_sentences(shipped_tokenizer, sentences,
                                           shipped.embed_skill_labels(shipped_tokenizer, labels))
    assert torch.allclose(scores, expected.cpu(), atol=1e-5) and scores[0, 0] > scores[0, 1]


def test_skill_model_scores_in_workrb_as_with_automodel(release_dir, model_and_tokenizer):
    from workrb.models import ConTeXTMatchModel
    from workrb.types import ModelInputType

    sentences, labels = ["Experience with PostgreSQL and Docker.", "You will mentor junior developers."], \
        ["PostgreSQL", "provide mentorship", "remove rust from motor vehicles"]
    workrb = ConTeXTMatchModel(str(folder(release_dir, rel.SKILL_MODEL)))
    scores = workrb.compute_rankings(sentences, labels, ModelInputType.SKILL_SENTENCE, ModelInputType.SKILL_NAME)
    shipped, tokenizer = model_and_tokenizer
    expected = shipped.score_sentences(tokenizer, sentences, shipped.embed_skill_labels(tokenizer, labels))
    assert torch.allclose(scores.cpu(), expected.cpu(), atol=1e-5)


def test_title_model_loads_with_sentence_transformers(release_dir):
    from sentence_transformers import SentenceTransformer

    from contextmatch.titles.model import TitleModel

    model = SentenceTransformer(str(folder(release_dir, rel.TITLE_MODEL)), device="cpu")
    titles = model.encode(["sr. java dev", "registered nurse"], task="title", convert_to_tensor=True,
                          normalize_embeddings=True)
    shipped = TitleModel.from_pretrained(device="cpu").encode_titles(["sr. java dev", "registered nurse"])
    assert torch.allclose(titles.float().cpu(), shipped, atol=1e-4)


def test_dataset_loads_with_load_dataset(release_dir, tmp_path):
    import datasets

    path = folder(release_dir, rel.DATASET)
    sentences = datasets.load_dataset(str(path), "sentences", split="validation", cache_dir=str(tmp_path))
    pairs = datasets.load_dataset(str(path), "pairs", split="validation", cache_dir=str(tmp_path))
    assert (sentences.num_rows, pairs.num_rows) == (2281, 5847)
    assert sentences.features["skills"].feature.dtype == "string"
    assert not (path / f"{rel.DATASET.name}.py").exists()


def test_metric_loads_with_evaluate(release_dir):
    import evaluate

    metric = evaluate.load(str(folder(release_dir, rel.METRIC)))
    result = metric.compute(predictions=[["python", "sql", "java"], ["excel", "teamwork"]],
                            references=[["sql", "java"], ["teamwork"]], k_values=[1, 3])
    assert result["mrr"] == 0.5 and result["rp@3"] == 1.0 and result["n_queries"] == 2


def _load_app(app_dir: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, app_dir / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_space_main_runs_on_the_local_release_folders(release_dir, monkeypatch):
    monkeypatch.delenv("CONTEXTMATCH_DEMO_MODEL", raising=False)
    monkeypatch.setenv("CONTEXTMATCH_DEMO_PRELOAD", "0")
    app = _load_app(folder(release_dir, rel.SPACE), "contextmatch_release_space_local")
    launched = []
    monkeypatch.setattr(app, "launch", launched.append)
    app.main()
    assert len(launched) == 1 and "extract" in {fn.api_name for fn in launched[0].fns.values()}
    assert app.callbacks.released_model("skill_model") == str(folder(release_dir, rel.SKILL_MODEL))
    assert app.callbacks.released_model("title_model") == str(folder(release_dir, rel.TITLE_MODEL))
    assert app.callbacks.model_name() == hub_id(rel.SKILL_MODEL)
    model, _ = app.callbacks.model_pair()
    assert model.config.model_type == "contextmatch" and model.config.score_threshold == pytest.approx(shipped_threshold())


def test_deployed_space_loads_the_models_by_hub_id(release_dir, tmp_path, monkeypatch):
    import huggingface_hub

    space = tmp_path / rel.SPACE.name  # the Space folder alone, as on the hub: no model folders beside it
    space.mkdir()
    for name in ("app.py", "callbacks.py", rel.SPACE_MODELS_FILE):
        shutil.copy(folder(release_dir, rel.SPACE) / name, space / name)
    downloads = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo: downloads.append(repo) or f"/snap/{repo}")
    app = _load_app(space, "contextmatch_release_space_deployed")
    assert app.callbacks.released_model("skill_model") == f"/snap/{hub_id(rel.SKILL_MODEL)}"
    assert app.callbacks.released_model("title_model") == f"/snap/{hub_id(rel.TITLE_MODEL)}"
    assert downloads == [hub_id(rel.SKILL_MODEL), hub_id(rel.TITLE_MODEL)]
