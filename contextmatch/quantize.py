"""Reduced-precision sentence encoders that keep the token embeddings ConTeXT scoring needs.

``int8``: the encoder's Linear layers with int8 weights (per output channel) and int8 activations quantized per
call (torch dynamic quantization, fbgemm kernels; CPU only). The activation scale is taken over the whole batch, so
a sentence's scores can move slightly with its batch. ``bf16``: the encoder runs under bfloat16 autocast; fast on
CPUs with AVX512-BF16 or AMX and on GPUs, slower than float32 elsewhere.

The skill matrix is always the float32 model's (cached once); only sentences go through the reduced encoder, and
token embeddings come back as float32. Backend ``onnx`` runs the encoder on ONNX Runtime instead of torch, in
float32 or int8 (:mod:`contextmatch.onnx_runtime`).
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

QUANTIZE_MODES = ("int8", "bf16")
BACKENDS = ("torch", "onnx")


class SentenceEncoder(nn.Module):
    """``(input_ids, attention_mask) -> float32 token embeddings``: ``model.encode_sentences`` in float32, with
    an int8 encoder, or under bfloat16 autocast."""

    def __init__(self, model: nn.Module, mode: str | None = None):
        super().__init__()
        self.model, self.mode = model, mode

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.mode == "bf16":
            with torch.autocast(input_ids.device.type, dtype=torch.bfloat16):
                return self.model.encode_sentences(input_ids, attention_mask).float()
        return self.model.encode_sentences(input_ids, attention_mask).float()


def sentence_encoder(model, mode: str | None = None, backend: str = "torch"):
    """The sentence side of a ConTeXT-match ``model`` in ``mode`` (``None``: float32, ``int8`` or ``bf16``) on
    ``backend`` (``torch`` or ``onnx``): a callable ``(input_ids, attention_mask) -> float32 token embeddings``.

    ``int8`` quantizes a copy of the model, so ``model`` itself (and its cached skill matrix) is unchanged.
    """
    if mode is not None and mode not in QUANTIZE_MODES:
        raise ValueError(f"unknown quantize mode {mode!r}: choose one of {', '.join(QUANTIZE_MODES)}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if backend == "onnx":
        if mode == "bf16" or model.device.type != "cpu":
            raise ValueError("the onnx backend runs float32 or int8 on CPU")
        from .onnx_runtime import onnx_encoder

        return onnx_encoder(model, mode)
    if mode is None or mode == "bf16":
        return SentenceEncoder(model, mode)
    if model.device.type != "cpu":
        raise ValueError(f"int8 quantization runs on CPU only, not on {model.device.type}: use bf16 there")
    return SentenceEncoder(quantize_int8(model), "int8")


def quantize_int8(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose Linear layers are dynamically quantized to int8 (per-channel weights)."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():  # the eager quantization API warns that it is deprecated; torch is pinned
        warnings.simplefilter("ignore")
        return quantize_dynamic(copy.deepcopy(model).eval(), {nn.Linear: per_channel_dynamic_qconfig})
