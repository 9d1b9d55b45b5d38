"""Next-token selection for :meth:`MeRinoForCausalLM.generate`: greedy, temperature, top-k, top-p."""

from __future__ import annotations

import torch

from mpsolve.merino_model._errors import ModelInputError
from mpsolve.utils.validation import is_finite_number, is_integer

__all__ = ["next_tokens"]


def next_tokens(
    logits: torch.Tensor,
    do_sample: bool,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The ``(batch,)`` next tokens from ``(batch, vocab)`` logits of the last position."""
    if not do_sample:
        return logits.argmax(dim=-1)
    scores = logits.float() / temperature
    if top_k is not None:
        if not is_integer(top_k) or top_k < 1:
            raise ModelInputError(f"top_k must be a positive int, got {top_k!r}")
        kth = torch.topk(scores, min(top_k, scores.shape[-1]), dim=-1).values[:, -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if top_p is not None:
        if not (is_finite_number(top_p) and 0 < top_p <= 1):
            raise ModelInputError(f"top_p must be in (0, 1], got {top_p!r}")
        sorted_scores, order = torch.sort(scores, dim=-1, descending=True)
        cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
        # drop a token when the more likely ones already reach top_p (the most likely always stays)
        drop_sorted = cumulative - sorted_scores.softmax(dim=-1) >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        scores = scores.masked_fill(drop, float("-inf"))
    probs = scores.softmax(dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)
