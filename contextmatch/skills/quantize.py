"""Reduced-precision sentence encoders that keep the token embeddings ConTeXT scoring needs.

``int8``: every Linear layer of the encoder multiplies in int8 (:class:`Int8Linear`): int8 weights with a scale per
output channel, and each token's activations rounded to int8 with a scale of their own at every call, so one large
value (these encoders have a few) coarsens only its own token, and a sentence's neighbours in a batch do not set its
scales. The products accumulate in int32 (``torch._int_mm``), exactly.
``bf16``: the encoder runs under bfloat16 autocast; fast on CPUs with AVX512-BF16 or AMX and on GPUs, slower than
float32 elsewhere.

The skill matrix is always the float32 model's (cached once); only sentences go through the reduced encoder, and
token embeddings come back as float32. Backend ``onnx`` runs the encoder on ONNX Runtime instead of torch, in
float32 or int8 (:mod:`contextmatch.skills.onnx_runtime`).

``auto`` (what ``contextmatch extract`` and ``batch`` use unless told otherwise) picks the fastest encoder that
stays within 0.5 RP@5 of float32 on the pooled validation splits, where it can run: bf16 on CPUs with AMX tiles
(:func:`amx_cpu`), int8 on other CPUs (torch, or ONNX Runtime with ``--backend onnx``), float32 elsewhere (GPUs).
Measured by ``benchmarks/throughput.py``, ``benchmarks/accuracy.py`` and ``scripts/int8_layouts.py``
(``results/speed/``).
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import torch
from torch import nn

QUANTIZE_MODES = ("int8", "bf16")
BACKENDS = ("torch", "onnx")
AUTO = "auto"
# The encoder the gate and the decision layer are fitted on (scripts/train_gate.py, tune_selection.py,
# gate_cutoff.py): what ``auto`` picks on CPUs without AMX.
FIT_QUANTIZE = "int8"


def amx_cpu(cpuinfo: str | None = None) -> bool:
    """Whether the CPU has AMX bfloat16 tiles (``amx_bf16`` among the flags of ``cpuinfo``, the text of
    ``/proc/cpuinfo`` when not given; ``False`` where that cannot be read), where the bf16 encoder is the fastest.

    >>> amx_cpu("flags : fpu avx512f avx512_bf16 amx_bf16 amx_tile"), amx_cpu("flags : fpu avx2 fma")
    (True, False)
    """
    if cpuinfo is None:
        return _amx_here()
    return any("amx_bf16" in line.split(":", 1)[1].split() for line in cpuinfo.splitlines()
               if line.startswith("flags") and ":" in line)


@functools.lru_cache(maxsize=1)
def _amx_here() -> bool:
    try:
        return amx_cpu(Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return False


def resolve_quantize(mode: str | None, backend: str = "torch", device: str = "cpu") -> str | None:
    """The precision ``mode`` stands for (``None`` is float32): ``fp32`` becomes ``None``; ``auto`` becomes
    ``bf16`` for torch on a CPU with AMX (:func:`amx_cpu`), else ``int8`` where int8 runs (CPU, and for torch a
    quantized engine), else ``None``; other modes stay as they are.

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
    if amx_cpu():
        return "bf16"
    return "int8" if int8_runs() else None


@functools.lru_cache(maxsize=1)
def int8_runs() -> bool:
    """Whether this torch multiplies int8 matrices on the CPU (``torch._int_mm``)."""
    try:
        torch._int_mm(torch.ones(17, 8, dtype=torch.int8), torch.ones(8, 8, dtype=torch.int8))
        return True
    except (AttributeError, RuntimeError):
        return False


def encoder_name(mode: str | None, backend: str = "torch") -> str:
    """How the sentence encoder runs, in words (torch int8 names its per-token scales: earlier releases ran another
    int8 layout, and a batch run does not resume under a different encoder).

    >>> encoder_name(None), encoder_name("int8", "onnx"), encoder_name("int8")
    ('torch fp32', 'ONNX Runtime int8', 'torch int8 (per-token scales)')
    """
    name = f"{'ONNX Runtime' if backend == 'onnx' else 'torch'} {mode or 'fp32'}"
    return f"{name} (per-token scales)" if (mode, backend) == ("int8", "torch") else name


class SentenceEncoder(nn.Module):
    """``(input_ids, attention_mask) -> float32 token embeddings``: ``model.encode_sentences`` in float32, with
    an int8 encoder (a model from :func:`quantize_int8`), or under bfloat16 autocast."""

    def __init__(self, model: nn.Module, mode: str | None = None):
        super().__init__()
        self.model, self.mode = model, mode

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        with torch.autocast(input_ids.device.type, dtype=torch.bfloat16, enabled=self.mode == "bf16"):
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


def quantize_rows(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row of ``values`` (rows, n) as int8 times a float32 scale (rows, 1): its largest magnitude maps to 127.

    >>> q, scale = quantize_rows(torch.tensor([[0.5, -1.0], [0.0, 0.0]]))
    >>> q.tolist(), (scale * 127).flatten().tolist()[0]
    ([[64, -127], [0, 0]], 1.0)
    """
    scale = values.abs().amax(dim=1, keepdim=True).clamp_(min=1e-12).div_(127)
    return torch.div(values, scale).round_().to(torch.int8), scale


class Int8Linear(nn.Module):
    """A Linear layer that multiplies in int8: weights rounded once per output channel, each input row (a token)
    rounded at each call with its own scale; int32 products, float32 out.

    >>> linear = nn.Linear(64, 8)
    >>> x = torch.randn(5, 64)
    >>> bool((Int8Linear(linear)(x) - linear(x)).abs().max() < 0.05)
    True
    """

    def __init__(self, linear: nn.Linear):
        super().__init__()
        weight, scale = quantize_rows(linear.weight.detach().float())
        self.register_buffer("weight", weight)  # (out, in)
        self.register_buffer("scale", scale.flatten())  # (out,)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        rows, row_scale = quantize_rows(x.reshape(-1, shape[-1]).float())
        out = torch._int_mm(rows, self.weight.T).float().mul_(row_scale).mul_(self.scale)
        if self.bias is not None:
            out.add_(self.bias)
        return out.view(*shape[:-1], -1)


def quantize_int8(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose Linear layers are all :class:`Int8Linear`."""
    quantized = copy.deepcopy(model).eval()
    modules = dict(quantized.named_modules())
    for name, module in list(modules.items()):
        if type(module) is nn.Linear:
            parent, _, child = name.rpartition(".")
            setattr(modules[parent], child, Int8Linear(module))
    return quantized
