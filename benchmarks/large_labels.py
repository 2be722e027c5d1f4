"""Label spaces far larger than ESCO: recall of the exact top 10 and speed of two-stage scoring.

The label set is the 13,891 ESCO skill vectors of the default model plus synthetic ones: each a random mix of two ESCO
skill vectors (70-95% of one) with Gaussian noise, so that they crowd the same regions as real labels. The sentences are
the first lines of the shipped benchmark set, encoded once; only scoring is timed (milliseconds per sentence, best of
the rounds). Methods: every label scored (the reference top 10), the exact cosine-bound top-k of
``contextmatch.skills.topk``, and two-stage scoring (``contextmatch.skills.two_stage``) with M candidates from an exact
pooled cosine search or a faiss index.

    python benchmarks/large_labels.py                      # 100,000 synthetic labels; results/speed/large_labels.json
    python benchmarks/large_labels.py --synthetic 500000 --candidates 200 1000
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contextmatch.skills.topk import bound_rows, contextmatch_topk, unit_rows  # noqa: E402
from contextmatch.skills.two_stage import LabelIndex, recall_at_k, two_stage_topk  # noqa: E402
from modeling_contextmatch import contextmatch_scores  # noqa: E402

RESULTS = ROOT / "results" / "speed" / "large_labels.json"
K = 10


def synthetic_labels(skills: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` label vectors, each mixing two random rows of ``skills`` (70-95% of the first) plus noise.

    >>> synthetic_labels(torch.eye(4), 6).shape
    torch.Size([6, 4])
    """
    gen = torch.Generator().manual_seed(seed)
    first = torch.randint(0, skills.shape[0], (n,), generator=gen)
    second = torch.randint(0, skills.shape[0], (n,), generator=gen)
    share = 0.7 + 0.25 * torch.rand((n, 1), generator=gen)
    mixed = share * skills[first] + (1 - share) * skills[second]
    scale = 0.1 * skills.norm(dim=1).mean() / skills.shape[1] ** 0.5
    return mixed + scale * torch.randn(mixed.shape, generator=gen)


def encode_sentences(extractor, sentences: list[str], batch_size: int = 32) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Token embeddings and attention masks (the model's special-token policy applied) in length-sorted batches."""
    batches = extractor._encoded_batches(sentences, False)
    return [(tokens, extractor._scoring_mask(mask)) for _, tokens, mask, _ in batches]


def timed(function, batches, rounds: int):
    """(outputs of the best round, its seconds): ``function(tokens, mask)`` per batch."""
    best, outputs = float("inf"), None
    for _ in range(rounds):
        started = time.perf_counter()
        current = [function(tokens, mask) for tokens, mask in batches]
        elapsed = time.perf_counter() - started
        if elapsed < best:
            best, outputs = elapsed, current
    return outputs, best


def run(labels: torch.Tensor, batches, candidates: list[int], indexes: list[str], rounds: int,
        temperature: float = 1.0) -> list[dict]:
    """One row per method: recall of the exact top 10 and milliseconds per sentence."""
    n_sentences = sum(mask.shape[0] for _, mask in batches)
    rows = []

    def add(method: str, m, seconds: float, found, build_s: float | None = None):
        recall = recall_at_k(torch.cat(found), exact) if found is not None else 1.0
        rows.append({"method": method, "candidates": m, "recall_at_10": recall,
                     "ms_per_sentence": round(1000 * seconds / n_sentences, 2),
                     "speedup": round(reference_s / seconds, 1), "index_build_s": build_s})
        print(f"  {method:<44} M={str(m):>6} recall@10 {recall:.4f} {1000 * seconds / n_sentences:8.2f} ms/sentence",
              file=sys.stderr)

    full, reference_s = timed(lambda t, m: contextmatch_scores(t, m, labels, temperature).topk(K).indices,
                              batches, rounds)
    exact = torch.cat(full)
    add("all labels scored (reference)", None, reference_s, None)
    unit = bound_rows(unit_rows(labels))  # int8 or bfloat16, as the extractor picks
    bound, seconds = timed(lambda t, m: contextmatch_topk(t, m, labels, K, temperature, unit)[1], batches, rounds)
    add("exact top-k by cosine bound", None, seconds, bound)
    for kind in indexes:
        started = time.perf_counter()
        index = LabelIndex(unit_rows(labels), kind)
        build_s = round(time.perf_counter() - started, 1)
        for m in candidates:
            found, seconds = timed(lambda t, mask: two_stage_topk(t, mask, labels, K, m, temperature, index)[1],
                                   batches, rounds)
            add(f"two-stage, pooled top-M, {kind} search", m, seconds, found, build_s if kind != "exact" else None)
    return rows


def _faiss_threads(threads: int) -> None:
    try:
        import faiss
    except ImportError:
        return
    faiss.omp_set_num_threads(threads)


def main(argv: list[str] | None = None) -> int:
    from contextmatch.skills.extractor import SkillExtractor

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from throughput import load_ads

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synthetic", type=int, default=100_000, help="synthetic labels added (default: 100000)")
    parser.add_argument("--sentences", type=int, default=200, help="sentences scored (default: 200)")
    parser.add_argument("--candidates", type=int, nargs="+", default=[100, 1000], help="M values (default: 100 1000)")
    parser.add_argument("--indexes", nargs="+", default=["exact", "hnsw"], choices=["exact", "hnsw", "ivf"],
                        help="stage-1 searches (default: exact hnsw)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds; times are the best (default: 2)")
    parser.add_argument("--threads", type=int, help="torch and faiss threads (default: all cores)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
        _faiss_threads(args.threads)
    extractor = SkillExtractor()
    sentences = [line for ad in load_ads() for line in ad.splitlines()][: args.sentences]
    batches = encode_sentences(extractor, sentences)
    skills = extractor.skill_embeddings.float()
    labels = torch.cat([skills, synthetic_labels(skills, args.synthetic)])
    print(f"{len(labels):,} labels ({args.synthetic:,} synthetic), {len(sentences)} sentences", file=sys.stderr)
    with torch.inference_mode():
        rows = run(labels, batches, args.candidates, args.indexes, args.rounds,
                   extractor.model.config.attn_temperature)
    from throughput import machine

    command = "python benchmarks/large_labels.py " + " ".join(argv if argv is not None else sys.argv[1:])
    result = {"benchmark": "large_labels", "date": datetime.date.today().isoformat(), "command": command.strip(),
              "machine": machine(), "n_labels": len(labels), "n_synthetic": args.synthetic,
              "n_sentences": len(sentences), "k": K, "rounds": args.rounds,
              "threads": args.threads or torch.get_num_threads(), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
