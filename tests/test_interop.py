"""The exported folder in the field's tools, without remote code: sentence-transformers and WorkRB's model classes
(on local data: WorkRB's task runner downloads its benchmarks from the hub). Each loads in a fresh offline process
that cannot import the repository, and must agree with the library."""

import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, run_cli

SENTENCES = ["Experience with PostgreSQL and Docker is a plus.", "You will mentor junior developers.",
             "Fluent in Dutch and English.", "Maintain the accounts payable ledger."]
LABELS = ["PostgreSQL", "provide mentorship", "interact verbally in Dutch", "manage accounts", "remove rust from motor vehicles"]

SKILL_SCRIPT = """
import json, sys
import torch
from sentence_transformers import SentenceTransformer
from workrb.models import BiEncoderModel, ConTeXTMatchModel
from workrb.types import ModelInputType

folder, sentences, labels = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
st = SentenceTransformer(folder, device="cpu")
pooled = st.encode(labels, convert_to_tensor=True)
tokens = st.encode(sentences, output_value="token_embeddings")
kinds = (ModelInputType.SKILL_SENTENCE, ModelInputType.SKILL_NAME)
context = ConTeXTMatchModel(folder).compute_rankings(sentences, labels, *kinds)
cosine = BiEncoderModel(folder).compute_rankings(sentences, labels, *kinds)
print(json.dumps({
    "modules": [type(module).__name__ for module in st], "max_seq_length": st.max_seq_length,
    "pooled": pooled.tolist(), "tokens": [t.tolist() for t in tokens],
    "workrb_contextmatch": context.tolist(), "workrb_biencoder": cosine.tolist(),
    "remote_code": sorted(m for m in sys.modules if m.startswith("transformers_modules")),
}))
"""

TITLE_SCRIPT = """
import json, sys
from sentence_transformers import SentenceTransformer

model = SentenceTransformer(sys.argv[1], device="cpu")  # as the title model's card shows
titles = model.encode(json.loads(sys.argv[2]), task="title").tolist()
skills = model.encode(json.loads(sys.argv[3]), task="skills").tolist()
print(json.dumps({"titles": titles, "skills": skills,
                  "remote_code": [m for m in sys.modules if m.startswith("transformers_modules")]}))
"""


def fresh_process(script: str, *args) -> dict:
    """Run ``script`` offline in a new interpreter outside the repository (no PYTHONPATH): only installed packages."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HF_HUB_OFFLINE"] = "1"
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd="/", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("interop") / "contextmatch-model"
    done = run_cli("export", "--out", folder)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return folder


@pytest.fixture(scope="module")
def loaded(exported):
    return fresh_process(SKILL_SCRIPT, exported, json.dumps(SENTENCES), json.dumps(LABELS))


def test_labels_are_esco_skills():
    from contextmatch.esco import load_esco

    assert set(LABELS) <= {skill.label for skill in load_esco("1.1.0").skills}


def test_sentence_transformers_loads_it_without_remote_code(loaded, model_and_tokenizer):
    assert loaded["modules"] == ["Transformer", "Pooling"]  # no Normalize: label vectors keep their length
    assert loaded["remote_code"] == []
    assert loaded["max_seq_length"] == model_and_tokenizer[0].config.max_sentence_length


def test_encode_is_the_library_label_vector(loaded, model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    expected = model.embed_skill_labels(tokenizer, LABELS)
    assert torch.allclose(torch.tensor(loaded["pooled"]), expected, atol=1e-5)


def test_token_embeddings_are_the_library_token_embeddings(loaded, model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    for sentence, tokens in zip(SENTENCES, loaded["tokens"]):
        batch = tokenizer([sentence], return_tensors="pt")
        with torch.no_grad():
            expected = model.encode_sentences(batch["input_ids"], batch["attention_mask"])[0]
        assert torch.allclose(torch.tensor(tokens), expected, atol=1e-5)


def test_workrb_contextmatch_scores_equal_the_library(loaded, model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    expected = model.score_sentences(tokenizer, SENTENCES, model.embed_skill_labels(tokenizer, LABELS))
    scores = torch.tensor(loaded["workrb_contextmatch"])
    assert torch.allclose(scores, expected, atol=1e-5)
    assert scores[:, :4].argmax(dim=1).tolist() == [0, 1, 2, 3]  # each sentence's own skill ranks first


def test_workrb_biencoder_is_the_cosine_of_mean_pooled_vectors(loaded, model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    sentences = torch.nn.functional.normalize(model.embed_skill_labels(tokenizer, SENTENCES), dim=1)
    labels = torch.nn.functional.normalize(model.embed_skill_labels(tokenizer, LABELS), dim=1)
    assert torch.allclose(torch.tensor(loaded["workrb_biencoder"]), sentences @ labels.T, atol=1e-5)


def test_weights_are_stored_once(exported):
    weights = sorted(p.relative_to(exported).as_posix() for p in exported.rglob("*.safetensors"))
    assert weights == ["encoder/model.safetensors"]
    modules = json.loads((exported / "modules.json").read_text())
    assert [m["path"] for m in modules] == ["encoder", "1_Pooling"]


def test_no_file_names_a_path_of_this_machine(exported):
    from contextmatch.hub.export import local_paths

    config = json.loads((exported / "config.json").read_text())
    assert "_name_or_path" not in config["encoder"] and config["encoder_folder"] == "encoder"
    for path in exported.rglob("*"):
        if path.suffix in (".json", ".md"):
            text = path.read_text(encoding="utf-8")
            assert str(ROOT) not in text and sys.prefix not in text and "site-packages" not in text, path
            if path.suffix == ".json":
                assert local_paths(json.loads(text)) == [], path


def test_title_model_loads_as_its_card_shows():
    from contextmatch.titles.model import SHIPPED_TITLE_MODEL_DIR, TitleModel

    titles, skills = ["sr. java dev", "registered nurse"], ["java, spring, sql"]
    loaded = fresh_process(TITLE_SCRIPT, SHIPPED_TITLE_MODEL_DIR, json.dumps(titles), json.dumps(skills))
    assert loaded["remote_code"] == []
    library = TitleModel.from_pretrained(str(SHIPPED_TITLE_MODEL_DIR), device="cpu")
    assert torch.allclose(torch.tensor(loaded["titles"]), library.encode_titles(titles, normalize=False), atol=1e-5)
    assert torch.allclose(torch.tensor(loaded["skills"]), library.encode_skills(skills, normalize=False), atol=1e-5)


def test_readme_shows_the_workrb_results_files():
    import importlib.util

    spec = importlib.util.spec_from_file_location("workrb_eval", ROOT / "scripts" / "workrb_eval.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    readme = (ROOT / "docs" / "interop.md").read_text(encoding="utf-8")
    shown = readme.split("<!-- workrb:start -->\n")[1].split("\n<!-- workrb:end -->")[0]
    assert shown == script.markdown_table() and "| – |" not in shown
