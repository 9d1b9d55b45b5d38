"""Exact backend: a branch and bound over blocks with budget-indexed suffix bounds, with a proof.

Structure
---------
Block ``i`` picks a choice ``c = (e, r, l)``. Every quantity the program needs is a sum over
blocks of per-choice terms plus, for costs, terms of adjacent widths (the projections), read
from the cost model and verified on sample designs (:func:`_cost_tables`):

* ``A = sum_i alpha_1 L_i 4 H(E_i x E_i)``, ``B = sum_i alpha_2 L_i 2 H(E_i x F_i)``,
* ``S_M = sum_i L_i log2 E_i``, ``S_F = sum_i L_i log2 F_i``, ``T = sum_i L_i``,
* each budgeted cost ``sum_i U[c_i] + sum_i Q[e_i, e_{i+1}]`` (memory adds ``max_i W[c_i]``),

and the entropy is ``A p(beta T^2 / S_M) + B p(beta T^2 / S_F)`` with ``p`` non-decreasing in
``S`` (``linear``, ``exp`` or ``none``); the ``params`` objectives are additive costs themselves.

Search
------
A depth-first branch and bound fixes the blocks in order (widths non-decreasing; adjacent blocks
of equal width keep their choices sorted, since swapping them changes no objective or cost) and
expands the children of a node best bound first. It goes depth first over batches of sibling-level
nodes (up to ``_BATCH_NODES``, fewer where their children's bound arrays would grow large): one set
of array operations bounds the children of a whole batch, which numpy's per-call cost made
dearer than the few nodes more a batch expands before the incumbent improves. The bound of a partial design comes from
suffix tables computed once by dynamic programming: for the blocks after ``i``, the width of
block ``i``, a remaining depth ``d`` and a remaining budget (each budget alone and, with several,
their sum relative to the limits; in buckets whose costs are rounded down, so no feasible
completion is lost), the largest ``A``, ``B``, ``A + B``,
``S_M`` and ``S_F`` of any completion, and their smallest values and the cheapest cost of every
budget over all completions. A memory budget's peak term (the largest working set of any block)
is at least the peak so far and at least the last block's own: a second table per weighting
counts the latter. Each table bounds every sum's maximum, so a child's sums lie in the
intersection of the tables' boxes. For each ``d`` (which fixes ``T``) the product ``A p`` is bounded
by the corners of the boxes ``[A_lo, A_hi] x [p(S_lo), p(S_hi)]``; when both parts are
non-negative and ``m = min(P_M, P_F) >= 0`` (``P = p(S_hi)``), the objective is also at most
``m (A + B)_hi + (P_M - m) A_hi + (P_F - m) B_hi``, which sees that one budget cannot buy the
largest ``A`` and the largest ``B`` at once.

Soundness
---------
Bounds are relaxations (independent maxima, rounded-down costs, the width order and symmetry
rule left out of the tables) and are compared with the incumbent with a relative slack of
``1e-9``, far above the floating-point error of the table sums (about ``1e-15`` relative).
Complete designs are scored from the tables and every one within that slack of the incumbent
is re-scored by the problem itself (``ctx.evaluate``: objective, all constraints), which alone
decides the incumbent. ``status='optimal'`` only when no subtree left can beat the incumbent; a time
limit returns the best design with the largest bound of the subtrees not searched.
"""

from __future__ import annotations

import math

import numpy as np

from mpsolve.constraints import Budget, Effectiveness
from mpsolve.core.problem import Problem
from mpsolve.core.solver import SolveContext, Solver
from mpsolve.costs import MemoryCost, ParamsCost
from mpsolve.objectives import DecoderParamsObjective, MeRinoEntropy, ParamsObjective
from mpsolve.solvers._registry import register_solver
from mpsolve.solvers._tables import _cost_tables, _memory_peak, _tabled_objective
from mpsolve.utils.clock import check_deadline
from mpsolve.utils.errors import SolverError
from mpsolve.utils.memory import check_memory

__all__ = ["ExactSolver", "BlockTables"]

#: relative slack of every bound and feasibility test (far above the float error of the sums)
SLACK = 1e-9
#: channels of the suffix maxima
_CHANNELS = _A, _B, _AB, _SM, _SF = range(5)
#: a batch of nodes expanded together: at most this many nodes, and children x depths x channels
#: cells of their bound arrays near this many (larger batches prune later, smaller pay numpy's per-call cost)
_BATCH_NODES, _BATCH_CELLS = 64, 1 << 20


class BlockTables:
    """Per-choice tables of a problem whose objective and budgets are sums over blocks.

    Attributes:
        choices: ``(n_ch, 3)`` grid indices ``(e, r, l)`` of every per-block choice.
        parts: ``(5, n_ch)`` per-choice ``A``, ``B``, ``A + B``, ``S_M``, ``S_F`` terms.
        pair_value: ``(k, k)`` adjacent-width term of ``A`` (the ``params`` objectives).
        budgets: ``(U, Q, W, limit)`` per budget (``W`` the memory peak per choice, or zeros).
        rho_min_s: ``(beta / rho_max, part)`` of each effectiveness bound ``S_part >= beta T^2 / rho_max``.
    """

    def __init__(self, problem: Problem, solver: str) -> None:
        space = problem.space
        self.space, self.N, self.k = space, space.num_blocks, len(space.embed_dims)
        kr, kl = len(space.ffn_ratios), len(space.layers)
        self.choices = np.array(
            [(e, r, l) for e in range(self.k) for r in range(kr) for l in range(kl)], dtype=np.int64
        )
        ch = self.choices
        E, F = np.asarray(space.embed_dims, dtype=np.float64), space.ffn_table.astype(np.float64)
        self.width = ch[:, 0]
        self.depth = np.asarray(space.layers, dtype=np.int64)[ch[:, 2]]
        L = self.depth.astype(np.float64)
        s_m, s_f = L * np.log2(E[ch[:, 0]]), L * np.log2(F[ch[:, 0], ch[:, 1]])
        if min(s_m.min(), s_f.min()) <= 0:
            raise SolverError(f"{solver}: every width must exceed 1 (log2 width > 0); use solver 'cpsat' or 'ea'")
        obj = problem.objective
        self.pair_value = np.zeros((self.k, self.k))
        self.penalty, self.beta = "none", 0.0
        kind = _tabled_objective(obj)
        if kind is MeRinoEntropy:
            e, r = ch[:, 0], ch[:, 1]
            Ei, Fi = np.asarray(space.embed_dims)[e], space.ffn_table[e, r]
            a = obj.alpha[0] * L * 4.0 * obj.matrix_entropy(Ei, Ei)
            b = obj.alpha[1] * L * 2.0 * obj.matrix_entropy(Ei, Fi)
            self.penalty_factor, self.penalty, self.beta = obj.penalty_factor, obj.penalty, obj.beta
        elif kind in (ParamsObjective, DecoderParamsObjective):
            a, self.pair_value = _cost_tables(ParamsCost(), space, ch)
            if kind is DecoderParamsObjective:
                a = a - (space.vocab_size + space.max_positions) * space.embed_proj_dim / self.N
            b = np.zeros(len(ch))
        else:
            raise SolverError(
                f"{solver} supports the objectives 'entropy', 'params' and 'decoder_params' (with their own "
                f"evaluate), not {obj.name!r}; use a heuristic (ea, nsga2, tpe) or exhaustive for custom objectives"
            )
        self.parts = np.stack([a, b, a + b, s_m, s_f])
        self.budgets: list[tuple[np.ndarray, np.ndarray, np.ndarray, float]] = []
        self.rho_min_s: list[tuple[float, int]] = []
        for c in problem.constraints:
            if isinstance(c, Budget) and type(c.cost) is MemoryCost:
                W = _memory_peak(c.cost, space, ch)
                self.budgets.append((*_cost_tables(c.cost, space, ch, W), W, c.limit))
            elif isinstance(c, Budget) and c.cost.is_additive():
                self.budgets.append((*_cost_tables(c.cost, space, ch), np.zeros(len(ch)), c.limit))
            elif isinstance(c, Effectiveness):
                parts = {"both": (_SM, _SF), "mhsa": (_SM,), "ffn": (_SF,)}[c.parts]
                self.rho_min_s += [(c.beta / c.rho_max, p) for p in parts]
            else:
                what = f"budget on the non-additive cost {c.cost.name!r}" if isinstance(c, Budget) else repr(c)
                raise SolverError(f"{solver} cannot model the constraint {what}; use solver 'cpsat'")

    def objective(self, A, B, s_m, s_f, T) -> np.ndarray:
        """The objective from the sums (vectorised); the sums may hold bounds instead."""
        if self.penalty == "none":
            return A + B
        T2 = self.beta * np.asarray(T, dtype=np.float64) ** 2
        return A * self.penalty_factor(T2 / s_m) + B * self.penalty_factor(T2 / s_f)


def _suffix_tables(
    N: int,
    k: int,
    width: np.ndarray,
    depth: np.ndarray,
    values: np.ndarray,
    pair_values: np.ndarray,
    step: np.ndarray,
    pair_step: np.ndarray,
    buckets: int,
    max_depth: int,
    last_step: np.ndarray | None = None,
) -> list[np.ndarray | None]:
    """``out[i][p, ch, d, b]``: the largest sum of ``values[ch]`` over the blocks ``i..N-1`` after a
    block of width ``p``, with total depth ``d`` and summed ``step`` (``last_step`` for block
    ``N-1`` when given, plus ``pair_step`` of adjacent widths; all non-negative integers) at most
    ``b``; ``-inf`` where none. ``out[0]`` is ``None``."""
    C, D = values.shape[0], max_depth + 1
    out: list[np.ndarray | None] = [None] * (N + 1)
    last = np.full((k, C, D, buckets), -np.inf)
    last[:, :, 0, :] = 0.0
    out[N] = last
    for i in range(N - 1, 0, -1):
        nxt = out[i + 1]
        by_width = np.full((k, C, D, buckets), -np.inf)
        steps = last_step if i == N - 1 and last_step is not None else step
        for c in range(len(width)):
            check_deadline()  # a solve's time limit covers building the bounds
            e, l, s = int(width[c]), int(depth[c]), int(steps[c])
            if l >= D or s >= buckets:
                continue
            shifted = nxt[e, :, : D - l, : buckets - s] + values[:, c, None, None]
            np.maximum(by_width[e, :, l:, s:], shifted, out=by_width[e, :, l:, s:])
        cur = np.full((k, C, D, buckets), -np.inf)
        for p in range(k):
            for e in range(p, k):
                s = int(pair_step[p, e])
                if s < buckets:
                    shifted = by_width[e, :, :, : buckets - s] + pair_values[:, p, e, None, None]
                    np.maximum(cur[p, :, :, s:], shifted, out=cur[p, :, :, s:])
        out[i] = cur
    return out


def _by_bucket(tables: list[np.ndarray | None]) -> list[np.ndarray | None]:
    """Suffix tables stored as ``[width, bucket, depth, channel]``: a child's bounds are one contiguous read.

    In place, one table at a time: a single copy beside them at any moment."""
    for i, t in enumerate(tables):
        if t is not None:
            tables[i] = np.ascontiguousarray(t.transpose(0, 3, 2, 1))
    return tables


@register_solver
class ExactSolver(Solver):
    """Proved optimum by a branch and bound over blocks (see the module docstring).

    Handles the entropy (penalty ``linear``, ``exp`` or ``none``) and the ``params`` /
    ``decoder_params`` objectives under budgets on additive costs (params, FLOPs, latency),
    memory budgets and the effectiveness bound; refuses anything else (user predicates,
    custom objectives or costs), for which ``cpsat`` is the exact backend.

    Args:
        buckets: resolution of the budget axis of the suffix bounds (more: tighter bounds,
            more memory and set-up time).
    """

    name = "exact"
    stochastic = False

    def __init__(self, buckets: int = 1024) -> None:
        if isinstance(buckets, bool) or not isinstance(buckets, (int, np.integer)) or buckets < 2:
            raise SolverError(f"exact: buckets must be an integer >= 2, got {buckets!r}")
        self.buckets = int(buckets)

    def _solve(self, ctx: SolveContext) -> None:
        tab = BlockTables(ctx.problem, self.name)
        if len(ctx.feasible_seeds):
            ctx.evaluate_while_time_left(ctx.feasible_seeds)
        ctx.progress(None)
        search = _Search(tab, ctx, self.buckets)
        complete = search.run()
        left = -math.inf if complete else search.open_bound()  # the best bound of the subtrees not searched
        # stopped after the last subtree that could beat the incumbent: the proof is complete all the same
        if complete or (ctx.best_x is not None and left < ctx.best_f):
            ctx.status = "optimal"
            ctx.bound = ctx.best_f if ctx.best_x is not None else None
        else:
            ctx.bound = max(left, ctx.best_f)


class _Search:
    """The branch and bound of one run."""

    def __init__(self, tab: BlockTables, ctx: SolveContext, buckets: int) -> None:
        self.tab, self.ctx = tab, ctx
        N, k = tab.N, tab.k
        self.min_layers, self.max_layers = int(tab.depth.min()), int(tab.depth.max())
        self.max_depth = (N - 1) * self.max_layers
        zero_pairs = np.zeros((tab.parts.shape[0], k, k))
        pair_values = zero_pairs.copy()
        pair_values[_A] = pair_values[_AB] = tab.pair_value
        args = (N, k, tab.width, tab.depth)
        # tables of suffix maxima, each for a weighted sum of the budgets (each a valid bound: the
        # search takes the least): every budget alone and, with several, their sum relative to
        # the limits (a Lagrangian relaxation that sees them together)
        nb = len(tab.budgets)
        weights = [np.eye(nb)[j] for j in range(nb)]
        if nb > 1:
            weights.append(np.array([1 / limit for *_, limit in tab.budgets]))
        # a memory budget's peak term (the largest working set of any block) is bounded from below by
        # the peak so far or by the last block's own: one table per weighting for each (their boxes
        # intersect)
        weighted = [[sum(wj * b[part] for wj, b in zip(w, tab.budgets)) for part in range(4)] for w in weights]
        peaked = [bool(np.any(W)) for _, _, W, _ in weighted]
        # N stored suffix tables per table and a few working ones, of k x C x D x buckets floats each
        need = ((len(weights) + sum(peaked)) * N + 3) * k * tab.parts.shape[0] * (self.max_depth + 1) * buckets * 8
        check_memory(need, f"exact: buckets={buckets}", "its bound tables grow with it: use fewer buckets (the "
                     "default is 1024)", SolverError)
        self.tables: list[tuple[np.ndarray, bool, float, float, int, list]] = []
        for w, (U, Q, W, limit), has_peak in zip(weights, weighted, peaked):
            # block i >= 1 costs U[c] + Q[p, e_c]: qmin[e] moves the smallest pair term into U and
            # ``shift`` makes every step non-negative (a completion of n blocks pays n * shift more)
            qmin = np.array([Q[: e + 1, e].min() for e in range(k)])
            Us = U + qmin[tab.width]
            shift = min(0.0, float(Us.min()))
            for last_peak in (False, True) if has_peak else (False,):
                # the most room a completion has (the peak so far left out of it with the last block's peak)
                top = limit - float((U if last_peak else U + W).min()) - (N - 1) * shift
                unit = top / (buckets - 1) if top > 0 else 1.0  # top <= 0: nothing fits, any unit is valid
                step = np.floor((Us - shift) / unit).astype(np.int64)
                last = np.floor((Us + W - shift) / unit).astype(np.int64) if last_peak else None
                pair_step = np.floor(np.triu(Q - qmin[None, :]) / unit).astype(np.int64)
                hi = _suffix_tables(*args, tab.parts, pair_values, step, pair_step, buckets, self.max_depth, last)
                self.tables.append((w, last_peak, shift, unit, buckets, _by_bucket(hi)))
        step, pair_step = np.zeros(len(tab.choices), dtype=np.int64), np.zeros((k, k), dtype=np.int64)
        if not tab.budgets:
            hi = _suffix_tables(*args, tab.parts, pair_values, step, pair_step, 1, self.max_depth)
            self.tables.append((np.zeros(0), False, 0.0, 1.0, 1, _by_bucket(hi)))
        # smallest sums over all completions (no budget): the largest of the negated values
        neg = _suffix_tables(*args, -tab.parts, -pair_values, step, pair_step, 1, self.max_depth)
        # as [width, depth, part] of the parts A, B, S_M, S_F: a child's are one contiguous read
        self.lo = [None if t is None else np.ascontiguousarray(-t[..., 0][:, [_A, _B, _SM, _SF]].transpose(0, 2, 1))
                   for t in neg]
        # cheapest completion of every budget (additive part; the peak only adds)
        self.cheapest = []
        for U, Q, _, _ in tab.budgets:
            t = _suffix_tables(*args, -U[None], -Q[None], step, pair_step, 1, self.max_depth)
            self.cheapest.append([None if x is None else -x[:, 0, :, 0] for x in t])
        self.frames: list[dict] = []

    # -- children of a batch of nodes ------------------------------------------------------------------
    def _children(self, nodes: dict) -> dict:
        """Every child of a batch of sibling-level nodes, flat; ``parent`` indexes ``nodes``."""
        tab, i = self.tab, nodes["block"] + 1
        ar = np.arange(len(tab.choices))
        if i > 0:  # widths non-decreasing; equal widths keep their choices sorted
            p, last = nodes["width"][:, None], nodes["choice"][:, None]
            parent, ch = np.nonzero((tab.width > p) | ((tab.width == p) & (ar >= last)))
        else:
            parent, ch = np.zeros(len(ar), dtype=np.int64), ar
        e = tab.width[ch]
        sums = nodes["sums"][:, parent] + tab.parts[:, ch]
        costs, peaks = [], []
        if i > 0:
            p = nodes["width"][parent]
            sums[_A] += tab.pair_value[p, e]
            sums[_AB] += tab.pair_value[p, e]
        for (U, Q, W, _), c0, w0 in zip(tab.budgets, nodes["costs"], nodes["peaks"]):
            costs.append(c0[parent] + U[ch] + (Q[p, e] if i > 0 else 0.0))
            peaks.append(np.maximum(w0[parent], W[ch]))
        return {"block": i, "parent": parent, "choice": ch, "width": e, "sums": sums,
                "depth": nodes["depth"][parent] + tab.depth[ch], "costs": costs, "peaks": peaks}

    def _bounds(self, kids: dict) -> np.ndarray:
        """Upper bound of the objective over the completions of each child (``-inf``: none)."""
        tab, i, nb = self.tab, kids["block"], len(self.tab.budgets)
        e, n = kids["width"], len(kids["choice"])
        rest = tab.N - 1 - i
        # the depths the remaining blocks can add (the tables hold -inf elsewhere)
        d = slice(rest * self.min_layers, rest * self.max_layers + 1)
        # first what the budgets allow (a completion within each, and room in every table): the children
        # with none are dropped before the arrays of the bounds are built
        ok = np.ones((n, d.stop - d.start), dtype=bool)
        room = np.empty((nb, n))
        for j, ((_, _, _, limit), cost, peak) in enumerate(zip(tab.budgets, kids["costs"], kids["peaks"])):
            used = cost + peak
            ok &= (used[:, None] + self.cheapest[j][i + 1][e, d]) <= limit + SLACK * abs(limit)
            room[j] = limit - used + SLACK * abs(limit)
        peaks = np.array(kids["peaks"]).reshape(nb, n)
        rows = []
        for w, last_peak, shift, unit, buckets, _ in self.tables:
            r = (w @ (room + peaks if last_peak else room) - rest * shift) / unit
            ok &= (r >= 0)[:, None]
            rows.append(np.clip(np.floor(np.maximum(r, 0)), 0, buckets - 1).astype(np.int64))
        best = np.full(n, -np.inf)
        live = np.flatnonzero(ok.any(axis=1))
        if not len(live):
            return best
        e, ok, sums = e[live], ok[live], kids["sums"].T[live]  # sums: (live, 5)
        T = kids["depth"][live, None] + np.arange(d.start, d.stop)[None, :]
        # every table bounds each sum's maximum: the completions lie in the boxes' intersection
        hi = None
        for (*_, table), idx in zip(self.tables, rows):
            part = table[i + 1][e, idx[live], d, :]  # (live, depths, 5)
            hi = part if hi is None else np.minimum(hi, part, out=hi)
        hi += sums[:, None, :]
        lo = self.lo[i + 1][e, d] + sums[:, None, [_A, _B, _SM, _SF]]
        bound = self._box_bound(hi, lo, T)
        bound = np.where(ok & ~np.isnan(bound), bound, -np.inf).max(axis=1)
        finite = np.isfinite(bound)
        bound[finite] += SLACK * np.abs(bound[finite])
        best[live] = bound
        return best

    def _box_bound(self, hi: np.ndarray, lo: np.ndarray, T: np.ndarray) -> np.ndarray:
        """The objective's bound over the boxes ``[lo, hi]`` of the sums (``(n, D, 5)`` and ``(n, D, 4)``:
        ``A``, ``B``, ``S_M``, ``S_F``), ``(n, D)``."""
        tab = self.tab
        ok = np.isfinite(hi[..., _A])
        for coef, part in tab.rho_min_s:
            ok &= hi[..., part] >= coef * T * T * (1 - SLACK)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            if tab.penalty == "none":
                bound = np.minimum(hi[..., _A] + hi[..., _B], hi[..., _AB])
            else:
                T2 = tab.beta * T.astype(np.float64) ** 2
                bound = np.zeros(T.shape)
                p_hi = []
                for x_lo, x_hi, s_lo, s_hi in (
                    (lo[..., 0], hi[..., _A], lo[..., 2], hi[..., _SM]),
                    (lo[..., 1], hi[..., _B], lo[..., 3], hi[..., _SF]),
                ):
                    ph, pl = tab.penalty_factor(T2 / s_hi), tab.penalty_factor(T2 / s_lo)
                    bound += np.maximum.reduce([x_hi * ph, x_hi * pl, x_lo * ph, x_lo * pl])
                    p_hi.append(ph)
                # with A, B >= 0 and m = min(P_M, P_F) >= 0: A p_M + B p_F <= A P_M + B P_F
                # = m (A + B) + (P_M - m) A + (P_F - m) B, each term at most its channel's maximum
                m = np.minimum(p_hi[0], p_hi[1])
                joint = m * hi[..., _AB] + (p_hi[0] - m) * hi[..., _A] + (p_hi[1] - m) * hi[..., _B]
                usable = (lo[..., 0] >= 0) & (lo[..., 1] >= 0) & (m >= 0)
                bound = np.where(usable, np.minimum(bound, joint), bound)
        return np.where(ok, bound, -np.inf)

    def _leaves(self, nodes: dict, kids: dict) -> None:
        """Score complete designs from the tables; re-score the promising ones exactly."""
        tab, ctx = self.tab, self.ctx
        s = kids["sums"]
        ok = np.ones(len(kids["choice"]), dtype=bool)
        for (_, _, _, limit), cost, peak in zip(tab.budgets, kids["costs"], kids["peaks"]):
            ok &= cost + peak <= limit + SLACK * abs(limit)
        T = kids["depth"].astype(np.float64)
        for coef, part in tab.rho_min_s:
            ok &= s[part] >= coef * T * T * (1 - SLACK)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            f = tab.objective(s[_A], s[_B], s[_SM], s[_SF], T)
        ctx.n_evals += len(f)
        keep = np.flatnonzero(ok & (f + SLACK * np.abs(f) >= ctx.best_f))
        if len(keep):
            paths = np.concatenate([nodes["path"][kids["parent"][keep]], kids["choice"][keep, None]], axis=1)
            ctx.n_evals -= len(keep)  # counted again by ctx.evaluate
            ctx.evaluate(tab.choices[paths].reshape(len(keep), 3 * tab.N))

    # -- the search ---------------------------------------------------------------------------------
    def run(self) -> bool:
        """Search until done (``True``) or out of time (``False``).

        Depth first over batches: each frame holds the surviving children of a batch of nodes,
        best bound first, and the next batch is its first ``_batch`` nodes whose bound can still
        beat the incumbent (one node at a time where the arrays of a batch would grow large)."""
        tab, ctx = self.tab, self.ctx
        nb = len(tab.budgets)
        root = {"block": -1, "width": np.zeros(1, dtype=np.int64), "choice": np.zeros(1, dtype=np.int64),
                "path": np.zeros((1, 0), dtype=np.int64), "sums": np.zeros((5, 1)),
                "depth": np.zeros(1, dtype=np.int64), "costs": [np.zeros(1)] * nb, "peaks": [np.zeros(1)] * nb}
        self._push(root)
        while self.frames:
            if ctx.time_up():
                return False
            frame = self.frames[-1]
            j, bound = frame["next"], frame["bound"]
            stop = min(len(bound), j + frame["batch"])
            stop = j + int(np.searchsorted(-bound[j:stop], -ctx.best_f, side="right"))  # sorted: the rest cannot win
            if stop == j:
                self.frames.pop()
                continue
            frame["next"] = stop
            self._push({k: v if k == "block" else (v[:, j:stop] if k == "sums" else
                                                   [x[j:stop] for x in v] if k in ("costs", "peaks") else v[j:stop])
                        for k, v in frame["nodes"].items()})
        return True

    def _push(self, nodes: dict) -> None:
        kids = self._children(nodes)
        if kids["block"] == self.tab.N - 1:
            self._leaves(nodes, kids)
            return
        bound = self._bounds(kids)
        order = np.argsort(-bound, kind="stable")
        # a child without a feasible completion has bound -inf: pruned even before the first incumbent
        order = order[(bound[order] >= self.ctx.best_f) & (bound[order] > -np.inf)]
        if len(order):
            survivors = {
                "block": kids["block"],
                "width": kids["width"][order],
                "choice": kids["choice"][order],
                "path": np.concatenate([nodes["path"][kids["parent"][order]], kids["choice"][order, None]], axis=1),
                "sums": kids["sums"][:, order],
                "depth": kids["depth"][order],
                "costs": [x[order] for x in kids["costs"]],
                "peaks": [x[order] for x in kids["peaks"]],
            }
            self.frames.append({"nodes": survivors, "bound": bound[order], "next": 0,
                                "batch": self._batch(kids["block"])})

    def _batch(self, block: int) -> int:
        """How many nodes of ``block`` to expand together: their children's bound arrays stay near
        :data:`_BATCH_CELLS` cells (children x depths x channels)."""
        rest = max(self.tab.N - 2 - block, 0)  # blocks after a child's
        cells = len(self.tab.choices) * (rest * (self.max_layers - self.min_layers) + 1) * len(_CHANNELS)
        return int(np.clip(_BATCH_CELLS // cells, 1, _BATCH_NODES))

    def open_bound(self) -> float:
        """The largest bound of the subtrees not searched yet."""
        rest = [f["bound"][f["next"]] for f in self.frames if f["next"] < len(f["bound"])]
        return max(rest, default=-math.inf)
