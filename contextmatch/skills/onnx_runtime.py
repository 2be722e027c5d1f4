"""The sentence encoder on ONNX Runtime, in float32 or int8; token embeddings out, as ConTeXT scoring needs.

The encoder is exported once per model (keyed by a digest of its weights) into the user cache, and quantized from
there for int8 (dynamic quantization: int8 weights per output channel, activations quantized per call with one scale
for :data:`INT8_WINDOWS` windows, so a sentence's int8 scores can move slightly with its batch). Needs the optional
extra: ``pip install "contextmatch[onnx]"`` (onnxruntime; onnx and onnxscript for the export).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

from ..cache import cache_dir, model_fingerprint

OPSET = 18
ONNX_MODES = (None, "int8")
INT8_WINDOWS = 16  # windows that share an int8 activation scale on ONNX Runtime


class OnnxUnavailable(ValueError):
    """ONNX Runtime (or the exporter's packages) is not installed."""


def _require(module: str):
    try:
        return __import__(module)
    except ImportError as err:
        raise OnnxUnavailable(f"the onnx backend needs {module}: pip install \"contextmatch[onnx]\"") from err


class _TokenEmbeddings(torch.nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids, attention_mask):
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def export_encoder(model, path: Path) -> Path:
    """Export ``model.encoder`` as ONNX ``(input_ids, attention_mask) -> tokens`` with dynamic batch and length."""
    for module in ("onnx", "onnxscript"):
        _require(module)
    example = (torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]]), torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]]))
    dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("tokens", max=4096)}
    wrapper = _TokenEmbeddings(model.encoder).to("cpu").eval()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr), _quiet("torch.onnx"):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(wrapper, example, input_names=["input_ids", "attention_mask"],
                                    output_names=["tokens"], opset_version=OPSET, dynamo=True, verbose=False,
                                    dynamic_shapes={"input_ids": dims, "attention_mask": dims})
        program.save(str(path), external_data=False)
    return path


def down_projections(source: Path) -> list[str]:
    """Names of the MatMul nodes whose weight has more inputs than outputs (the feed-forward outputs), which int8
    leaves in float32: they read the activations' outliers, which a per-tensor scale cannot hold."""
    import onnx

    graph = onnx.load(str(source)).graph
    weights = {w.name: tuple(w.dims) for w in graph.initializer}
    return [node.name for node in graph.node if node.op_type == "MatMul"
            and any(len(weights.get(i, ())) == 2 and weights[i][0] > weights[i][1] for i in node.input[1:])]


def quantize_onnx(source: Path, path: Path) -> Path:
    """Dynamic int8 quantization of an exported encoder (int8 weights per output channel), the feed-forward outputs
    left in float32."""
    _require("onnxruntime")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet("root"):
        quantize_dynamic(str(source), str(path), per_channel=True, weight_type=QuantType.QInt8,
                         nodes_to_exclude=down_projections(source))
    return path


@contextlib.contextmanager
def _quiet(logger: str):
    """Silence a logger's warnings (export and quantization tools log advice on every run)."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def onnx_model_path(model, quantize: str | None = None) -> Path:
    """The cached ONNX file of ``model``'s encoder (``quantize``: ``None`` or ``"int8"``), made once."""
    if quantize not in ONNX_MODES:
        raise ValueError(f"the onnx backend runs float32 or int8, not {quantize!r}")
    key = f"{model_fingerprint(model)}-opset{OPSET}"
    root = cache_dir() / "onnx"
    fp32 = root / f"{key}.onnx"
    if not fp32.exists():
        _atomic(fp32, lambda tmp: export_encoder(model, tmp))
    if quantize is None:
        return fp32
    int8 = root / f"{key}-int8-ffn32.onnx"  # the feed-forward outputs in float32
    if not int8.exists():
        _atomic(int8, lambda tmp: quantize_onnx(fp32, tmp))
    return int8


def _atomic(path: Path, make) -> None:
    """Write ``path`` through a temporary folder, so a killed run never leaves a half-written model."""
    staging = path.with_suffix(".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        make(staging / "model.onnx")
        (staging / "model.onnx").replace(path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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


class OnnxSentenceEncoder:
    """``(input_ids, attention_mask) -> float32 token embeddings`` on ONNX Runtime's CPU provider.

    Its intra-op pool has torch's thread count, and its threads sleep between runs instead of spinning: ConTeXT
    scoring runs on torch's OpenMP threads right after each encoder call, and spinning ONNX threads would take the
    same cores from them (with two threads on two cores, four busy threads).
    """

    def __init__(self, path: Path, threads: int | None = None, int8_windows: int | None = None):
        ort = _require("onnxruntime")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.path, self.int8_windows = Path(path), int8_windows
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return in_groups(self._run, input_ids, attention_mask, self.int8_windows)

    def _run(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        feed = {"input_ids": input_ids.cpu().numpy(), "attention_mask": attention_mask.cpu().numpy()}
        return torch.from_numpy(self.session.run(None, feed)[0]).to(input_ids.device)


def onnx_encoder(model, quantize: str | None = None, threads: int | None = None) -> OnnxSentenceEncoder:
    """The sentence encoder of ``model`` on ONNX Runtime, exported (and quantized) on first use."""
    _require("onnxruntime")
    return OnnxSentenceEncoder(onnx_model_path(model, quantize), threads,
                               INT8_WINDOWS if quantize == "int8" else None)
