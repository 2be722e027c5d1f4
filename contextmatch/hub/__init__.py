"""Hub-ready artifacts: exporting a model folder and building, checking and publishing a release.

``export`` (one model folder that AutoModel, SentenceTransformer and WorkRB load), ``artifacts`` (the release's
repositories, names and manifest), ``build`` (one folder per artifact from a checkout), ``check`` (offline checks and
loaders) and ``publish`` (upload and tag with ``huggingface_hub``).

May import everything but :mod:`contextmatch.cli`.
"""
