"""INT8 weight quantisation of MeRino (or any) models, and its effect on the outputs."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from mpsolve.merino_model._errors import ModelInputError
from mpsolve.utils.validation import check_bool

__all__ = ["QUANTIZATION_MODES", "compare_outputs", "quantize"]

QUANTIZATION_MODES = ("int8",)


def quantize(model: nn.Module, mode: str = "int8", *, per_channel: bool = True) -> nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` dynamically quantised (CPU inference).

    ``"int8"``: weights stored as int8 (per output channel by default), activations quantised
    on the fly per batch (``torch.ao.quantization.quantize_dynamic``). Embeddings and norms
    stay fp32; the tied LM head is a Linear, so it is quantised too (the embedding keeps its
    fp32 copy). PyTorch marks ``torch.ao`` quantisation deprecated in favour of ``torchao``;
    it still works in this torch and its deprecation warnings are silenced here.

    Args:
        model: an fp32 model (``MeRinoForCausalLM``, the HF wrapper, or any module).
        mode: ``"int8"``.
        per_channel: one scale per output channel (more accurate) instead of per tensor.
    """
    if not isinstance(model, nn.Module):
        raise ModelInputError(f"quantize needs a torch.nn.Module (e.g. from mpsolve.build), got {type(model).__name__}")
    if mode not in QUANTIZATION_MODES:
        raise ModelInputError(f"unknown quantisation mode {mode!r}; supported: {', '.join(QUANTIZATION_MODES)}")
    per_channel = check_bool(per_channel, "per_channel", ModelInputError)
    # the dynamic int8 Linear takes float32 activations only: a half model's forward would fail inside torch
    other = next((m.weight.dtype for m in model.modules() if isinstance(m, nn.Linear)
                  and m.weight.dtype != torch.float32), None)
    if other is not None:
        raise ModelInputError(f"int8 quantisation needs a float32 model, got Linear weights in "
                              f"{str(other).removeprefix('torch.')}: quantize model.float() instead")
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    # quantize_dynamic swaps Linear submodules only: a model that is itself a Linear, or holds none, came back as
    # an fp32 copy, silently (an already quantised one comes back as it is)
    if not any(isinstance(m, (nn.Linear, DynamicLinear)) for name, m in model.named_modules() if name):
        raise ModelInputError(f"quantize found no nn.Linear inside the {type(model).__name__} to quantise: give the "
                              "model that holds its Linear layers (e.g. from mpsolve.build), or nn.Sequential(layer)")
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic

    qconfig = per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r".*torch\.ao\.quantization is deprecated", category=DeprecationWarning
        )
        warnings.filterwarnings("ignore", message=r".*quantized tensor creation functions.*deprecated")
        return quantize_dynamic(model, {nn.Linear: qconfig}, dtype=torch.qint8, inplace=False)


@torch.inference_mode()
def compare_outputs(
    reference: nn.Module, candidate: nn.Module, input_ids: torch.Tensor, **forward_kwargs: Any
) -> dict[str, float]:
    """How far ``candidate``'s logits are from ``reference``'s on the same input.

    Returns:
        ``max_abs_diff``; ``max_rel_diff`` (max abs difference over the max abs reference
        logit); ``mean_abs_diff``; ``top1_agreement`` (fraction of positions with the same
        argmax token).
    """
    for name, model in (("reference", reference), ("candidate", candidate)):
        if not isinstance(model, nn.Module):
            raise ModelInputError(f"compare_outputs needs torch.nn.Module models, got {type(model).__name__} as "
                                  f"{name}")
    if isinstance(input_ids, torch.Tensor) and input_ids.dim() == 2 and input_ids.shape[1] == 0:
        raise ModelInputError(f"input_ids must hold at least one token per row, got shape {tuple(input_ids.shape)}")
    ref = reference(input_ids, **forward_kwargs).logits.double()
    cand = candidate(input_ids, **forward_kwargs).logits.double()
    if ref.shape != cand.shape:
        raise ModelInputError(f"the models' logits differ in shape: {tuple(ref.shape)} vs {tuple(cand.shape)}")
    diff = (ref - cand).abs()
    return {
        "max_abs_diff": float(diff.max()),
        "max_rel_diff": float(diff.max() / ref.abs().max().clamp_min(torch.finfo(ref.dtype).tiny)),
        "mean_abs_diff": float(diff.mean()),
        "top1_agreement": float((ref.argmax(-1) == cand.argmax(-1)).double().mean()),
    }
