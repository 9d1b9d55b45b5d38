"""MeRino language models in PyTorch: build, generate, quantise, profile latency, use with Hugging Face.

Example:
    >>> import torch
    >>> from mpsolve.merino_model import build, quantize
    >>> model = build("merino-52m", seed=0, vocab_size=256, embed_proj_dim=64, max_positions=64)
    >>> model.generate(torch.tensor([[1, 2, 3]]), max_new_tokens=4).shape
    torch.Size([1, 7])
    >>> int8 = quantize(model, "int8")

Every name loads lazily: importing this package imports neither ``torch`` (extra ``[torch]``)
nor ``transformers`` (extra ``[hf]``, for ``MeRinoConfig`` and ``MeRinoHFForCausalLM``).
``model_type="merino"`` is registered with ``AutoConfig``/``AutoModelForCausalLM`` as soon as
``transformers`` is imported (before or after this package), so
``AutoModelForCausalLM.from_pretrained(dir)`` works.
"""

from __future__ import annotations

import importlib
from typing import Any

from mpsolve.merino_model._errors import (
    TRANSFORMERS_MIN,
    CheckpointMismatchError,
    MissingDependencyError,
    ModelInputError,
    require,
)
from mpsolve.merino_model._profile import device_info, profile_latency
from mpsolve.merino_model._registration import install_registration_hook
from mpsolve.spaces import resolve_architecture

__all__ = [
    "CausalLMOutput",
    "CheckpointMismatchError",
    "KVCache",
    "MeRinoConfig",
    "MeRinoForCausalLM",
    "MeRinoHFForCausalLM",
    "MissingDependencyError",
    "ModelInputError",
    "build",
    "compare_outputs",
    "device_info",
    "profile_latency",
    "quantize",
    "resolve_architecture",
]

#: lazily loaded name -> (private module, extra that provides its dependency)
_LAZY = {
    "CausalLMOutput": ("_model", "torch"),
    "KVCache": ("_model", "torch"),
    "MeRinoForCausalLM": ("_model", "torch"),
    "build": ("_model", "torch"),
    "compare_outputs": ("_quantize", "torch"),
    "quantize": ("_quantize", "torch"),
    "MeRinoConfig": ("_hf", "hf"),
    "MeRinoHFForCausalLM": ("_hf", "hf"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, extra = _LAZY[name]
    require("torch", extra)
    if extra == "hf":
        require("transformers", extra, TRANSFORMERS_MIN)
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


install_registration_hook()
