"""The named training recipes of ``contextmatch train --recipe`` and the choices of its options; no imports, so
that the CLI reads them without loading torch."""

# Sources of the recipes: the ESCO alternative labels are left out (scripts/ablation.py measured +2.7 mean
# validation RP@5 without them, over two seeds each against four seeds with them: results/ablation/README.md).
RECIPE_SOURCES = ["esco-description", "template", "skillskape", "skillspan"]
LEXICAL_SCOPES = ("any", "other-branch")  # which word-sharing skills lexical negatives may be (TrainConfig)
PRECISIONS = ("fp32", "bf16", "auto")  # bf16: the forward pass under bfloat16 autocast, weights stay float32
RECIPES = {
    # 2 CPU cores, about 30 minutes: all-MiniLM-L6-v2 fully fine-tuned with six seeds, each on the first 300 steps
    # of a 900-step schedule, their best models averaged (a soup, .soup), the SkillSpan job-ad sentences five times
    # over (results/training/README.md).
    "cpu": dict(base="all-MiniLM-L6-v2", sources=RECIPE_SOURCES, batch_size=64, lr=5e-5, max_steps=900,
                max_text_length=48, eval_every=150, stop_at=300, soup=6, repeat={"skillspan": 5}),
    # one GPU: the paper's base.
    "gpu": dict(base="all-mpnet-base-v2", sources=RECIPE_SOURCES, batch_size=128, lr=2e-5, epochs=3.0,
                max_text_length=96, eval_every=500),
    # 2 CPU cores with AMX, about 30 minutes (bf16 autocast; float32 without AMX, slower): the paper's base fully
    # fine-tuned like the cpu recipe, two seeds averaged, at the learning rate of the gpu recipe (docs/training.md).
    "cpu-mpnet": dict(base="all-mpnet-base-v2", sources=RECIPE_SOURCES, batch_size=64, lr=2e-5, max_steps=900,
                      max_text_length=48, eval_every=150, stop_at=300, soup=2, repeat={"skillspan": 5},
                      precision="auto"),
}
