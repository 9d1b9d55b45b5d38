"""OR-Tools CP-SAT backend: the exact optimum of the discretised program, with a proof.

Model
-----
Block ``i`` picks one choice ``(e, r, l)`` (one boolean per choice, exactly one true); the
widths of adjacent blocks are linked by pair booleans ``(e_i, e_{i+1})`` with ``e_i <= e_{i+1}``
(a network-flow linking that also enforces the width order). Adjacent blocks of equal width
keep their choices sorted (swapping them changes no objective or cost), unless a user
predicate could tell them apart. Every quantity is an integer per-choice (or per-width-pair)
table, scaled and rounded:

* entropy parts ``a = S * alpha_1 * sum_i L_i 4 H(E_i x E_i)`` and
  ``b = S * alpha_2 * sum_i L_i 2 H(E_i x F_i)``, ``S`` the power of ten that makes the largest
  objective about ``1e15`` units (``1e10`` for the default space);
* log-widths ``s_M = G * sum_i L_i log2 E_i``, ``s_F = G * sum_i L_i log2 F_i``, ``G = 1e5``;
* additive costs (FLOPs, params, latency budgets; the ``params`` objective) as per-choice plus
  per-width-pair tables extracted from the cost model with one- and two-block designs
  (``C_N = sum_i C_1(b_i) + sum_i Q(e_i, e_{i+1})``) and verified on sample designs; memory
  is that plus the largest per-block working set (one linear constraint per block). Budget
  tables are rounded down and limits to the nearest unit, so no feasible design is cut.

The entropy's effectiveness penalty ``p(rho) = 1 - beta T^2 / s`` is a ratio. For each total
depth ``T`` (outer loop, so ``beta T^2`` is a constant) the model takes ``q >= a / s``
through CP-SAT's product constraint ``q * s >= a`` and maximises
``u = a + b - round(G beta T^2) (q_M + q_F)``; at the optimum ``q = ceil(a / s)``.

Exactness
---------
``u`` differs from ``S * H`` by at most ``delta``, a bound derived from the rounding of every
table entry, of ``G beta T^2`` and of the ceiling (:meth:`_Model.delta`). A design better than
the incumbent ``H*`` therefore has ``u >= ceil(S H* - delta)``: a depth whose model (with
no-good cuts excluding designs already scored) has a maximum, or CP-SAT bound, below that holds
no better design (the cut is checked, not posted: see :meth:`_Model.build`).
Each design CP-SAT returns is re-scored in floating point by the problem itself (which also
checks what the model relaxes or omits: rounded budgets, user predicates); better ones become
the incumbent, ties go to the smallest encoding (so runs are deterministic). Depths are
searched in decreasing order of their LP-relaxation bound, and skipped when that bound is
below the incumbent. When every depth is proved the status is ``optimal``; when the time
limit stops the search the bound is the largest of CP-SAT's bounds (plus ``delta``) and the
LP bounds of the depths not proved.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

from mpsolve.utils.errors import MpsolveError, SolverError, warn
from mpsolve.utils.validation import check_bool, check_integer, is_integer

try:  # imported with the module: mpsolve.solve counts the import (~0.6 s) against the run's time limit
    from ortools.sat.python import cp_model
except ImportError:  # pragma: no cover - depends on the installation
    raise SolverError("solver 'cpsat' needs OR-Tools: pip install 'mpsolve[solvers]' (or ortools)") from None
from mpsolve.constraints import Budget, Effectiveness, Predicate
from mpsolve.core.problem import Problem, corner_chunks
from mpsolve.core.result import Result
from mpsolve.core.solver import SolveContext, Solver
from mpsolve.costs import MemoryCost, ParamsCost
from mpsolve.objectives import DecoderParamsObjective, MeRinoEntropy, ParamsObjective
from mpsolve.solvers._registry import register_solver
from mpsolve.solvers._tables import _choice_index, _cost_tables, _memory_peak, _tabled_objective

__all__ = ["CPSATSolver"]

#: scale of the log-width tables (``G``).
LOG_SCALE = 1e5
#: the objective tables are scaled so that the largest objective is about this many units.
OBJECTIVE_UNITS = 1e15
#: additive costs are scaled so that the largest cost is about this many units.
COST_UNITS = 1e12
#: the most search workers CP-SAT accepts (a larger num_workers makes every solve MODEL_INVALID)
MAX_WORKERS = 10_000


def _power_of_ten_scale(max_abs: float, units: float, what: str) -> float:
    """The power of ten that brings ``max_abs``, the largest sum of ``what`` a design can reach, to at most ``units``
    (1 for 0); a one-line :class:`SolverError` where no float does (a floor of 1 on ``max_abs`` rounded a tiny
    objective's every term to 0: every design tied, and a worse one was proved optimal)."""
    if max_abs == 0:
        return 1.0
    exponent = math.floor(math.log10(units) - math.log10(max_abs)) if math.isfinite(max_abs) else -math.inf
    if not -300 <= exponent <= 300:
        raise SolverError(f"cpsat cannot scale {what} of magnitude {max_abs:.3g} to integers: rescale it (1e-280 "
                          "and above works), or use another solver (exact, exhaustive, ea)")
    return 10.0 ** exponent


class _Model:
    """Builds and solves the CP-SAT model of one total depth (or of all depths)."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        space = problem.space
        self.space = space
        self.N = space.num_blocks
        k, kr, kl = len(space.embed_dims), len(space.ffn_ratios), len(space.layers)
        self.k = k
        self.choices = np.array([(e, r, l) for e in range(k) for r in range(kr) for l in range(kl)], dtype=np.int64)
        self.layer_of = np.asarray(space.layers, dtype=np.int64)[self.choices[:, 2]]
        self._objective_tables()
        self._constraint_tables()
        #: per depth, the LP range ``(min, max)`` of each log-width sum (set by :meth:`lp_bound`)
        self.log_ranges: dict[int, list[tuple[int, int]]] = {}

    # -- tables -------------------------------------------------------------------------------
    def _objective_tables(self) -> None:
        obj, space, ch = self.problem.objective, self.space, self.choices
        E, F = np.asarray(space.embed_dims), space.ffn_table
        L = self.layer_of.astype(np.float64)
        self.ratio_coeff = 0.0
        self.pairs_obj = np.zeros((self.k, self.k))
        kind = _tabled_objective(obj)
        if kind is MeRinoEntropy:
            if obj.penalty == "exp":
                raise SolverError(
                    "cpsat handles the entropy with penalty 'linear' or 'none', not 'exp'; "
                    "use MeRinoEntropy(penalty='linear') or another solver (ea, exhaustive)"
                )
            e, r = ch[:, 0], ch[:, 1]
            att = obj.alpha[0] * L * 4.0 * obj.matrix_entropy(E[e], E[e])
            ffn = obj.alpha[1] * L * 2.0 * obj.matrix_entropy(E[e], F[e, r])
            self.scale = _power_of_ten_scale(self.N * (np.abs(att).max() + np.abs(ffn).max()), OBJECTIVE_UNITS,
                                             "an entropy objective")
            self.num = [np.round(att * self.scale).astype(np.int64), np.round(ffn * self.scale).astype(np.int64)]
            self.logw = [
                np.round(L * np.log2(E[e]) * LOG_SCALE).astype(np.int64),
                np.round(L * np.log2(F[e, r]) * LOG_SCALE).astype(np.int64),
            ]
            self.unary_obj = self.num[0] + self.num[1]
            self.ratio_coeff = obj.beta if obj.penalty == "linear" else 0.0
            self.n_rounded = 2 * self.N
        elif kind in (ParamsObjective, DecoderParamsObjective):
            U, Q = _cost_tables(ParamsCost(), space, ch)
            if kind is DecoderParamsObjective:
                U = U - (space.vocab_size + space.max_positions) * space.embed_proj_dim / self.N
            self.scale = _power_of_ten_scale(self.N * np.abs(U).max() + self.N * np.abs(Q).max(), OBJECTIVE_UNITS,
                                             f"the {obj.name} objective")
            self.unary_obj = np.round(U * self.scale).astype(np.int64)
            self.pairs_obj = np.round(Q * self.scale).astype(np.int64)
            self.num, self.logw = [], []
            self.n_rounded = 2 * self.N - 1
        else:
            raise SolverError(
                f"cpsat supports the objectives 'entropy', 'params' and 'decoder_params' (with their own "
                f"evaluate), not {obj.name!r}; "
                "use another solver (ea, nsga2, tpe, exhaustive) for custom objectives"
            )
        self.depth_loop = self.ratio_coeff > 0 or any(isinstance(c, Effectiveness) for c in self.problem.constraints)
        self.relaxable = self.ratio_coeff > 0 and all(int(num.min()) >= 0 for num in self.num)

    def _constraint_tables(self) -> None:
        self.budgets: list[tuple[np.ndarray, np.ndarray, np.ndarray | None, int]] = []
        self.lazy: list[str] = []
        for c in self.problem.constraints:
            peak = None
            if isinstance(c, Budget) and type(c.cost) is MemoryCost:
                peak = _memory_peak(c.cost, self.space, self.choices)
            if isinstance(c, Budget) and (c.cost.is_additive() or peak is not None):
                U, Q = _cost_tables(c.cost, self.space, self.choices, peak)
                W = np.zeros(len(self.choices)) if peak is None else peak
                s = _power_of_ten_scale(self.N * (np.abs(U).max() + np.abs(Q).max()) + np.abs(W).max(), COST_UNITS,
                                        f"the {c.cost.name} cost")
                # floors: the integer cost never exceeds the true one, so no feasible design is cut; the
                # limit is rounded to the nearest unit, not down: a design exactly at it sums to an integer
                # that the limit times the scale may miss by a float's error (329.369248 ms x 1e8 is
                # 32936924799.999996, flooring to one unit below the design's 32936924800); every design's sum is
                # at most COST_UNITS, so a limit above binds nothing (past int64 it was a TypeError)
                self.budgets.append(
                    (
                        np.floor(U * s).astype(np.int64),
                        np.floor(Q * s).astype(np.int64),
                        None if peak is None else np.floor(W * s).astype(np.int64),
                        round(min(c.limit * s, 2 * COST_UNITS)),
                    )
                )
            elif isinstance(c, (Budget, Predicate)):
                self.lazy.append(c.cost.name if isinstance(c, Budget) else c.name)
            elif not isinstance(c, Effectiveness):
                self.lazy.append(type(c).__name__)
        self.lazy_said = ", ".join(self.lazy) or "rounded budgets"  # what the lazy cuts are for, in messages
        # objective and modelled constraints are sums over blocks: only user predicates may tell
        # apart designs that differ by swapping adjacent blocks of equal width
        self.symmetric = not any(isinstance(c, Predicate) for c in self.problem.constraints)

    def log_width_need(self, con: Effectiveness, T: int, logw: np.ndarray) -> int:
        """The least log-width sum (in ``LOG_SCALE`` units, less the rounding) that ``con`` admits at depth ``T``;
        one above every design's where none reaches it (the exact need went past int64: a TypeError)."""
        need = con.beta * T * T / con.rho_max * LOG_SCALE - 0.5 * self.N
        return math.floor(min(need, self.N * int(logw.max()) + 1))

    def depths(self) -> list[int]:
        """Every achievable total depth."""
        sums = {0}
        for _ in range(self.N):
            sums = {s + l for s in sums for l in self.space.layers}
        return sorted(sums)

    # -- the scaled objective of given designs (the model's arithmetic, in numpy) --------------------
    def scaled(self, X: np.ndarray) -> np.ndarray:
        """``u`` of each design (python ints, exact) for the depth of each design."""
        idx = _choice_index(X, self.space)
        out = []
        for row, e in zip(idx, self.space.widths(X)):
            u = int(self.unary_obj[row].sum()) + int(self.pairs_obj[e[:-1], e[1:]].sum())
            if self.ratio_coeff > 0:
                T = int(self.layer_of[row].sum())
                cr = round(self.ratio_coeff * T * T * LOG_SCALE)
                for num, logw in zip(self.num, self.logw):
                    a, s = int(num[row].sum()), int(logw[row].sum())
                    u -= cr * (-(-a // s))
            out.append(u)
        return np.array(out, dtype=object)

    def delta(self, T: int | None) -> float:
        """Upper bound on ``|u - scale * objective|`` for designs of total depth ``T``."""
        d = 0.5 * self.n_rounded
        if self.ratio_coeff > 0 and T is not None:
            c = self.ratio_coeff * T * T * LOG_SCALE
            for num, logw in zip(self.num, self.logw):
                per_layer_num = num / self.layer_of
                per_layer_log = logw / self.layer_of
                s_min = T * per_layer_log.min() - 0.5 * self.N
                r_max = T * np.abs(per_layer_num).max() / s_min + 1.0
                d += 0.5 * (r_max + 1) + c * (1.0 + 0.5 * self.N * (1.0 + r_max) / s_min)
        return 1.5 * d + 1e-9 * OBJECTIVE_UNITS

    def interval_bound(self, T: int) -> float:
        """A cheap valid upper bound on the objective over designs of total depth ``T``."""
        if not self.num:
            return math.inf
        total = 0.0
        for num, logw in zip(self.num, self.logw):
            per_num = num / self.layer_of / self.scale
            per_log = logw / self.layer_of / LOG_SCALE
            A = (T * per_num.min(), T * per_num.max())
            p = (1 - self.ratio_coeff * T / (per_log.min() - 1e-6), 1 - self.ratio_coeff * T / (per_log.max() + 1e-6))
            total += max(a * q for a in A for q in p)
        return total + 1e-9 * abs(total)

    def lp_bound(self, T: int) -> float:
        """An upper bound on the objective at depth ``T``: the LP relaxation (HiGHS) of the model
        with ``q * s >= a`` relaxed to ``q * max(s) >= a`` (valid for ``a >= 0``), so that the
        objective is linear; ``inf`` when an LP fails. Also records the LP ranges of the
        log-width sums, which the CP-SAT model of this depth then uses as domains."""
        N, k, n_ch = self.N, self.k, len(self.choices)
        pairs = [(i, e, f) for i in range(N - 1) for e in range(k) for f in range(e, k)]
        n_x = N * n_ch
        n = n_x + len(pairs)
        rows_eq: list[tuple[list[int], list[float], float]] = [
            (list(range(i * n_ch, (i + 1) * n_ch)), [1.0] * n_ch, 1.0) for i in range(N)
        ]
        rows_eq.append((list(range(n_x)), np.tile(self.layer_of, N).astype(float).tolist(), float(T)))
        for i in range(N - 1):
            for e in range(k):
                cols = [c for c in range(n_ch) if self.choices[c, 0] == e]
                out = [n_x + j for j, (pi, pe, _) in enumerate(pairs) if pi == i and pe == e]
                inc = [n_x + j for j, (pi, _, pf) in enumerate(pairs) if pi == i and pf == e]
                rows_eq.append(([i * n_ch + c for c in cols] + out, [1.0] * len(cols) + [-1.0] * len(out), 0.0))
                rows_eq.append(([(i + 1) * n_ch + c for c in cols] + inc, [1.0] * len(cols) + [-1.0] * len(inc), 0.0))
        rows_ub: list[tuple[list[int], list[float], float]] = []
        pair_cols = list(range(n_x, n))
        for U, Q, W, limit in self.budgets:
            scale = max(abs(limit), 1)
            base = np.tile(U, N).astype(np.float64) / scale
            qv = [Q[e, f] / scale for _, e, f in pairs]
            for i in [None] if W is None else range(N):
                coef = base.copy()
                if i is not None:
                    coef[i * n_ch : (i + 1) * n_ch] += W / scale
                rows_ub.append((list(range(n_x)) + pair_cols, coef.tolist() + qv, limit / scale))
        for con in self.problem.constraints:
            if isinstance(con, Effectiveness):
                for part, logw in zip(("mhsa", "ffn"), self._logw_tables()):
                    if con.parts in ("both", part):
                        need = self.log_width_need(con, T, logw)
                        coef = np.tile(logw, N).astype(np.float64)
                        rows_ub.append((list(range(n_x)), (-coef / max(need, 1)).tolist(), -need / max(need, 1)))

        def matrix(rows: list[tuple[list[int], list[float], float]]) -> tuple[Any, np.ndarray]:
            r = np.concatenate([[j] * len(cols) for j, (cols, _, _) in enumerate(rows)])
            c = np.concatenate([cols for cols, _, _ in rows])
            v = np.concatenate([vals for _, vals, _ in rows])
            return coo_matrix((v, (r, c)), shape=(len(rows), n)).tocsr(), np.array([b for _, _, b in rows])

        A_eq, b_eq = matrix(rows_eq)
        A_ub, b_ub = matrix(rows_ub) if rows_ub else (None, None)

        def maximise(w: np.ndarray) -> float | None:
            """LP maximum of ``sum_i w[b_i]``; ``-inf`` if infeasible, ``None`` if it failed.
            HiGHS works in floating point: a relative margin covers its tolerances."""
            norm = max(np.abs(w).max(), 1.0)
            cost = np.concatenate([np.tile(-w / norm, N), np.zeros(len(pairs))])
            res = linprog(cost, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq, bounds=(0, 1), method="highs")
            if res.status == 2:
                return -math.inf
            if res.status != 0:  # e.g. 4, numerical difficulties: no objective value (res.fun is None)
                return None
            best = -res.fun * norm
            return best + 1e-6 * abs(best) + 1.0

        # the range of each log-width sum at this depth and within the budgets: tighter than
        # T * [min, max] per layer, it tightens both this bound and the CP-SAT model
        cr = round(self.ratio_coeff * T * T * LOG_SCALE)
        w = self.unary_obj.astype(np.float64)
        ranges = []
        for num, logw in zip(self.num, self.logw):
            per_log = logw / self.layer_of
            lo, hi = int(T * np.floor(per_log.min())), int(T * np.ceil(per_log.max()))
            s_max, s_min = maximise(logw.astype(np.float64)), maximise(-logw.astype(np.float64))
            if s_max is None or s_min is None or math.isfinite(s_max) != math.isfinite(s_min):
                return math.inf  # failed, or the two LPs disagree on feasibility (tolerances): no bound
            if not math.isfinite(s_max):
                return -math.inf
            lo, hi = max(lo, math.floor(-s_min)), min(hi, math.ceil(s_max))
            ranges.append((lo, hi))
            w = w - cr * num.astype(np.float64) / hi  # float: cr * num overflows int64
        self.log_ranges[T] = ranges
        best = maximise(w)
        return math.inf if best is None else (best + self.delta(T)) / self.scale

    # -- the CP-SAT model -------------------------------------------------------------------------
    def build(self, T: int | None, excluded: list[np.ndarray]):
        """The CP-SAT model of depth ``T`` (all depths for ``None``) without the designs ``excluded``.

        The incumbent is not a constraint (``u >= threshold``): with one, CP-SAT 9.15's presolve
        returned a worse design as optimal on some models (its result without presolve, and
        without the cut, was right), so :meth:`CPSATSolver._solve_depth` compares the optimum
        with the incumbent instead. Nor is it a solution hint: it is one of the ``excluded``
        designs, so the model forbids it, and OR-Tools 9.15 is reported to abort the whole
        process (``Check failed: heuristics.fixed_search != nullptr``) on such hints with several
        workers; this backend hit that abort twice in runs of random spaces while it hinted."""
        m = cp_model.CpModel()
        N, k, n_ch = self.N, self.k, len(self.choices)
        x = [[m.new_bool_var(f"x{i}_{c}") for c in range(n_ch)] for i in range(N)]
        for i in range(N):
            m.add_exactly_one(x[i])
        width = [[[x[i][c] for c in range(n_ch) if self.choices[c, 0] == e] for e in range(k)] for i in range(N)]
        pairs = []
        for i in range(N - 1):
            pv = {(e, f): m.new_bool_var(f"p{i}_{e}_{f}") for e in range(k) for f in range(e, k)}
            for e in range(k):
                m.add(sum(pv[e, f] for f in range(e, k)) == sum(width[i][e]))
                m.add(sum(pv[f, e] for f in range(e + 1)) == sum(width[i + 1][e]))
            pairs.append(pv)

        def lin(table: np.ndarray, pair_table: np.ndarray | None = None):
            terms = [(x[i][c], int(table[c])) for i in range(N) for c in range(n_ch) if table[c]]
            if pair_table is not None:
                terms += [(v, int(pair_table[e, f])) for pv in pairs for (e, f), v in pv.items() if pair_table[e, f]]
            return cp_model.LinearExpr.weighted_sum([t[0] for t in terms], [t[1] for t in terms])

        for U, Q, W, limit in self.budgets:
            if W is None:
                m.add(lin(U, Q) <= limit)
            else:  # sum + max_i W[b_i] <= limit, i.e. sum + W[b_i] <= limit for every block
                for i in range(N):
                    m.add(lin(U, Q) + cp_model.LinearExpr.weighted_sum(x[i], W.tolist()) <= limit)
        if self.symmetric:  # swapping adjacent equal-width blocks changes nothing: keep choices sorted
            index = np.arange(n_ch)
            for i in range(N - 1):
                ci = cp_model.LinearExpr.weighted_sum(x[i], index.tolist())
                cj = cp_model.LinearExpr.weighted_sum(x[i + 1], index.tolist())
                ei = cp_model.LinearExpr.weighted_sum(x[i], self.choices[:, 0].tolist())
                ej = cp_model.LinearExpr.weighted_sum(x[i + 1], self.choices[:, 0].tolist())
                m.add(ci - cj <= n_ch * (ej - ei))
        if T is not None:
            m.add(lin(self.layer_of) == T)
        objective = lin(self.unary_obj, self.pairs_obj)
        if self.ratio_coeff > 0 and T is not None:
            cr = round(self.ratio_coeff * T * T * LOG_SCALE)
            ratio_vars: list[Any] = []
            for num, logw in zip(self.num, self.logw):
                per_num, per_log = num / self.layer_of, logw / self.layer_of
                s_lo, s_hi = int(T * np.floor(per_log.min())), int(T * np.ceil(per_log.max()))
                if T in self.log_ranges:
                    s_lo, s_hi = self.log_ranges[T][len(ratio_vars)]
                a_lo, a_hi = int(np.floor(T * per_num.min())), int(np.ceil(T * per_num.max()))
                s = m.new_int_var(s_lo, s_hi, "")
                m.add(s == lin(logw))
                # a / s is a mediant of the choices' num / logw, so ceil(a / s) lies within theirs
                ratio = num / logw
                q = m.new_int_var(math.floor(ratio.min()), math.ceil(ratio.max()) + 1, "")
                prod = m.new_int_var(min(0, a_lo), max(0, a_hi) + s_hi, "")
                if a_lo >= 0:  # linear relaxation of q * s >= a (s <= s_hi, q >= 0)
                    m.add(s_hi * q >= lin(num))
                m.add_multiplication_equality(prod, [q, s])
                m.add(prod >= lin(num))
                objective -= cr * q
                ratio_vars.append(q)
        if T is not None:
            for con in self.problem.constraints:
                if isinstance(con, Effectiveness):
                    for part, logw in zip(("mhsa", "ffn"), self._logw_tables()):
                        if con.parts in ("both", part):
                            m.add(lin(logw) >= self.log_width_need(con, T, logw))
        for X in excluded:
            m.add_bool_or([x[i][c].Not() for i, c in enumerate(_choice_index(X[None], self.space)[0])])
        m.maximize(objective)
        return m, x

    def _logw_tables(self) -> list[np.ndarray]:
        if self.logw:
            return self.logw
        E, F, L = np.asarray(self.space.embed_dims), self.space.ffn_table, self.layer_of
        e, r = self.choices[:, 0], self.choices[:, 1]
        return [
            np.round(L * np.log2(E[e]) * LOG_SCALE).astype(np.int64),
            np.round(L * np.log2(F[e, r]) * LOG_SCALE).astype(np.int64),
        ]

    def decode(self, solver: Any, x: list[list[Any]]) -> np.ndarray:
        out = np.empty(3 * self.N, dtype=np.int64)
        for i, row in enumerate(x):
            c = next(c for c, v in enumerate(row) if solver.value(v))
            out[3 * i : 3 * i + 3] = self.choices[c]
        return out


@register_solver
class CPSATSolver(Solver):
    """Exact optimum by OR-Tools CP-SAT, with ``status='optimal'`` only when proved.

    See the module docstring for the model and the exactness argument. Budgets on additive
    costs (params, FLOPs, latency), memory budgets (additive plus the largest per-block
    working set: one linear constraint per block) and the effectiveness bound are model
    constraints; other constraints (user predicates, other costs) are checked on each
    candidate and cut lazily, at most ``max_lazy_cuts`` times.

    Args:
        workers: CP-SAT search workers (``None``: the CPU count, at most 8).
        hint: a warm start, the encoding (or a :class:`Result`) of a design from another solver.
        max_lazy_cuts: how many candidates violating a lazily checked constraint may be cut; past it the run
            stops with a warning, its best design so far with status ``feasible`` (a :class:`SolverError` when it
            has none).
        log: print CP-SAT's search log.
    """

    name = "cpsat"
    stochastic = False
    resumable = True

    def __init__(
        self,
        workers: int | None = None,
        hint: Result | list[int] | tuple[int, ...] | np.ndarray | None = None,
        max_lazy_cuts: int = 200,
        log: bool = False,
    ) -> None:
        workers = check_integer(workers, "cpsat: workers", error=SolverError, optional=True)
        if workers is not None and workers > MAX_WORKERS:
            raise SolverError(f"cpsat: workers must be at most {MAX_WORKERS} (CP-SAT's limit), got {workers}")
        if isinstance(hint, Result):
            if hint.x is None:
                raise SolverError("cpsat: the hint result has no design (its status is infeasible)")
            hint = hint.x
        values = None if hint is None else np.asarray(hint).ravel().tolist()
        if values is not None and not all(is_integer(v) for v in values):  # floats would be truncated silently
            raise SolverError(f"cpsat: hint must be a Result or a design's encoding (grid indices, a list: on the "
                              f"command line hint=[0,2,1,...]), got {hint!r}")
        self.workers = workers
        self.hint = None if values is None else tuple(values)
        self.max_lazy_cuts = check_integer(max_lazy_cuts, "cpsat: max_lazy_cuts", minimum=0, error=SolverError)
        self.log = check_bool(log, "cpsat: log", SolverError)

    def _solve(self, ctx: SolveContext) -> None:
        problem = ctx.problem
        model = _Model(problem)
        # depths proved to hold no better design. A resumed run proves them again, warm-started
        # from the checkpoint's re-scored incumbent: a stored proof cannot be checked, so a file
        # never decides that a depth may be skipped.
        done: dict[int | None, float] = {}
        ctx.set_state(lambda: {})
        # the incumbent: resumed, hinted, or the best feasible corner design (up to ~10^5 of them: scored in
        # chunks, the first always and the others while time is left)
        starts = []
        if self.hint is not None:
            starts.append(self._hint(problem))
        if ctx.best_x is not None:
            starts.append(ctx.best_x[None])
        seeds = ctx.feasible_seeds
        for part in corner_chunks(len(seeds), ctx.time_up):
            self._score(ctx, model, seeds[part])
        if starts:
            self._score(ctx, model, np.concatenate(starts))
        depths: list[int | None] = model.depths() if model.depth_loop else [None]
        ctx.progress(None)
        bounds: dict[int | None, float] = {}  # upper bounds of depths not proved yet

        def upper(T: int | None) -> float:
            return bounds.get(T, math.inf if T is None else model.interval_bound(T))

        excluded: list[np.ndarray] = [] if ctx.best_x is None else [ctx.best_x]
        lazy_cuts = 0
        if model.depth_loop and model.relaxable:
            # the LP relaxation of each depth: a fast bound, much tighter than the interval one,
            # to order the depths, skip those that cannot beat the incumbent and bound a run
            # stopped by its time limit
            for T in depths:
                if T not in done and not ctx.time_up():
                    bounds[T] = min(upper(T), model.lp_bound(T))
        for T in sorted(depths, key=upper, reverse=True):  # most promising depth first
            if T in done or ctx.time_up():
                continue
            if ctx.best_x is not None and upper(T) < ctx.best_f:
                done[T] = upper(T)
                continue
            lazy_cuts = self._solve_depth(ctx, model, T, excluded, done, bounds, lazy_cuts)
            ctx.maybe_checkpoint()
            if lazy_cuts > self.max_lazy_cuts:  # out of cuts with an incumbent: it stands, not proved
                warn(f"cpsat cut {lazy_cuts} candidates violating constraints it cannot model ({model.lazy_said}) "
                     f"and stopped (max_lazy_cuts={self.max_lazy_cuts}): its design is the best found, not proved "
                     "optimal (status 'feasible'); raise max_lazy_cuts or use solver 'ea' or 'exhaustive'")
                break
        unproved = [T for T in depths if T not in done]
        if not unproved:
            ctx.status = "optimal"
            ctx.bound = ctx.best_f if ctx.best_x is not None else None
        else:
            ctx.bound = max(max(upper(T) for T in unproved), ctx.best_f)

    def _solve_depth(
        self,
        ctx: SolveContext,
        model: _Model,
        T: int | None,
        excluded: list[np.ndarray],
        done: dict[int | None, float],
        bounds: dict[int | None, float],
        lazy_cuts: int,
    ) -> int:
        """Search one depth until it is proved (``done``) or out of time (``bounds``)."""
        delta = model.delta(T)
        while not ctx.time_up():
            threshold = None if ctx.best_x is None else math.ceil(model.scale * ctx.best_f - delta)
            m, xvars = model.build(T, excluded)
            if ctx.time_up():
                return lazy_cuts
            solver = cp_model.CpSolver()
            status = self._run(ctx, solver, m)
            if status == cp_model.INFEASIBLE:
                done[T] = -math.inf
                return lazy_cuts
            if status == cp_model.MODEL_INVALID:
                raise SolverError(f"cpsat built an invalid model: {m.validate()}")
            if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                return lazy_cuts  # no solution, no bound (CP-SAT reports 0): the depth keeps its bound
            if threshold is not None and solver.best_objective_bound < threshold:
                done[T] = (solver.best_objective_bound + delta) / model.scale  # no design here beats the incumbent
                return lazy_cuts
            y = model.decode(solver, xvars)
            excluded.append(y)
            if not self._score(ctx, model, y[None], delta):
                lazy_cuts += 1
                if lazy_cuts > self.max_lazy_cuts:
                    if ctx.best_x is None:  # nothing feasible to return
                        raise SolverError(
                            f"cpsat cut {lazy_cuts} candidates violating constraints it cannot model "
                            f"({model.lazy_said}) before finding a feasible design; raise max_lazy_cuts or use "
                            "solver 'ea' or 'exhaustive'"
                        )
                    return lazy_cuts  # the incumbent stands (see _solve)
            if status != cp_model.OPTIMAL:
                bounds[T] = (solver.best_objective_bound + delta) / model.scale
                return lazy_cuts
        return lazy_cuts

    def _run(self, ctx: SolveContext, solver: Any, m: Any) -> Any:
        self._parameters(ctx, solver.parameters)
        return solver.solve(m)

    def _parameters(self, ctx: SolveContext, params: Any) -> None:
        """Set CP-SAT's ``SatParameters`` of one solve."""
        params.max_time_in_seconds = max(0.01, ctx.time_left()) if ctx.time_limit is not None else 1e9
        params.num_workers = self.workers or min(8, os.cpu_count() or 1)
        params.random_seed = int(ctx.seed or 0) % (2**31)
        params.log_search_progress = self.log
        # CP-SAT 9.15's presolve proved depths infeasible that hold the optimum, so that a worse design
        # came back "optimal"; without it no such case is known and the default space is not slower
        # (benchmarks/results/cpsat_presolve.md)
        params.cp_model_presolve = False
        # CP-SAT's own Ctrl-C handler resets SIGINT to the default (kill) when a solve ends;
        # Python's handler stays, and the interrupt arrives when the current solve returns
        params.catch_sigint_signal = False

    def _hint(self, problem: Problem) -> np.ndarray:
        """The hint as a ``(1, n_var)`` encoding of a design in the width order, or a one-line error."""
        try:
            hint = problem.space.check_encoding(np.asarray(self.hint))
        except MpsolveError as exc:
            raise SolverError(f"cpsat: hint {list(self.hint)} is not a design of this space ({exc}); give a design's "
                              "encoding, e.g. another solver's Result") from None
        if problem.space.order_violation(hint)[0] > 0:
            raise SolverError(f"cpsat: hint {list(self.hint)} has decreasing widths, which the width order forbids; "
                              "give a feasible design, e.g. another solver's Result")
        return hint

    def _score(self, ctx: SolveContext, model: _Model, X: np.ndarray, delta: float | None = None) -> bool:
        """Evaluate candidates exactly, keep the best (ties: the smallest encoding, so that runs
        are deterministic), and check that the model's scaled objective agrees with the float one."""
        best = None if ctx.best_x is None else (ctx.best_f, ctx.best_x)
        ev = ctx.evaluate(X)
        for x, f, ok, u in zip(X, ev.objective, ev.feasible, model.scaled(X)):
            err = abs(float(u) / model.scale - f)
            T = int(model.layer_of[_choice_index(x[None], model.space)[0]].sum()) if model.depth_loop else None
            if err > (model.delta(T) if delta is None else delta) / model.scale:
                raise SolverError(
                    f"cpsat: scaled objective {float(u) / model.scale!r} disagrees with the float objective {f!r}; "
                    "this is a bug, please report it"
                )
            if ok and best is not None and abs(f - best[0]) <= 1e-12 * abs(f):
                if tuple(x) < tuple(best[1]):
                    best = (float(f), np.array(x, dtype=np.int64))
            elif ok and (best is None or f > best[0]):
                best = (float(f), np.array(x, dtype=np.int64))
        if best is not None:
            ctx.best_f, ctx.best_x = best
        return bool(np.any(ev.feasible))
