"""Training-free baselines computed on the real torch model at initialisation.

- ``ntk``: TE-NAS's trainability score, the condition number of the empirical neural
  tangent kernel on a batch (Chen et al., 2021). TE-NAS differentiates each sample's network
  output; for a language model the per-sequence next-token loss is the output, so the NTK is
  ``J J^T`` with ``J`` the ``(batch, params)`` Jacobian of the per-sequence losses. Lower
  condition numbers are better, so the score is ``-log(lambda_max / lambda_min)``.
- ``dss``: TF-TAS's DSS-Score (Zhou et al., 2022), synaptic diversity of the attention
  weights (``sum ||W||_nuc * ||dL/dW||_nuc`` over Q, K, V and output projections) plus synaptic
  saliency of the FFN weights (``sum |W * dL/dW|``), with gradients of the loss on a real batch.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["ntk_score", "dss_score", "proxy_scores"]


def _grad_vector(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None])


def ntk_score(model: torch.nn.Module, x: torch.Tensor) -> float:
    """``-log`` condition number of the NTK of the per-sequence losses on ``x`` (batch, seq)."""
    rows = []
    for i in range(x.shape[0]):
        model.zero_grad(set_to_none=True)
        model(x[i : i + 1], labels=x[i : i + 1]).loss.backward()
        rows.append(_grad_vector(model).double())
    J = torch.stack(rows)
    eig = torch.linalg.eigvalsh(J @ J.T)
    model.zero_grad(set_to_none=True)
    lo, hi = float(eig[0]), float(eig[-1])
    return -math.log(hi / lo) if lo > 0 else -math.inf


def dss_score(model: torch.nn.Module, x: torch.Tensor) -> float:
    """DSS-Score: attention synaptic diversity plus FFN synaptic saliency (gradients on ``x``)."""
    model.zero_grad(set_to_none=True)
    model(x, labels=x).loss.backward()
    diversity, saliency = 0.0, 0.0
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or module.weight.grad is None:
            continue
        W, G = module.weight.detach(), module.weight.grad.detach()
        if name.endswith("qkv"):
            e = W.shape[1]
            for part in range(3):
                w, g = W[part * e : (part + 1) * e], G[part * e : (part + 1) * e]
                diversity += float(torch.linalg.matrix_norm(w, "nuc") * torch.linalg.matrix_norm(g, "nuc"))
        elif name.endswith("out_proj"):
            diversity += float(torch.linalg.matrix_norm(W, "nuc") * torch.linalg.matrix_norm(G, "nuc"))
        elif name.endswith(("ffn_up", "ffn_down")):
            saliency += float((W * G).abs().sum())
    model.zero_grad(set_to_none=True)
    return diversity + saliency


def proxy_scores(arch_dict: dict, data: np.ndarray, seed: int = 0, init_std: float = 0.02, batch: int = 16,
                 seq_len: int = 128) -> dict[str, float]:
    """NTK and DSS of the architecture built with ``seed``, on a fixed batch of ``data`` bytes."""
    from mpsolve import Architecture
    from mpsolve.merino_model import build

    torch.set_num_threads(1)
    model = build(Architecture.from_dict(arch_dict), seed=seed, init_std=init_std)
    starts = np.random.default_rng(seed).integers(0, len(data) - seq_len - 1, size=batch)
    x = torch.from_numpy(data[starts[:, None] + np.arange(seq_len)[None, :]].astype(np.int64))
    return {"ntk": ntk_score(model, x), "dss": dss_score(model, x)}
