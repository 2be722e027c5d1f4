"""Corpus jobs: many job ads or titles from files into resumable output that never loses or duplicates a record.

``extract`` (the batch function :func:`~contextmatch.corpus.extract.extract_batch` and its Parquet schemas), ``batch``
(the resumable local job behind ``contextmatch batch``), ``files`` (shards, atomic writes, fingerprints, progress),
``ray_data`` (the batch function on Ray Data) and ``titles`` (``contextmatch normalize --file``).

May import the shared modules, :mod:`contextmatch.skills` and :mod:`contextmatch.titles`.
"""
