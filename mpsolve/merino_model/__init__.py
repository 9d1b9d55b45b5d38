"""MeRino language models in PyTorch: build, generate, quantise, profile latency, use with Hugging Face.

Example:
    >>> import torch
    >>> from mpsolve.merino_model import build, quantize
    >>> model = build("merino-52m", seed=0, vocab_size=256, embed_proj_dim=64, max_positions=64)
    >>> model.generate(torch.tensor([[1, 2, 3]]), max_new_tokens=4).shape
    torch.Size([1, 7])
    >>> int8 = quantize(model, "int8")

Every name loads lazily: importing this package imports neither ``torch`` (extra ``[torch]``)
nor ``transformers`` (extra ``[hf]``, for ``MeRinoConfig`` and ``MeRinoHFForCausalLM``), nor
``onnx``/``onnxruntime``/``onnxscript`` (extra ``[onnx]``, for ``export_onnx``, ``verify_onnx``,
``onnx_generate``, ``onnx_tokenizer``, ``quantize_onnx`` and ``compare_onnx``), nor ``lm_eval`` (extra ``[eval]``, for
``lm_eval_tasks``, ``check_task_names`` and ``load_task_file``).
``model_type="merino"`` is registered with ``AutoConfig``/``AutoModelForCausalLM`` as soon as
``transformers`` is imported (before or after this package), so
``AutoModelForCausalLM.from_pretrained(dir)`` works.
"""

import importlib as _importlib
from typing import Any as _Any

from mpsolve.merino_model._errors import TRANSFORMERS_MIN as _TRANSFORMERS_MIN
from mpsolve.merino_model._errors import CheckpointMismatchError, MissingDependencyError, ModelInputError
from mpsolve.merino_model._errors import require as _require
from mpsolve.merino_model._profile import (
    DEFAULT_CALIBRATION_DESIGNS,
    NOISE_THRESHOLD,
    check_graph_dir,
    design_latency,
    device_info,
    model_latency,
    onnx_session,
    profile_latency,
    time_call,
)
from mpsolve.merino_model._registration import install_registration_hook as _install_registration_hook
from mpsolve.spaces import resolve_architecture

__all__ = [
    "DEFAULT_CALIBRATION_DESIGNS",
    "DEFAULT_OPSET",
    "MAX_MMAP_THRESHOLD",
    "NOISE_THRESHOLD",
    "CausalLMOutput",
    "CheckpointMismatchError",
    "Corpus",
    "KVCache",
    "MeRinoConfig",
    "MeRinoForCausalLM",
    "MeRinoHFForCausalLM",
    "MissingDependencyError",
    "ModelInputError",
    "TrainConfig",
    "TrainResult",
    "TrainingInterrupted",
    "build",
    "byte_tokenizer",
    "check_graph_dir",
    "check_run_folder",
    "check_task_names",
    "check_train_setup",
    "checkpoint_bpe_tokenizer",
    "checkpoint_tokenizer",
    "compare_onnx",
    "compare_outputs",
    "design_latency",
    "design_memory",
    "device_info",
    "evaluate",
    "export_onnx",
    "is_task_file",
    "lm_eval_tasks",
    "load_corpus",
    "load_task_file",
    "model_latency",
    "onnx_generate",
    "onnx_session",
    "onnx_tokenizer",
    "profile_latency",
    "quantize",
    "quantize_onnx",
    "run_files",
    "time_call",
    "torch_seed",
    "tokenizer_panics",
    "trained_seq_len",
    "verify_onnx",
    "without_hf_progress_bars",
    "resolve_architecture",
]

#: lazily loaded name -> (private module, extra that provides its dependency)
_LAZY = {
    "CausalLMOutput": ("_model", "torch"),
    "KVCache": ("_model", "torch"),
    "MeRinoForCausalLM": ("_model", "torch"),
    "build": ("_model", "torch"),
    "compare_outputs": ("_quantize", "torch"),
    "design_memory": ("_memory", "torch"),
    "MAX_MMAP_THRESHOLD": ("_memory", "torch"),
    "torch_seed": ("_generation", "torch"),
    "quantize": ("_quantize", "torch"),
    "Corpus": ("_train", "torch"),
    "TrainConfig": ("_train", "torch"),
    "TrainResult": ("_train", "torch"),
    "TrainingInterrupted": ("_train", "torch"),
    "evaluate": ("_train", "torch"),
    "load_corpus": ("_train", "torch"),
    "run_files": ("_train", "torch"),
    "check_run_folder": ("_train", "torch"),
    "check_train_setup": ("_train", "torch"),
    "train": ("_train", "torch"),
    "train_bpe_tokenizer": ("_train", "torch"),
    "DEFAULT_OPSET": ("_onnx", "onnx"),
    "compare_onnx": ("_onnx", "onnx"),
    "export_onnx": ("_onnx", "onnx"),
    "onnx_generate": ("_onnx", "onnx"),
    "onnx_tokenizer": ("_onnx", "hf"),  # and onnxruntime, which it requires
    "quantize_onnx": ("_onnx", "onnx"),
    "verify_onnx": ("_onnx", "onnx"),
    "byte_tokenizer": ("_lm_eval", "hf"),
    "check_task_names": ("_lm_eval", "eval"),
    "checkpoint_bpe_tokenizer": ("_lm_eval", "hf"),
    "checkpoint_tokenizer": ("_lm_eval", "hf"),
    "is_task_file": ("_lm_eval", "eval"),
    "lm_eval_tasks": ("_lm_eval", "eval"),
    "load_task_file": ("_lm_eval", "eval"),
    "tokenizer_panics": ("_lm_eval", "hf"),
    "trained_seq_len": ("_lm_eval", "hf"),
    "MeRinoConfig": ("_hf", "hf"),
    "MeRinoHFForCausalLM": ("_hf", "hf"),
    "without_hf_progress_bars": ("_hf", "hf"),
}


def __getattr__(name: str) -> _Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, extra = _LAZY[name]
    _require("torch", extra)
    if extra in ("hf", "eval"):
        _require("transformers", extra, _TRANSFORMERS_MIN)
    return getattr(_importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


_install_registration_hook()
