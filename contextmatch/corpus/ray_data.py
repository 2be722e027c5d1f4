"""Ray Data adapter: the batch function on a Ray cluster, with the model loaded once per worker.

Install the extra: ``pip install "contextmatch[ray]"``. Then::

    import ray
    from ray.data.expressions import col
    from contextmatch.corpus.ray_data import extract_dataset

    ads = ray.data.read_parquet("s3://bucket/ads/")                  # or read_json / read_csv
    rows = extract_dataset(ads, text_column="text", id_column="id", workers=8)
    rows.filter(expr=col("error").is_null()).write_parquet("s3://bucket/skills/")

Every worker runs :func:`contextmatch.corpus.extract.extract_batch`, the function behind ``contextmatch batch``, so the
rows are the ones a local run writes (:data:`contextmatch.corpus.extract.ROW_SCHEMA`; a bad record is one row with
``error``).
"""

from __future__ import annotations

import pyarrow as pa

from .extract import extract_batch


class RaySkillExtractor:
    """A callable class for ``Dataset.map_batches``: each Ray actor loads the model once in ``__init__``, then maps
    batches of ads (pyarrow tables) to sentence rows. Keyword arguments other than the columns go to
    :class:`contextmatch.SkillExtractor` (``model``, ``top_k``, ``threshold``, ``batch_size``, ``device``, ...)."""

    def __init__(self, text_column: str = "text", id_column: str | None = None, row_column: str | None = None,
                 **extractor_options):
        from ..skills.extractor import SkillExtractor

        self.text_column, self.id_column, self.row_column = text_column, id_column, row_column
        self.extractor = SkillExtractor(**extractor_options)

    def __call__(self, batch: pa.Table) -> pa.Table:
        def column(name: str | None):
            return batch.column(name).to_pylist() if name else None

        return extract_batch(self.extractor, column(self.text_column), column(self.id_column),
                             column(self.row_column))


def extract_dataset(dataset, *, text_column: str = "text", id_column: str | None = None,
                    row_column: str | None = None, ads_per_batch: int = 64, workers: int = 1,
                    cpus_per_worker: float = 1, num_gpus: float | None = None, **extractor_options):
    """Sentence rows of every ad of a Ray dataset, by a pool of ``workers`` actors (one model each).

    ``ads_per_batch`` ads are scored together (their sentences batched). Each actor reserves ``cpus_per_worker``
    CPUs (its torch threads) and ``num_gpus`` GPUs (pass ``device="cuda"`` too). Leave CPUs for the tasks that read
    the input: ``workers * cpus_per_worker`` below the cluster's CPUs, or the read waits for a CPU that never frees.
    The result is lazy, like every Ray dataset: write it, or iterate it.
    """
    import ray.data

    columns = dataset.columns() or []  # empty when Ray cannot tell without running the pipeline
    missing = [c for c in (text_column, id_column, row_column) if columns and c and c not in columns]
    if missing:
        raise ValueError(f"the dataset has no column {missing[0]!r} (columns: {', '.join(columns)}); name the "
                         f"right one with text_column / id_column / row_column")
    remote = {"num_gpus": num_gpus} if num_gpus else {}
    return dataset.map_batches(
        RaySkillExtractor, batch_size=ads_per_batch, batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=cpus_per_worker,
        fn_constructor_kwargs={"text_column": text_column, "id_column": id_column, "row_column": row_column,
                               **extractor_options},
        **remote,
    )
