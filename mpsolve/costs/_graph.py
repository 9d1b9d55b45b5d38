"""An architecture as its operator graph: the readable per-operator cost breakdown.

Operator nodes (``kind="op"``) carry the FLOPs of one application; weight nodes
(``kind="weights"``) carry parameter counts and point to every operator that uses them, so a
shared block's weights appear once with edges to each of its ``L_i`` applications, and the
tied embedding feeds both the embedding lookup and the LM head. Summing ``params`` over weight
nodes gives :class:`ParamsCost`, summing ``flops`` over operator nodes gives :class:`FlopsCost`.
"""

from __future__ import annotations

import networkx as nx

from mpsolve.spaces import Architecture, resolve_architecture
from mpsolve.utils.validation import check_bool, check_integer

__all__ = ["operator_graph", "graph_totals"]


def operator_graph(arch: Architecture | str, seq_len: int = 1024, include_lm_head: bool = False) -> nx.DiGraph:
    """The operator graph of ``arch`` (or a preset name, JSON file or object) for a forward pass of ``seq_len``
    tokens."""
    # checked as FlopsCost checks them: seq_len -5 gave negative FLOPs, include_lm_head="no" counted the head
    arch = resolve_architecture(arch)
    seq_len = check_integer(seq_len, "seq_len")
    include_lm_head = check_bool(include_lm_head, "include_lm_head")
    n, D, V = seq_len, arch.embed_proj_dim, arch.vocab_size
    g = nx.DiGraph(architecture=arch.to_json(), seq_len=seq_len, include_lm_head=include_lm_head)

    def weights(name: str, params: int, block: int = -1) -> str:
        name = f"{name}.weight"
        g.add_node(name, kind="weights", params=int(params), block=block)
        return name

    prev: str | None = None

    def op(name: str, op_type: str, flops: float, uses: tuple[str, ...] = (), block: int = -1, layer: int = -1):
        nonlocal prev
        g.add_node(name, kind="op", op=op_type, flops=float(flops), block=block, layer=layer)
        for w in uses:
            g.add_edge(w, name, kind="uses")
        if prev is not None:
            g.add_edge(prev, name, kind="data")
        prev = name

    tokens = weights("embed.tokens", V * D)
    op("embed", "embedding", 0, (tokens, weights("embed.positions", arch.max_positions * D)))
    width = D
    for i, b in enumerate(arch.blocks):
        E, F = b.embed_dim, b.ffn_dim
        if E != width:
            op(f"proj{i}", "projection", 2 * n * width * E, (weights(f"proj{i}", width * E + E, i),), i)
        for j in range(b.layers):
            tag = f"block{i}" if arch.shared else f"block{i}.layer{j}"
            if arch.shared and j > 0:
                w = {k: f"{tag}.{k}.weight" for k in ("ln1", "qkv", "out", "ln2", "ffn_up", "ffn_down")}
            else:
                w = {
                    "ln1": weights(f"{tag}.ln1", 2 * E, i),
                    "qkv": weights(f"{tag}.qkv", 3 * E * E + 3 * E, i),
                    "out": weights(f"{tag}.out", E * E + E, i),
                    "ln2": weights(f"{tag}.ln2", 2 * E, i),
                    "ffn_up": weights(f"{tag}.ffn_up", E * F + F, i),
                    "ffn_down": weights(f"{tag}.ffn_down", F * E + E, i),
                }
            at = f"block{i}.layer{j}"
            op(f"{at}.ln1", "layernorm", 0, (w["ln1"],), i, j)
            op(f"{at}.qkv", "linear", 2 * n * E * 3 * E, (w["qkv"],), i, j)
            op(f"{at}.attention", "attention", 2 * 2 * n * n * E, (), i, j)
            op(f"{at}.out", "linear", 2 * n * E * E, (w["out"],), i, j)
            op(f"{at}.ln2", "layernorm", 0, (w["ln2"],), i, j)
            op(f"{at}.ffn_up", "linear", 2 * n * E * F, (w["ffn_up"],), i, j)
            op(f"{at}.ffn_down", "linear", 2 * n * F * E, (w["ffn_down"],), i, j)
        width = E
    if width != D:
        op("proj_out", "projection", 2 * n * width * D, (weights("proj_out", width * D + D),))
    op("final_ln", "layernorm", 0, (weights("final_ln", 2 * D),))
    op("lm_head", "linear", 2 * n * D * V if include_lm_head else 0, (tokens,))
    return g


def graph_totals(g: nx.DiGraph) -> dict[str, float]:
    """Total params (over weight nodes) and FLOPs (over operator nodes) of a graph."""
    params = sum(d["params"] for _, d in g.nodes(data=True) if d["kind"] == "weights")
    flops = sum(d["flops"] for _, d in g.nodes(data=True) if d["kind"] == "op")
    return {"params": float(params), "flops": float(flops)}
