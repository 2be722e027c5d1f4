"""Reduced-precision sentence encoders that keep the token embeddings ConTeXT scoring needs.

``int8``: the encoder's Linear layers with int8 weights (per output channel) and int8 activations quantized per
call (torch dynamic quantization, fbgemm kernels; CPU only). The activation scale is taken over the whole batch, so
a sentence's scores can move slightly with its batch. ``bf16``: the encoder runs under bfloat16 autocast; fast on
CPUs with AVX512-BF16 or AMX and on GPUs, slower than float32 elsewhere.

The skill matrix is always the float32 model's (cached once); only sentences go through the reduced encoder, and
token embeddings come back as float32. Backend ``onnx`` runs the encoder on ONNX Runtime instead of torch, in
float32 or int8 (:mod:`contextmatch.skills.onnx_runtime`).

``auto`` (what ``contextmatch extract`` and ``batch`` use unless told otherwise) picks the fastest encoder that
stays within 0.5 RP@5 of float32 on the pooled validation splits, where it can run: int8 on CPU (torch's quantized
engine, or ONNX Runtime with ``--backend onnx``), float32 elsewhere (GPUs, or a torch without a quantized engine).
Measured by ``benchmarks/throughput.py`` and ``benchmarks/accuracy.py`` (``results/speed/``).
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

QUANTIZE_MODES = ("int8", "bf16")
BACKENDS = ("torch", "onnx")
AUTO = "auto"
INT8_ENGINES = ("x86", "fbgemm", "qnnpack", "onednn")  # torch's quantized CPU engines that run dynamic int8 Linear


def resolve_quantize(mode: str | None, backend: str = "torch", device: str = "cpu") -> str | None:
    """The precision ``mode`` stands for (``None`` is float32): ``fp32`` becomes ``None``; ``auto`` becomes
    ``int8`` where int8 runs (CPU, and for torch a quantized engine), else ``None``; other modes stay as they are.

    >>> resolve_quantize("auto", "torch", "cuda"), resolve_quantize("bf16", "torch", "cpu"), resolve_quantize("fp32")
    (None, 'bf16', None)
    """
    if mode == "fp32":  # the CLI's name for float32
        return None
    if mode != AUTO:
        return mode
    if str(device).split(":")[0] != "cpu":
        return None
    if backend == "onnx":
        return "int8"
    return "int8" if any(e in INT8_ENGINES for e in torch.backends.quantized.supported_engines) else None


def encoder_name(mode: str | None, backend: str = "torch") -> str:
    """How the sentence encoder runs, in words.

    >>> encoder_name(None), encoder_name("int8", "onnx")
    ('torch fp32', 'ONNX Runtime int8')
    """
    return f"{'ONNX Runtime' if backend == 'onnx' else 'torch'} {mode or 'fp32'}"


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
    """The sentence side of a ConTeXT-match ``model`` in ``mode`` (``None``: float32, ``int8``, ``bf16`` or
    ``auto``, see :func:`resolve_quantize`) on ``backend`` (``torch`` or ``onnx``): a callable
    ``(input_ids, attention_mask) -> float32 token embeddings``.

    ``int8`` quantizes a copy of the model, so ``model`` itself (and its cached skill matrix) is unchanged.
    """
    if mode is not None and mode not in (*QUANTIZE_MODES, AUTO, "fp32"):
        raise ValueError(f"unknown quantize mode {mode!r}: choose one of {', '.join(QUANTIZE_MODES)}, fp32, {AUTO}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    mode = resolve_quantize(mode, backend, model.device.type)
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
