"""Training data and trainers: the skill model (``skill_data``, ``skills``) and the title model (``title_data``,
``titles``, ``title_card``, ``title_prior``).

Every builder filters its text against the benchmark files (:mod:`contextmatch.evaluation.benchmarks`,
:mod:`contextmatch.evaluation.title_benchmarks`). May import the shared modules, :mod:`contextmatch.skills`,
:mod:`contextmatch.titles` and :mod:`contextmatch.evaluation`; never the CLI or the hub.
"""
