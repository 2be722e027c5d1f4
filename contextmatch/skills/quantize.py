"""Reduced-precision sentence encoders that keep the token embeddings ConTeXT scoring needs.

``int8``: the encoder's Linear layers with int8 weights (per output channel) and int8 activations quantized per
call (torch dynamic quantization, fbgemm kernels; CPU only), except the layers that project down (the feed-forward
output, which reads the activation's outliers: a per-tensor int8 scale loses the rest of its values), which run in
bfloat16 where the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX) and in float32 elsewhere
(:func:`down_dtype`). The activation scale is taken over at most :data:`INT8_WINDOWS` windows at a time (one outlier
sets the scale of every value quantized with it), so a sentence's scores can move slightly with its neighbours.
``bf16``: the encoder runs under bfloat16 autocast; fast on CPUs with AVX512-BF16 or AMX and on GPUs, slower than
float32 elsewhere.

The skill matrix is always the float32 model's (cached once); only sentences go through the reduced encoder, and
token embeddings come back as float32. Backend ``onnx`` runs the encoder on ONNX Runtime instead of torch, in
float32 or int8 (:mod:`contextmatch.skills.onnx_runtime`).

``auto`` (what ``contextmatch extract`` and ``batch`` use unless told otherwise) picks the fastest encoder that
stays within 0.5 RP@5 of float32 on the pooled validation splits, where it can run: bf16 on CPUs with AMX tiles
(:func:`amx_cpu`), int8 on other CPUs (torch's quantized engine, or ONNX Runtime with ``--backend onnx``), float32
elsewhere (GPUs, or a torch without a quantized engine). Measured by ``benchmarks/throughput.py`` and
``benchmarks/accuracy.py`` (``results/speed/``).
"""

from __future__ import annotations

import copy
import functools
import warnings
from pathlib import Path

import torch
from torch import nn

from .topk import bound_dtype

QUANTIZE_MODES = ("int8", "bf16")
BACKENDS = ("torch", "onnx")
AUTO = "auto"
INT8_ENGINES = ("x86", "fbgemm", "qnnpack", "onednn")  # torch's quantized CPU engines that run dynamic int8 Linear
INT8_WINDOWS = 16  # windows that share an int8 activation scale (scripts/int8_layouts.py)
# The encoder the gate and the decision layer are fitted on (scripts/train_gate.py, tune_selection.py,
# gate_cutoff.py), whatever the machine that fits them: what ``auto`` picks on CPUs without AMX, with the
# feed-forward outputs in float32 (as on CPUs without native bfloat16).
FIT_QUANTIZE = "int8"
FIT_DOWN = torch.float32


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
    return "int8" if any(e in INT8_ENGINES for e in torch.backends.quantized.supported_engines) else None


def down_dtype() -> torch.dtype:
    """The dtype of the feed-forward outputs of the torch int8 encoder: bfloat16 where this CPU multiplies it
    natively, else float32."""
    return bound_dtype("cpu")


def encoder_name(mode: str | None, backend: str = "torch", down: torch.dtype = torch.float32) -> str:
    """How the sentence encoder runs, in words (``down``: the dtype of torch int8's feed-forward outputs).

    >>> encoder_name(None), encoder_name("int8", "onnx"), encoder_name("int8", down=torch.bfloat16)
    ('torch fp32', 'ONNX Runtime int8', 'torch int8 (feed-forward outputs bf16)')
    """
    name = f"{'ONNX Runtime' if backend == 'onnx' else 'torch'} {mode or 'fp32'}"
    return f"{name} (feed-forward outputs bf16)" if (mode, backend, down) == ("int8", "torch", torch.bfloat16) \
        else name


class SentenceEncoder(nn.Module):
    """``(input_ids, attention_mask) -> float32 token embeddings``: ``model.encode_sentences`` in float32, with
    an int8 encoder, or under bfloat16 autocast."""

    def __init__(self, model: nn.Module, mode: str | None = None, int8_windows: int | None = INT8_WINDOWS):
        super().__init__()
        self.model, self.mode, self.int8_windows = model, mode, int8_windows

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.mode == "bf16":
            with torch.autocast(input_ids.device.type, dtype=torch.bfloat16):
                return self.model.encode_sentences(input_ids, attention_mask).float()
        return in_groups(self._encode, input_ids, attention_mask, self.int8_windows if self.mode == "int8" else None)

    def _encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model.encode_sentences(input_ids, attention_mask).float()


def in_groups(encode, input_ids: torch.Tensor, attention_mask: torch.Tensor, windows: int | None) -> torch.Tensor:
    """``encode(input_ids, attention_mask)`` over groups of at most ``windows`` windows (all at once when None), each
    group without the padding it does not need (padding would join an int8 activation scale), padded back with zeros
    to the batch's width."""
    if not windows or len(input_ids) <= windows:
        return encode(input_ids, attention_mask)
    width, parts = input_ids.shape[1], []
    for ids, mask in zip(input_ids.split(windows), attention_mask.split(windows)):
        used = int(mask.sum(dim=1).max())
        if mask[:, used:].any():  # padded on the left: nothing to trim
            used = width
        parts.append(nn.functional.pad(encode(ids[:, :used], mask[:, :used]), (0, 0, 0, width - used)))
    return torch.cat(parts)


def sentence_encoder(model, mode: str | None = None, backend: str = "torch", down: torch.dtype | None = None):
    """The sentence side of a ConTeXT-match ``model`` in ``mode`` (``None``: float32, ``int8``, ``bf16`` or
    ``auto``, see :func:`resolve_quantize`) on ``backend`` (``torch`` or ``onnx``): a callable
    ``(input_ids, attention_mask) -> float32 token embeddings``.

    ``int8`` quantizes a copy of the model, so ``model`` itself (and its cached skill matrix) is unchanged; its
    feed-forward outputs run in ``down`` (default :func:`down_dtype`).
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
    return SentenceEncoder(quantize_int8(model, down=down), "int8")


def int8_layers(model: nn.Module) -> list[str]:
    """Names of the Linear layers :func:`quantize_int8` quantizes: all but those with more inputs than outputs (the
    feed-forward output of each transformer layer). Keeping those in float32 or bfloat16, with an activation scale
    per :data:`INT8_WINDOWS` windows, keeps the pooled validation RP@5 of the shipped model within 0.5 of
    float32's, where every layer in int8 lost 0.6 to 1.2 points (``scripts/int8_layouts.py``,
    ``results/speed/int8_layouts.json``).

    >>> int8_layers(nn.Sequential(nn.Linear(4, 16), nn.GELU(), nn.Linear(16, 4)))
    ['0']
    """
    return [name for name, module in model.named_modules()
            if isinstance(module, nn.Linear) and module.in_features <= module.out_features]


class Bf16Linear(nn.Module):
    """A Linear layer that multiplies in bfloat16 (its weights stored so) and returns float32."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.register_buffer("weight", linear.weight.detach().to(torch.bfloat16))
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().to(torch.bfloat16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x.to(torch.bfloat16), self.weight, self.bias).float()


def quantize_int8(model: nn.Module, layers: list[str] | None = None, down: torch.dtype | None = None) -> nn.Module:
    """A copy of ``model`` whose Linear layers ``layers`` (default: :func:`int8_layers`) are dynamically quantized to
    int8 (per-channel weights); its other Linear layers run in ``down`` (default :func:`down_dtype`: bfloat16 or
    float32)."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():  # the eager quantization API warns that it is deprecated; torch is pinned
        warnings.simplefilter("ignore")
        quantized = quantize_dynamic(copy.deepcopy(model).eval(),
                                     {name: per_channel_dynamic_qconfig for name in layers or int8_layers(model)})
    if (down or down_dtype()) == torch.bfloat16:
        modules = dict(quantized.named_modules())
        for name, module in list(modules.items()):
            if type(module) is nn.Linear:
                parent, _, child = name.rpartition(".")
                setattr(modules[parent], child, Bf16Linear(module))
    return quantized
