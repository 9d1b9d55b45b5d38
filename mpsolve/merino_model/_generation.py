"""Next-token selection for :meth:`MeRinoForCausalLM.generate` and :func:`onnx_generate`: greedy,
temperature, top-k, top-p; the sampling settings' checks and the streamer calls both share."""

from __future__ import annotations

from typing import Any

import torch

from mpsolve.merino_model._errors import ModelInputError
from mpsolve.utils.validation import check_bool, check_integer, is_finite_number, is_integer, is_positive_number

__all__ = ["check_length", "check_streamer", "next_tokens", "sampling_generator", "torch_seed"]


def torch_seed(seed: Any, optional: bool = True) -> int | None:
    """``seed`` as an ``int`` torch generators accept (a non-negative integer below 2**32), or
    ``None`` when ``optional``."""
    seed = check_integer(seed, "seed", 0, ModelInputError, optional=optional)
    if seed is not None and seed >= 2**32:  # torch's CPU generator keeps the low 32 bits: 2**32 would repeat 0
        raise ModelInputError(f"seed must be below 2**32 (torch's CPU generator keeps 32 bits, so a larger seed "
                              f"repeats a smaller one), got {seed}")
    return seed


def check_prompts(shape: tuple[int, ...], max_new_tokens: int) -> None:
    """Refuse a batch of no prompts, and prompts of no tokens to continue (``shape``: the ids' ``(batch, seq)``)."""
    if shape[0] == 0:
        raise ModelInputError("generate needs at least one prompt, got input_ids with no rows")
    if max_new_tokens and shape[1] == 0:
        raise ModelInputError("generate needs at least one prompt token per row, got an empty prompt")


def check_length(length: int, limit: int | None, added: str | None = "max_new_tokens") -> None:
    """Refuse, before any output, a sequence that would pass the model's ``limit`` positions (``added``: what
    lengthens the prompt, named in the error)."""
    if limit is not None and length > limit:
        raise ModelInputError(f"sequence of {length} tokens exceeds max_positions={limit}; shorten the prompt"
                              + (f" or {added}" if added else ""))


def check_special_ids(eos_token_id: Any, pad_token_id: Any, vocab: int | None) -> None:
    """Refuse an EOS id outside the vocabulary ``[0, vocab)`` (it would never stop a row) and a
    padding id that is not an integer (any int64: padding marks output, it is never fed back)."""
    if eos_token_id is not None and (not is_integer(eos_token_id) or eos_token_id < 0
                                     or (vocab is not None and eos_token_id >= vocab)):
        raise ModelInputError(f"eos_token_id must be a token id in [0, {vocab}) or None, got {eos_token_id!r}")
    # any int64: the padded rows are int64 tensors (a larger one overflowed mid-generation, a raw OverflowError)
    if pad_token_id is not None and not (is_integer(pad_token_id) and -(2**63) <= pad_token_id < 2**63):
        raise ModelInputError(f"pad_token_id must be an integer or None (an int64: token ids are int64 tensors), got "
                              f"{pad_token_id!r}")


def sampling_generator(
    do_sample: Any,
    temperature: Any,
    top_k: Any,
    top_p: Any,
    seed: int | torch.Generator | None,
    device: torch.device | str = "cpu",
) -> torch.Generator | None:
    """Check the sampling settings (before any output); the generator of ``seed`` (``None``: torch's global RNG)."""
    if check_bool(do_sample, "do_sample", ModelInputError) and not is_positive_number(temperature):
        raise ModelInputError(f"temperature must be positive when sampling, got {temperature!r}")
    if top_k is not None and (not is_integer(top_k) or top_k < 1):
        raise ModelInputError(f"top_k must be a positive int, got {top_k!r}")
    if top_p is not None and not (is_finite_number(top_p) and 0 < top_p <= 1):
        raise ModelInputError(f"top_p must be in (0, 1], got {top_p!r}")
    if isinstance(seed, torch.Generator):
        return seed
    seed = torch_seed(seed)
    return None if seed is None else torch.Generator(device=device).manual_seed(seed)


def check_streamer(streamer: Any) -> Any:
    """``streamer`` when it has the ``put`` / ``end`` methods of ``transformers``' streamers (or is ``None``).

    A streamer gets the prompt ids ``(batch, seq)`` once, then each step's new tokens ``(batch,)``
    (as torch tensors, as ``transformers.TextStreamer`` expects), then ``end()``.
    """
    methods = (getattr(streamer, name, None) for name in ("put", "end"))
    if streamer is not None and not all(callable(m) for m in methods):
        raise ModelInputError(f"streamer must have put() and end() methods (e.g. transformers.TextStreamer), "
                              f"got {type(streamer).__name__}")
    return streamer


def next_tokens(
    logits: torch.Tensor,
    do_sample: bool,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The ``(batch,)`` next tokens from ``(batch, vocab)`` logits of the last position (settings checked by
    :func:`sampling_generator`)."""
    if bool(torch.isnan(logits).any() or torch.isposinf(logits).any()):
        raise ModelInputError("the model's logits are NaN or infinite: its weights overflow in this dtype or are "
                              "damaged (mpsolve evaluate reports the loss); check or retrain the checkpoint")
    if not do_sample:
        return logits.argmax(dim=-1)
    logits = logits.double()  # a temperature below float32's range (1e-300) is not 0 in float64
    # shifted so the best logit is 0: a tiny temperature gives -inf for the others, never inf - inf = nan
    scores = (logits - logits.max(dim=-1, keepdim=True).values) / temperature
    if top_k is not None:
        kth = torch.topk(scores, min(top_k, scores.shape[-1]), dim=-1).values[:, -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if top_p is not None:
        sorted_scores, order = torch.sort(scores, dim=-1, descending=True)
        cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
        # drop a token when the more likely ones already reach top_p (the most likely always stays)
        drop_sorted = cumulative - sorted_scores.softmax(dim=-1) >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        scores = scores.masked_fill(drop, float("-inf"))
    probs = scores.softmax(dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)
