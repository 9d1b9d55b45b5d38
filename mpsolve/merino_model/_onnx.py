"""ONNX export of MeRino models, ONNX Runtime inference (verify, generate) and ORT dynamic INT8.

Two graphs, both with a dynamic batch and sequence length:

- ``kv_cache=False``: ``input_ids (batch, seq) -> logits (batch, seq, vocab)``, the prefill of a
  prompt (causal attention, positions from 0);
- ``kv_cache=True``: also takes ``past_key_values.{i}.key`` / ``.value``
  ``(batch, heads_i, past, head_dim)`` for every layer *application* ``i`` (a shared layer
  applied ``L`` times has ``L`` slots) and returns ``present.{i}.key`` / ``.value`` with
  ``past + seq`` positions. Positions count from ``past`` and the mask lets query ``j`` see keys
  ``0 .. past + j``, so one graph serves the prompt (``past = 0``: empty arrays) and every
  decoding step (``seq = 1``).

With ``lean=True`` the tied embedding table is stored once, as the LM head's ``(D, vocab)`` weight;
the embedding gathers its columns. ONNX Runtime folds the ``Transpose`` the exporter writes for the
head into a second copy of the table, and its prepacked matmul weights are copies too: a lean graph
loaded with prepacking off (``session.disable_prepacking``, which :func:`onnx_session` sets for it)
holds the table once. What that saves and costs: ``benchmarks/results/onnx_lean.md``.

Both return every position's logits, or with ``logits="last"`` the last position's only
``(batch, 1, vocab)``: what generation needs, with the LM head run on one position instead of
``seq`` (``verify_onnx`` then checks that position; ``compare_onnx`` needs every position).

The exporter is ``torch.onnx.export(dynamo=True)`` (``torch.export`` + ``onnxscript``), the one
PyTorch maintains; the TorchScript exporter also handles these graphs and exports the tiny test
models about 20x faster, but PyTorch deprecated it in 2.9. The graphs have no attention-mask
input: a batch holds prompts of one length (no left padding).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mpsolve.merino_model._errors import ModelInputError, check_id_range, require
from mpsolve.merino_model._generation import (
    check_length,
    check_prompts,
    check_special_ids,
    check_streamer,
    next_tokens,
    sampling_generator,
    torch_seed,
)
from mpsolve.merino_model._model import KVCache, MeRinoForCausalLM
from mpsolve.utils.errors import shown
from mpsolve.utils.files import check_not_input, check_suffix, check_writable
from mpsolve.utils.validation import check_bool, check_integer, is_integer

__all__ = ["DEFAULT_OPSET", "compare_onnx", "export_onnx", "onnx_generate", "onnx_tokenizer", "quantize_onnx",
           "verify_onnx"]

#: the opset :func:`export_onnx` writes unless told otherwise
DEFAULT_OPSET = 18
_META_GRAPH = "mpsolve.graph"
_META_ARCH = "mpsolve.architecture"
_META_TOKENIZER = "mpsolve.tokenizer"
_META_LOGITS = "mpsolve.logits"
#: a graph whose tied table is stored once, transposed (``export_onnx(lean=True)``): load it with prepacking off
META_LEAN = "mpsolve.lean"
#: the ONNX Runtime session option that keeps a matmul's constant weight as it is stored, not in a packed copy
DISABLE_PREPACKING = "session.disable_prepacking"
#: which positions' logits an exported graph returns
LOGITS = ("all", "last")
_PAST = "past_key_values.{}.{}"
_PRESENT = "present.{}.{}"


class _PrefillGraph(nn.Module):
    """``input_ids -> logits`` with positions from 0 and causal attention (the last ``keep`` positions' logits;
    0: all)."""

    def __init__(self, model: MeRinoForCausalLM, keep: int) -> None:
        super().__init__()
        self.model, self.keep = model, keep

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        b, t = input_ids.shape
        positions = torch.arange(t, device=input_ids.device)[None].expand(b, t)
        return self.model._logits(input_ids, positions, None, True, None, self.keep)


class _CacheGraph(nn.Module):
    """``input_ids, past keys/values -> logits, present keys/values`` for any ``past >= 0`` (the last
    ``keep`` positions' logits; 0: all)."""

    def __init__(self, model: MeRinoForCausalLM, keep: int) -> None:
        super().__init__()
        self.model, self.keep = model, keep

    def forward(self, input_ids: torch.Tensor, past: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        b, t = input_ids.shape
        past_len = past[0].shape[-2]
        query_positions = torch.arange(t, device=input_ids.device) + past_len
        key_positions = torch.arange(past_len + t, device=input_ids.device)
        mask = key_positions[None, :] <= query_positions[:, None]
        cache = KVCache()
        cache.keys, cache.values = list(past[0::2]), list(past[1::2])
        logits = self.model._logits(input_ids, query_positions[None].expand(b, t), mask, False, cache, self.keep)
        return (logits, *(x for kv in zip(cache.keys, cache.values) for x in kv))


def _pure_model(model: nn.Module) -> MeRinoForCausalLM:
    """The pure-PyTorch network of ``model`` (itself, or the ``.model`` of the HF wrapper)."""
    inner = getattr(model, "model", None)
    net = model if isinstance(model, MeRinoForCausalLM) else inner if isinstance(inner, MeRinoForCausalLM) else None
    if net is not None and not any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in net.modules()):
        return net
    raise ModelInputError(
        f"export_onnx takes a MeRinoForCausalLM or MeRinoHFForCausalLM, got {type(model).__name__} "
        "(export the fp32 model and quantise the ONNX file with quantize_onnx)"
    )


def _slot_heads(model: MeRinoForCausalLM) -> list[int]:
    """Attention heads of every layer application, in cache-slot order."""
    return [layer.num_heads for block in model.blocks for layer in block.applied_layers()]


def _export_dims(max_positions: int) -> tuple[Any, Any, Any, Any]:
    """The dynamic axes of an exported graph: batch, new positions, cached positions, and all positions
    (cached and new: a mask's keys), as ``torch.export.Dim``."""
    return (torch.export.Dim("batch", max=1 << 16), torch.export.Dim("seq", max=max_positions),
            torch.export.Dim("past", max=max_positions - 1), torch.export.Dim("total", max=max_positions))


@contextlib.contextmanager
def _quiet_loggers(levels: dict[str, int]) -> Iterator[None]:
    """The named loggers at the given levels for the block, their own levels back after."""
    loggers = {logging.getLogger(name): level for name, level in levels.items()}
    before = {logger: logger.level for logger in loggers}
    try:
        for logger, level in loggers.items():
            logger.setLevel(level)
        yield
    finally:
        for logger, level in before.items():
            logger.setLevel(level)


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    kv_cache: bool = False,
    opset: int = DEFAULT_OPSET,
    external_data: bool = False,
    tokenizer: Any = None,
    logits: str = "all",
    lean: bool = False,
) -> Path:
    """Export a MeRino model to an ONNX file (see the module docstring for the two graphs).

    Args:
        model: a :class:`MeRinoForCausalLM` or the Hugging Face wrapper (fp32, any device).
        path: the ``.onnx`` file to write (its folder is created).
        kv_cache: export the graph with past/present keys and values for token-by-token decoding.
        opset: the ONNX opset of the graph, 17 or later (LayerNormalization).
        external_data: store the weights in ``<path>.data`` beside the graph (needed above 2 GB).
        tokenizer: the model's tokenizer, recorded in the graph so that the file alone can be
            deployed (:func:`onnx_tokenizer` reads it back): ``"bytes"`` for the byte vocabulary,
            a ``tokenizers.Tokenizer`` (e.g. :func:`checkpoint_bpe_tokenizer`) or a ``transformers``
            fast tokenizer; ``None`` records none.
        logits: ``"all"``: every position's logits (scoring, perplexity, :func:`compare_onnx`);
            ``"last"``: the last position's only, all that generation needs: the output projection
            and the LM head run on one position, so a prompt's first token comes sooner.
        lean: store the tied embedding table once, as the head's ``(D, vocab)`` weight, for ONNX
            Runtime sessions with prepacking off (``session.disable_prepacking = "1"``; recorded in
            the metadata, which :func:`onnx_session` reads): the session holds the table once
            instead of twice (see the module docstring).

    Returns:
        the path written. The architecture (JSON), the graph kind, which logits it returns and
        the tokenizer are in the model's metadata.
    """
    require("onnx", "onnx")
    require("onnxscript", "onnx")
    if logits not in LOGITS:
        raise ModelInputError(f"logits must be one of {', '.join(LOGITS)}, got {logits!r}")
    # a truthy string such as "no" exported the other graph, or the weights apart, silently
    kv_cache = check_bool(kv_cache, "kv_cache", ModelInputError)
    external_data = check_bool(external_data, "external_data", ModelInputError)
    lean = check_bool(lean, "lean", ModelInputError)
    keep = 1 if logits == "last" else 0
    tokenizer = getattr(tokenizer, "backend_tokenizer", tokenizer)  # a transformers fast tokenizer's own
    if tokenizer is not None and tokenizer != "bytes" and not callable(getattr(tokenizer, "to_str", None)):
        raise ModelInputError("tokenizer must be 'bytes', a tokenizers.Tokenizer, a transformers fast tokenizer or "
                              f"None, got {type(tokenizer).__name__}")
    path = check_writable(check_suffix(path, ".onnx", "path", ModelInputError), "path")
    opset = check_opset(opset)
    net = _pure_model(model)
    arch = net.architecture
    least = 3 if kv_cache else 2  # torch.export cannot make a dimension that is at most 1 dynamic
    if arch.max_positions < least:
        raise ModelInputError(f"export_onnx needs max_positions >= {least}{' with kv_cache' if kv_cache else ''} (a "
                              f"dynamic sequence or cache length of at most 1 cannot be exported), got "
                              f"{arch.max_positions}: build the architecture with a larger max_positions")
    path.parent.mkdir(parents=True, exist_ok=True)
    device = next(net.parameters()).device
    batch, seq, past_len, _ = _export_dims(arch.max_positions)
    ids = torch.zeros(2, min(3, arch.max_positions), dtype=torch.long, device=device)
    if kv_cache:
        heads = _slot_heads(net)
        past = [
            torch.zeros(2, h, 2, arch.head_dim, device=device) for h in heads for _ in range(2)
        ]
        graph: nn.Module = _CacheGraph(net, keep)
        args: tuple[Any, ...] = (ids, past)
        dynamic_shapes: Any = {"input_ids": {0: batch, 1: seq}, "past": [{0: batch, 2: past_len} for _ in past]}
        slots = range(len(heads))
        input_names = ["input_ids", *(_PAST.format(i, kv) for i in slots for kv in ("key", "value"))]
        output_names = ["logits", *(_PRESENT.format(i, kv) for i in slots for kv in ("key", "value"))]
    else:
        graph = _PrefillGraph(net, keep)
        args = (ids,)
        dynamic_shapes = {"input_ids": {0: batch, 1: seq}}
        input_names, output_names = ["input_ids"], ["logits"]
    was_training = net.training
    graph.eval()
    try:
        # the opset converter logs a failed conversion with its traceback, and the graph keeps the exporter's opset;
        # torch's exporter logs a line per torchvision operator it skips (no MeRino graph uses them)
        with torch.no_grad(), warnings.catch_warnings(), _quiet_loggers(
                {"onnxscript.version_converter": logging.CRITICAL, "torch.onnx": logging.ERROR}):
            # torch's notes that axes sharing one Dim keep its name, and a pytree deprecation inside torch
            warnings.filterwarnings("ignore", message=r"# The axis name: .* will not be used")
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning)
            program = torch.onnx.export(
                graph,
                args,
                dynamo=True,
                dynamic_shapes=dynamic_shapes,
                input_names=input_names,
                output_names=output_names,
                opset_version=opset,
                verbose=False,
            )
    finally:
        net.train(was_training)
    written = program.model.opset_imports.get("")
    if written != opset:  # the graph would mix the opsets: ONNX Runtime refuses it
        raise ModelInputError(f"torch's ONNX exporter cannot write this model in opset {opset} (its graph kept opset "
                              f"{written}): give a lower opset (the default, {DEFAULT_OPSET}, works)")
    if lean:
        _store_table_transposed(program.model)
        program.model.metadata_props[META_LEAN] = "true"
    program.model.metadata_props[_META_GRAPH] = "kv_cache" if kv_cache else "prefill"
    program.model.metadata_props[_META_ARCH] = json.dumps(arch.to_dict(), sort_keys=True)
    program.model.metadata_props[_META_LOGITS] = logits
    if tokenizer is not None:
        program.model.metadata_props[_META_TOKENIZER] = tokenizer if tokenizer == "bytes" else tokenizer.to_str()
    program.save(path, external_data=external_data)
    return path


def _store_table_transposed(model: Any, ids_input: str = "input_ids", tied: bool = True) -> None:
    """Rewrite the exported ``onnx_ir`` model so that its tied table is stored once, as the head's ``(D, V)`` weight:
    ``Gather(W, ids)`` becomes ``Transpose(Gather(W.T, ids, axis=1))`` and ``MatMul(x, Transpose(W))``
    ``MatMul(x, W.T)``. ``tied=False``: a graph whose table only the lookup reads (the embedding a lean latency
    profile times)."""
    import onnx_ir as ir

    graph = model.graph
    ids = next(v for v in graph.inputs if v.name == ids_input)
    lookups = [node for node, _ in ids.uses() if node.op_type == "Gather"]
    table = lookups[0].inputs[0] if len(lookups) == 1 else None
    heads = [node for node, _ in table.uses() if node.op_type == "Transpose"] if table is not None else []
    if table is None or not table.is_initializer() or len(heads) != int(tied) or len(table.uses()) != 1 + tied:
        raise ModelInputError("the exported graph has no tied table read by one lookup and one transposed head: "
                              "export it without lean")  # the exporter changed how it writes the model
    transposed = np.ascontiguousarray(table.const_value.numpy().T)
    table.const_value = ir.tensor(transposed, name=table.name)
    table.shape = ir.Shape(transposed.shape)
    if tied:
        heads[0].outputs[0].replace_all_uses_with(table)
        graph.remove(heads[0], safe=True)
    lookup = lookups[0]
    columns = ir.node("Gather", [table, ids], attributes={"axis": 1})  # (D, *ids.shape)
    rows = ir.node("Transpose", columns.outputs, attributes={"perm": [1, 2, 0]})
    lookup.outputs[0].replace_all_uses_with(rows.outputs[0])
    graph.insert_after(lookup, [columns, rows])
    graph.remove(lookup, safe=True)


def check_opset(opset: Any) -> int:
    """``opset`` as an ``int`` when :func:`export_onnx` can be asked for it, else a one-line :class:`ModelInputError`.

    Every MeRino graph has LayerNormalization (opset 17+): asked for less, torch wrote 18 and said nothing. Above
    the latest opset the installed ``onnx`` knows, torch's exporter failed with a traceback (``ConversionError``).
    """
    import onnx

    opset = check_integer(opset, "opset", 17, ModelInputError)
    latest = onnx.defs.onnx_opset_version()
    if opset > latest:
        raise ModelInputError(f"opset {opset} is beyond the latest the installed onnx {onnx.__version__} knows, "
                              f"{latest}: give a lower one (the default, {DEFAULT_OPSET}, works)")
    return opset


# -- ONNX Runtime ------------------------------------------------------------------------------
def _session(model: Any, threads: int | None = None) -> Any:
    """An ``onnxruntime.InferenceSession`` (CPU) of a path or a serialised model, or ``model`` itself when it is one.

    ``threads``: intra-op threads (default: torch's current setting), as :func:`_session_options` sets them.
    """
    require("onnxruntime", "onnx")
    import onnxruntime as ort

    if isinstance(model, ort.InferenceSession):
        return model
    serialised = isinstance(model, bytes)
    if not serialised and (not isinstance(model, (str, os.PathLike)) or not Path(model).is_file()):
        what = "does not exist" if isinstance(model, (str, os.PathLike)) and not Path(model).exists() else \
            "is not an ONNX file"
        raise ModelInputError(f"{str(model)!r} {what}; give the path export_onnx wrote")
    check_graph(model)
    try:
        options = _session_options(threads, lean=_is_lean(model))
        return ort.InferenceSession(model if serialised else str(model), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT's load errors (InvalidProtobuf, Fail, ...) subclass Exception only
        what = "the serialised model" if serialised else repr(str(model))
        raise ModelInputError(f"ONNX Runtime cannot load {what}: {_load_failure(str(exc))}") from None


def _is_lean(model: str | os.PathLike | bytes) -> bool:
    """Whether an ONNX model (a file or its bytes) was exported with ``lean=True``, read from its metadata."""
    return _model_metadata(model).get(META_LEAN) == "true"


def _model_metadata(model: str | os.PathLike | bytes, max_fields: int = 1 << 16) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX model (a file or its bytes), read without parsing its graph.

    A ``ModelProto``'s fields are scanned in protobuf's wire format and every one but the metadata entries
    (field 14) is skipped by its length, so a graph's embedded weights are neither read nor parsed; so is an entry
    over 1 MiB (a tokenizer's), which may come before the small ones (INT8's tools reorder them). A file that is
    not a model yields what was read before it stopped making sense (ONNX Runtime then says why it cannot load it).
    """
    from google.protobuf.message import DecodeError
    from onnx import StringStringEntryProto

    def varint(stream: Any) -> int | None:
        value = shift = 0
        while shift < 64:
            byte = stream.read(1)
            if not byte:
                return None
            value |= (byte[0] & 0x7F) << shift
            if byte[0] < 0x80:
                return value
            shift += 7
        return None

    entries: dict[str, str] = {}
    with (io.BytesIO(model) if isinstance(model, bytes) else open(model, "rb")) as stream:  # noqa: SIM115
        size = stream.seek(0, io.SEEK_END)
        stream.seek(0)
        for _ in range(max_fields):
            tag = varint(stream)
            if tag is None:
                break
            field, wire = tag >> 3, tag & 7
            if wire == 0:
                if varint(stream) is None:
                    break
            elif wire == 2:
                length = varint(stream)
                if length is None or length > size - stream.tell():  # past the end (seek refused 2**63 and up)
                    break
                if field != 14 or length > 1 << 20:
                    stream.seek(length, io.SEEK_CUR)
                    continue
                try:
                    entry = StringStringEntryProto.FromString(stream.read(length))
                except DecodeError:
                    break
                entries[entry.key] = entry.value
            elif wire in (1, 5):
                stream.seek(8 if wire == 1 else 4, io.SEEK_CUR)
            else:
                break
    return entries


def _load_failure(message: str) -> str:
    """ONNX Runtime's reason for not loading a graph, in one line; weights stored apart (``external_data``) that
    are missing or cut short are said so (the cause came after the first 200 characters, or not at all)."""
    text = " ".join(message.split())
    missing = re.search(r'External data path does not exist: "?([^"]+)"?', text)
    if missing:
        return (f"its weights file {missing.group(1)!r} is missing: keep the weights file written with the graph "
                "beside it, or export it again")
    if "External initializer" in text or "GetExtDataFromTensorProto" in text:
        return ("its weights file (stored beside it) is shorter than the graph says: copy it again whole, or export "
                "it again")
    return (message.splitlines() or [""])[0][:200]


def _lm_session(model: Any) -> Any:
    """:func:`_session` of a causal-LM graph: ``input_ids`` (and past keys/values) in, float logits
    ``(batch, seq, vocab)`` out first, as :func:`export_onnx` writes; else a one-line error."""
    session = _session(model)
    out = session.get_outputs()[0]
    if "input_ids" not in {i.name for i in session.get_inputs()} or len(out.shape) != 3 or out.type != "tensor(float)":
        graph = repr(str(model)) if isinstance(model, (str, os.PathLike)) else "this graph"
        raise ModelInputError(f"{graph} is not a causal-LM graph (input_ids in, float logits (batch, seq, vocab) "
                              f"out; its first output is {out.name!r} {out.type} of rank {len(out.shape)}): give a "
                              "file that export_onnx or mpsolve export wrote")
    for i in _past_inputs(session):  # _run feeds an empty cache of (batch, heads, 0, head_dim)
        if len(i.shape) != 4 or not all(isinstance(n, int) for n in (i.shape[1], i.shape[3])):
            graph = repr(str(model)) if isinstance(model, (str, os.PathLike)) else "this graph"
            raise ModelInputError(f"{graph} has a cache input {i.name!r} of shape {i.shape}, not (batch, heads, past, "
                                  "head_dim) with fixed heads and head_dim: give a file that export_onnx or mpsolve "
                                  "export wrote")
    return session


def _session_options(threads: int | None, lean: bool = False) -> Any:
    """ONNX Runtime's session options for mpsolve's sessions: ``threads`` intra-op threads (``None``: torch's
    current setting, ``torch.set_num_threads`` or ``OMP_NUM_THREADS``, so that one setting governs both runtimes;
    ONNX Runtime's own default is a thread a physical core, spinning between calls), one inter-op thread, sequential
    execution; ``lean``: prepacking off (a lean graph's)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4  # an error reaches the caller as one line (see _run), not also as ORT's log
    if lean:
        options.add_session_config_entry(DISABLE_PREPACKING, "1")
    options.intra_op_num_threads = torch.get_num_threads() if threads is None else threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return options


def onnx_tokenizer(model: str | os.PathLike | Any) -> Any | None:
    """The ``transformers`` tokenizer recorded in an exported graph (``export_onnx(tokenizer=...)``,
    which ``mpsolve export`` always passes), or ``None`` when the graph records none."""
    from mpsolve.merino_model._lm_eval import tokenizer_from_json, transformers_tokenizer

    text = _session(model).get_modelmeta().custom_metadata_map.get(_META_TOKENIZER)
    if text is None:
        return None
    if text == "bytes":
        return transformers_tokenizer(None)
    graph = repr(str(model)) if isinstance(model, (str, os.PathLike)) else "this graph"  # not a session's repr
    return transformers_tokenizer(tokenizer_from_json(text, f"the tokenizer recorded in {graph}",
                                                      "export the checkpoint again with mpsolve export"))


def _logits_kept(session: Any) -> str:
    """``"all"`` or ``"last"``: the logits an exported graph returns (graphs older than the choice: all)."""
    return session.get_modelmeta().custom_metadata_map.get(_META_LOGITS, "all")


def _recorded_architecture(session: Any) -> dict[str, Any] | None:
    """The architecture fields an exported graph records (``None``: it records none); a damaged record
    is a one-line error (it was a JSONDecodeError, KeyError or TypeError)."""
    text = session.get_modelmeta().custom_metadata_map.get(_META_ARCH)
    if text is None:
        return None
    try:
        arch = json.loads(text)
    except (ValueError, RecursionError):
        arch = None
    if not (isinstance(arch, dict) and is_integer(arch.get("max_positions")) and arch["max_positions"] > 0):
        raise ModelInputError(f"the graph's record of its architecture ({_META_ARCH!r}) is damaged (no positive "
                              "max_positions): export the checkpoint again with mpsolve export")
    return arch


def _max_positions(session: Any) -> int | None:
    arch = _recorded_architecture(session)
    return int(arch["max_positions"]) if arch is not None else None


def _vocab(session: Any) -> int | None:
    """The logits' vocabulary size, ``None`` when the graph leaves it symbolic."""
    vocab = session.get_outputs()[0].shape[-1]
    return vocab if isinstance(vocab, int) else None


def _past_inputs(session: Any) -> list[Any]:
    return [i for i in session.get_inputs() if i.name.startswith("past_key_values.")]


def _run(session: Any, input_ids: np.ndarray, past: list[np.ndarray] | None) -> tuple[np.ndarray, list[np.ndarray]]:
    """Logits and present keys/values (empty for a prefill graph) of one call.

    ``past=None`` on a cache graph starts from an empty cache.
    """
    inputs = _past_inputs(session)
    feed: dict[str, np.ndarray] = {"input_ids": input_ids}
    if inputs:
        if past is None:
            past = [np.zeros((input_ids.shape[0], i.shape[1], 0, i.shape[3]), np.float32) for i in inputs]
        feed.update({i.name: p for i, p in zip(inputs, past)})
    try:
        logits, *present = session.run(None, feed)
    except Exception as exc:  # onnxruntime's errors (InvalidArgument, Fail, ...) share no public base class
        if not type(exc).__module__.startswith("onnxruntime"):
            raise
        hint = "" if _max_positions(session) is not None else (
            "; the graph records no max_positions (it was not written by mpsolve export), so a sequence longer "
            "than its position table is only found here: shorten the prompt")
        raise ModelInputError(f"ONNX Runtime could not run the graph on input_ids of shape {input_ids.shape}: "
                              f"{' '.join(str(exc).split())}{hint}") from None
    return logits, present


def _as_ids(input_ids: Any) -> np.ndarray:
    try:
        ids = input_ids.detach().cpu().numpy() if isinstance(input_ids, torch.Tensor) else np.asarray(input_ids)
    except ValueError:  # numpy refuses rows of different lengths
        raise ModelInputError("input_ids must be integers of shape (batch, seq): rows of one length") from None
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise ModelInputError(f"input_ids must be integers of shape (batch, seq), got {ids.dtype} {ids.shape}")
    return ids.astype(np.int64)


def _prompt_ids(session: Any, input_ids: Any) -> np.ndarray:
    """``input_ids`` as ``(batch, seq)`` int64 ids within the graph's vocabulary (ORT's Gather would
    wrap a negative id round instead of refusing it)."""
    ids = _as_ids(input_ids)
    vocab = _vocab(session)
    if vocab is not None and ids.size:
        check_id_range(int(ids.min()), int(ids.max()), vocab)
    return ids


def _nonempty(ids: np.ndarray) -> np.ndarray:
    """``ids``, refused when it holds no token per row (ONNX Runtime's own error names a Reshape node)."""
    if ids.shape[1] == 0:
        raise ModelInputError(f"input_ids must hold at least one token per row, got shape {ids.shape}")
    return ids


def onnx_generate(
    model: str | os.PathLike | Any,
    input_ids: Any,
    max_new_tokens: int = 32,
    *,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_token_id: int | None = None,
    pad_token_id: int | None = None,
    seed: int | torch.Generator | None = None,
    streamer: Any = None,
    attention_mask: Any = None,
) -> np.ndarray:
    """Generation in ONNX Runtime, with the KV cache when the graph has one.

    The token selection is :meth:`MeRinoForCausalLM.generate`'s: greedy unless ``do_sample``,
    which applies ``temperature``, then ``top_k``, then ``top_p``.

    Args:
        model: an exported ``.onnx`` file or an ``onnxruntime.InferenceSession`` of one; a
            prefill graph recomputes the whole sequence at every step.
        input_ids: ``(batch, seq)`` prompts of one length (array or tensor).
        max_new_tokens: tokens to add.
        eos_token_id: rows that emit it are padded with ``pad_token_id`` (default: the EOS id).
        seed: seed or ``torch.Generator`` of the sampling (``None``: torch's global RNG).
        streamer: e.g. ``transformers.TextStreamer``: gets the prompt, each step's tokens, then ``end()``.
        attention_mask: a tokenizer's mask, accepted when it masks nothing: the graphs take no mask, so a
            padded batch (``tokenizer(texts, padding=True)``) is refused, not continued as if its padding were text.

    Returns:
        ``(batch, seq + new)`` int64 prompt and generated tokens, as :meth:`MeRinoForCausalLM.generate`.
    """
    if attention_mask is not None and not bool(np.all(np.asarray(attention_mask) == 1)):
        raise ModelInputError("attention_mask marks padding, which ONNX graphs cannot skip (they take no mask): "
                              "generate each prompt alone, or a batch of one length, or in torch "
                              "(MeRinoForCausalLM.generate takes the mask)")
    max_new_tokens = check_integer(max_new_tokens, "max_new_tokens", 0, ModelInputError)
    generator = sampling_generator(do_sample, temperature, top_k, top_p, seed)
    check_streamer(streamer)
    session = _lm_session(model)
    sequences = _prompt_ids(session, input_ids)
    check_prompts(sequences.shape, max_new_tokens)
    check_length(sequences.shape[1] + max(0, max_new_tokens - 1), _max_positions(session))
    check_special_ids(eos_token_id, pad_token_id, _vocab(session))
    cached = bool(_past_inputs(session))
    pad = eos_token_id if pad_token_id is None else pad_token_id
    done = np.zeros(sequences.shape[0], dtype=bool)
    step_ids, past = sequences, None
    if streamer is not None:
        streamer.put(torch.from_numpy(sequences.copy()))
    for _ in range(max_new_tokens):
        logits, present = _run(session, step_ids, past)
        token = next_tokens(torch.from_numpy(logits[:, -1].copy()), do_sample, temperature, top_k, top_p, generator)
        token = token.numpy().astype(np.int64)
        if eos_token_id is not None:
            token = np.where(done, pad, token)
            done = done | (token == eos_token_id)
        sequences = np.concatenate([sequences, token[:, None]], axis=1)
        if streamer is not None:
            streamer.put(torch.from_numpy(token.copy()))
        if done.all():
            break
        feed = token if eos_token_id is None else np.where(done, eos_token_id, token)
        if cached:
            step_ids, past = feed[:, None], present
        else:
            step_ids = np.concatenate([step_ids, feed[:, None]], axis=1)
    if streamer is not None:
        streamer.end()
    return sequences


@torch.inference_mode()
def verify_onnx(
    model: nn.Module,
    onnx_model: str | os.PathLike | Any,
    input_ids: Any = None,
    *,
    decode_steps: int = 16,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare ONNX Runtime's logits with the torch model's, for the prompt and greedy decoding.

    Both follow the tokens torch picks greedily: the cache graph decodes token by token from its
    present keys/values (torch from its :class:`KVCache`); a prefill graph recomputes the sequence.

    Args:
        model: the torch model that was exported.
        onnx_model: its ``.onnx`` file or an ``onnxruntime.InferenceSession``.
        input_ids: ``(batch, seq)`` prompt; default 8 random tokens drawn with ``seed``.
        decode_steps: decoding steps compared after the prompt.

    Returns:
        ``graph`` ("kv_cache" or "prefill"), ``prefill_max_abs_diff``, ``decode_max_abs_diff``
        (over all steps; 0 when ``decode_steps=0``), ``decode_steps``, ``max_abs_logit`` (scale
        of the torch logits) and ``top1_agreement`` (ORT argmax == torch argmax, all compared positions).
    """
    net = _pure_model(model)
    session = _lm_session(onnx_model)
    decode_steps = check_integer(decode_steps, "decode_steps", 0, ModelInputError)
    arch = net.architecture
    if input_ids is None:
        generator = torch.Generator().manual_seed(torch_seed(seed, optional=False))
        length = max(1, min(8, arch.max_positions - decode_steps))
        input_ids = torch.randint(0, arch.vocab_size, (1, length), generator=generator)
    theirs = _recorded_architecture(session)
    if theirs is not None:
        mine = json.loads(json.dumps(arch.to_dict()))
        differing = sorted(k for k in {*mine, *theirs} if mine.get(k) != theirs.get(k))
        if differing:
            raise ModelInputError(f"the graph was exported from another architecture than the model's ("
                                  f"{', '.join(differing)} differ): give the model that was exported")
    ids = _nonempty(_prompt_ids(session, input_ids))
    check_length(ids.shape[1] + decode_steps, _max_positions(session), "decode_steps")
    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    try:
        out = net(torch.from_numpy(ids).to(device), use_cache=True)
        ref, cache = out.logits.float().cpu().numpy(), out.past_key_values
        if not np.isfinite(ref).all():
            raise ModelInputError("the torch model's logits are not finite, so the export cannot be checked "
                                  "(a diverged run?); retrain it with a lower learning rate")
        logits, present = _run(session, ids, None)
        if logits.shape[0] != ref.shape[0] or logits.shape[2:] != ref.shape[2:]:
            raise ModelInputError(f"the graph's logits {logits.shape} do not match the model's {ref.shape}: give the "
                                  "graph exported from this model")
        cached = bool(_past_inputs(session))
        prompt_ref = ref[:, -logits.shape[1]:]  # a graph that returns the last position's logits only
        prefill_diff = float(np.abs(logits - prompt_ref).max())
        agree, count = int((logits.argmax(-1) == prompt_ref.argmax(-1)).sum()), logits.shape[0] * logits.shape[1]
        decode_diff, scale = 0.0, float(np.abs(ref).max())
        sequence = ids
        for _ in range(decode_steps):
            token = ref[:, -1].argmax(-1).astype(np.int64)[:, None]
            sequence = np.concatenate([sequence, token], axis=1)
            step = net(torch.from_numpy(token).to(device), past_key_values=cache, use_cache=True)
            ref, cache = step.logits.float().cpu().numpy(), step.past_key_values
            if cached:
                logits, present = _run(session, token, present)
            else:
                logits = _run(session, sequence, None)[0][:, -1:]
            decode_diff = max(decode_diff, float(np.abs(logits - ref).max()))
            scale = max(scale, float(np.abs(ref).max()))
            agree += int((logits.argmax(-1) == ref.argmax(-1)).sum())
            count += ref.shape[0]
    finally:
        net.train(was_training)
    return {
        "graph": "kv_cache" if cached else "prefill",
        "prefill_max_abs_diff": prefill_diff,
        "decode_max_abs_diff": decode_diff,
        "decode_steps": decode_steps,
        "max_abs_logit": scale,
        "top1_agreement": agree / count,
    }


# -- INT8 ------------------------------------------------------------------------------------
def quantize_onnx(
    onnx_model: str | os.PathLike, out: str | os.PathLike, *, per_channel: bool = True
) -> Path:
    """ONNX Runtime dynamic INT8 of an exported graph: int8 weights, activations quantised per call.

    Every linear layer (shared ones and the tied LM head included) becomes an integer matmul,
    the embedding tables are stored as int8 and dequantised; norms and attention stay fp32.

    Args:
        onnx_model: the fp32 ``.onnx`` file from :func:`export_onnx`.
        out: the INT8 ``.onnx`` file to write.
        per_channel: one weight scale per output channel (more accurate) instead of per tensor.
    """
    require("onnxruntime", "onnx")
    per_channel = check_bool(per_channel, "per_channel", ModelInputError)  # "no" meant per channel
    _session(onnx_model)  # a loadable graph, or a one-line error
    out = check_writable(check_suffix(out, ".onnx", "out", ModelInputError), "out")
    check_not_input(out, "out", {"the fp32 model": onnx_model}, ModelInputError)
    out.parent.mkdir(parents=True, exist_ok=True)
    _quantize_dynamic(onnx_model, out, per_channel)
    return out


def _quantize_dynamic(onnx_model: str | os.PathLike, out: Path, per_channel: bool = True,
                      symbolic: bool = True) -> None:
    """:func:`quantize_onnx`'s work, on checked paths; ``symbolic=False`` skips ORT's symbolic shape inference,
    which cannot infer a latency profile's layer graph (its KV-cache inputs); its matmuls quantise the same. Where
    that inference fails on a graph, it is skipped the same way."""
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.registry import IntegerOpsRegistry
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        # ORT's pre-processing folds the transposed weights the exporter leaves as Transpose nodes
        # when a layer is shared (applied twice); without it their MatMuls would stay fp32
        folded = Path(tmp) / "folded.onnx"
        # ORT's quantization tools read an ONNX Attention node (opset 23) as their contrib op of that name: its shape
        # inference fails on it (and, once skipped, ONNX's own misses weights stored apart: both are skipped), and
        # quantize_dynamic would make it a QAttention no session loads; it stays fp32
        attention = _has_onnx_attention(onnx_model)
        source = Path(onnx_model).resolve()  # read from the temporary folder below
        if attention:  # weights stored apart then leave a shared layer's transposed weights unfolded: one file
            import onnx

            whole = onnx.load(str(source))
            if whole.ByteSize() < onnx.checker.MAXIMUM_PROTOBUF:
                source = Path(tmp) / "whole.onnx"
                onnx.save(whole, str(source))
            del whole
        if attention or not symbolic:
            quant_pre_process(source, folded, skip_symbolic_shape=True, skip_onnx_shape=attention)
        else:
            try:
                # a failed symbolic shape inference writes its model (and its data) into the working folder, under a
                # name ORT fixes (no parameter names another folder): the temporary one, process-wide while it runs
                with contextlib.chdir(tmp):
                    quant_pre_process(source, folded)
            except Exception:  # ORT's bare Exception("Incomplete symbolic shape inference"), of a graph it cannot read
                # without it, as a latency profile's component graphs are: their matmuls quantise the same
                quant_pre_process(source, folded, skip_symbolic_shape=True, skip_onnx_shape=False)
        kinds = [k for k in IntegerOpsRegistry if k != "Attention"] if attention else None  # None: ORT's own
        quantize_dynamic(folded, out, per_channel=per_channel, weight_type=QuantType.QInt8, op_types_to_quantize=kinds)


#: control-flow operators: mpsolve's exports hold none
_CONTROL_FLOW = frozenset({"Loop", "Scan", "If"})


def check_graph(model: str | os.PathLike | bytes,
                way_out: str = "give a file that export_onnx or mpsolve export wrote") -> None:
    """Refuse, in one line, a graph (a file, read without its weights, or a serialised model) that no export of
    mpsolve's writes and that ONNX Runtime would act on before or while running it: control flow (``Loop``, ``Scan``,
    ``If``: a loop without end), or weights stored apart outside the graph's folder (an absolute path, ``..``, a link
    out of it; a serialised model: anywhere), checked here as ONNX Runtime's own refusal was checked on 1.32 only."""
    import onnx
    from onnx.external_data_helper import ExternalDataInfo, _get_all_tensors, uses_external_data

    serialised = isinstance(model, bytes)
    graph = "this graph" if serialised else repr(str(model))
    try:
        proto = onnx.load_model_from_string(model) if serialised else onnx.load(str(model), load_external_data=False)
    except Exception:  # not a graph: ONNX Runtime's own loading says why, in one line (_load_failure)
        return
    op_types = {n.op_type for n in proto.graph.node} | {n.op_type for f in proto.functions for n in f.node}
    looping = sorted(op_types & _CONTROL_FLOW)
    if looping:
        raise ModelInputError(f"{graph} holds control flow ({', '.join(looping)}), which no graph that export_onnx "
                              f"writes does: {way_out}")
    sparse = [t for s in proto.graph.sparse_initializer for t in (s.values, s.indices)]
    folder = None if serialised else Path(model).resolve().parent
    for tensor in [*_get_all_tensors(proto), *sparse]:
        if not uses_external_data(tensor):
            continue
        location = ExternalDataInfo(tensor).location
        inside = folder is not None and not Path(location).is_absolute() and ".." not in Path(location).parts and (
            (folder / location).resolve().is_relative_to(folder))
        if not inside:
            where = "a serialised model's weights must be in it" if serialised else \
                "weights stored apart must lie in the graph's folder"
            raise ModelInputError(f"{graph} reads weights from {shown(location, 100)}, outside its folder ({where}): "
                                  f"{way_out}")


def _has_onnx_attention(path: str | os.PathLike) -> bool:
    """Whether the graph holds an ONNX-domain ``Attention`` node (read without its weights)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return any(n.op_type == "Attention" and n.domain in ("", "ai.onnx") for n in graph.node)


def compare_onnx(
    reference: str | os.PathLike | Any, candidate: str | os.PathLike | Any, input_ids: Any
) -> dict[str, float]:
    """How far ``candidate``'s prompt logits are from ``reference``'s (e.g. INT8 vs fp32 ONNX).

    Returns:
        ``max_abs_diff``, ``mean_abs_diff``, ``top1_agreement`` (fraction of positions with the
        same argmax), and the next-token losses (nats) of ``input_ids`` under each,
        ``loss_reference`` and ``loss_candidate`` (their difference is the perplexity change in log space).
    """
    sessions = {"reference": _lm_session(reference), "candidate": _lm_session(candidate)}
    for name, session in sessions.items():
        if _logits_kept(session) != "all":
            raise ModelInputError(f"the {name} graph returns the last position's logits only; compare_onnx scores "
                                  "every position: export both with logits='all'")
        ids = _nonempty(_prompt_ids(session, input_ids))
        check_length(ids.shape[1], _max_positions(session), None)
    ref = _run(sessions["reference"], ids, None)[0].astype(np.float64)
    cand = _run(sessions["candidate"], ids, None)[0].astype(np.float64)
    if ref.shape != cand.shape:
        raise ModelInputError(f"the graphs' logits differ in shape ({ref.shape} and {cand.shape}): compare two "
                              "exports of one model")
    diff = np.abs(ref - cand)
    return {
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "top1_agreement": float((ref.argmax(-1) == cand.argmax(-1)).mean()),
        "loss_reference": _next_token_loss(ref, ids),
        "loss_candidate": _next_token_loss(cand, ids),
    }


def _next_token_loss(logits: np.ndarray, ids: np.ndarray) -> float:
    """Mean cross entropy (nats) of ``ids[:, 1:]`` under ``logits[:, :-1]``."""
    if ids.shape[1] < 2:
        return float("nan")
    scores = logits[:, :-1]
    top = scores.max(-1, keepdims=True)
    log_norm = np.log(np.exp(scores - top).sum(-1)) + top[..., 0]
    picked = np.take_along_axis(scores, ids[:, 1:, None], axis=-1)[..., 0]
    return float((log_norm - picked).mean())
