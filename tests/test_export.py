"""Export to a hub-style folder and load it back with plain transformers in a fresh process."""

import json
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, run_cli

SENTENCES = ["Experience with PostgreSQL and Docker.", "You will mentor junior developers."]
LABELS = ["PostgreSQL", "provide mentorship", "remove rust from motor vehicles"]

LOAD_SCRIPT = """
import json, sys
from transformers import AutoConfig, AutoModel, AutoTokenizer
folder = sys.argv[1]
config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
skills = model.embed_skill_labels(tokenizer, json.loads(sys.argv[3]))
scores = model.score_sentences(tokenizer, json.loads(sys.argv[2]), skills)
print(json.dumps({"model_type": config.model_type, "class": type(model).__name__, "scores": scores.tolist()}))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export") / "contextmatch-model"
    done = run_cli("export", "--out", folder)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return folder


def test_folder_is_complete(exported):
    names = {p.relative_to(exported).as_posix() for p in exported.rglob("*") if p.is_file()}
    assert {"config.json", "tokenizer.json", "tokenizer_config.json", "README.md", "configuration_contextmatch.py",
            "modeling_contextmatch.py", "modules.json", "1_Pooling/config.json", "encoder/config.json",
            "encoder/model.safetensors", "encoder/tokenizer.json", "encoder/sentence_bert_config.json"} <= names
    config = json.loads((exported / "config.json").read_text())
    assert config["model_type"] == "contextmatch" and config["encoder_folder"] == "encoder"
    assert config["auto_map"]["AutoModel"] == "modeling_contextmatch.ContextMatchModel"
    card = (exported / "README.md").read_text()
    assert card.startswith("---\n") and "This service uses the ESCO classification" in card
    from huggingface_hub import ModelCard

    assert ModelCard(card).data.library_name == "transformers"


def test_remote_code_round_trip_in_fresh_process(exported, model_and_tokenizer):
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HF_HUB_OFFLINE"] = "1"
    done = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, str(exported), json.dumps(SENTENCES),
                           json.dumps(LABELS)], capture_output=True, text=True, timeout=300, cwd="/", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["model_type"] == "contextmatch" and loaded["class"] == "ContextMatchModel"
    model, tokenizer = model_and_tokenizer
    expected = model.score_sentences(tokenizer, SENTENCES, model.embed_skill_labels(tokenizer, LABELS))
    assert torch.allclose(torch.tensor(loaded["scores"]), expected, atol=1e-5)


def test_the_library_loads_the_export(exported, model_and_tokenizer):
    from contextmatch.models import load_model

    loaded, loaded_tokenizer = load_model(str(exported), device="cpu")
    model, tokenizer = model_and_tokenizer
    scores = loaded.score_sentences(loaded_tokenizer, SENTENCES, loaded.embed_skill_labels(loaded_tokenizer, LABELS))
    expected = model.score_sentences(tokenizer, SENTENCES, model.embed_skill_labels(tokenizer, LABELS))
    assert not loaded.training and torch.equal(scores, expected)


def test_a_loaded_export_saves_and_reloads(exported, tmp_path):
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(exported), trust_remote_code=True)
    model.save_pretrained(tmp_path / "again")
    again = AutoModel.from_pretrained(str(tmp_path / "again"), trust_remote_code=True)
    assert (tmp_path / "again" / "model.safetensors").exists() and again.config.encoder_folder is None
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_export_refuses_a_non_empty_folder(exported):
    done = run_cli("export", "--out", exported)
    assert done.returncode == 1 and b"not empty" in done.stderr


def test_loading_a_plain_encoder_folder_wraps_it():
    from contextmatch.models import load_model, minilm_path

    model, _ = load_model(str(minilm_path()), device="cpu")
    assert model.config.model_type == "contextmatch" and model.config.base_model.endswith("all-MiniLM-L6-v2")


def test_unknown_model_gives_a_clear_error(tmp_path):
    from contextmatch.models import ModelNotFound, resolve

    with pytest.raises(ModelNotFound, match="not a model folder"):
        resolve(str(tmp_path))
    with pytest.raises(ModelNotFound, match="not found"):
        resolve("someone/unknown-model")


def test_shipped_models_resolve_by_folder_name():
    from contextmatch.models import SHIPPED_MODEL_DIR, resolve

    assert resolve("contextmatch-default") == str(SHIPPED_MODEL_DIR)
    assert resolve(None) == str(SHIPPED_MODEL_DIR)


def test_a_title_model_is_refused_as_a_skill_model():
    from contextmatch.models import ModelNotFound, load_model

    with pytest.raises(ModelNotFound, match="job-title model.*contextmatch normalize"):
        load_model("title-default")


def test_exporting_a_local_encoder_folder_names_no_local_path(tmp_path):
    import shutil

    from contextmatch.hub.export import export_model, local_paths
    from contextmatch.models import minilm_path

    shutil.copytree(minilm_path(), tmp_path / "my-encoder")
    out = export_model(tmp_path / "out", str(tmp_path / "my-encoder"), results="-")
    assert json.loads((out / "config.json").read_text())["base_model"] == "my-encoder"
    for path in out.rglob("*.json"):
        assert local_paths(json.loads(path.read_text())) == [], path
    assert str(tmp_path) not in (out / "README.md").read_text()
