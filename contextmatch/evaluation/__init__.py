"""Benchmarks and their metrics, written as results files under ``results/``.

``benchmarks`` (the skill benchmark files: TECH, HOUSE, Skill-XL and any CSV in their formats), ``ranking`` (rank all
ESCO skills per sentence with a system and score RP@K, MRR, MAP), ``extraction`` (the set-level benchmark of what
``extract`` reports), ``title_benchmarks`` and ``titles`` (title normalization), ``tables`` (comparison tables of
results files) and ``plots`` (small SVG plots).

May import the shared modules, :mod:`contextmatch.skills` and :mod:`contextmatch.titles`; never the CLI or the hub.
"""
