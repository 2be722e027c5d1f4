"""Options and argument types shared by the commands."""

from __future__ import annotations

import argparse

EPILOG = "This service uses the ESCO classification of the European Commission."


def add_encoder_options(parser) -> None:
    """--quantize/--int8 and --backend: how the sentence encoder runs (``extract`` and ``batch``)."""
    parser.add_argument("--quantize", choices=("auto", "fp32", "int8", "bf16"), default="auto",
                        help="sentence encoder precision: auto (default: bf16 on CPUs with AMX, int8 on other CPUs, "
                             "else fp32; the fastest within 0.5 RP@5 of fp32, see docs/speed.md), fp32, int8 (CPU) "
                             "or bf16 (CPUs with AVX512-BF16/AMX, GPUs); skill embeddings stay float32")
    parser.add_argument("--int8", dest="quantize", action="store_const", const="int8", help="same as --quantize int8")
    parser.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                        help="run the sentence encoder on torch (default) or ONNX Runtime (CPU, float32 or int8; "
                             "pip install \"contextmatch[onnx]\")")


def positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number
