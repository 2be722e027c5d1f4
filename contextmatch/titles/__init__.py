"""Job-title normalization to ESCO occupations with a JobBERT-v2-style title model.

``model`` (:class:`~contextmatch.titles.model.TitleModel`: the bi-encoder with its title and skills heads),
``normalizer`` (:class:`~contextmatch.titles.normalizer.TitleNormalizer`: titles -> ranked occupations and the skills
they imply) and ``prior`` (a job board's occupation mix, read from the model folder).

May import the shared top-level modules only; fitting the prior lives in :mod:`contextmatch.training.title_prior`.
"""
