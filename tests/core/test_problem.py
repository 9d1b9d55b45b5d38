import math
import warnings

import numpy as np
import pytest

import mpsolve
from mpsolve import Budget, Effectiveness, InfeasibleError, MpsolveError, Predicate, Problem
from mpsolve.core.problem import CORNER_CHUNK, FIRST_CHUNK
from mpsolve.costs import CostModel, FlopsCost, MemoryCost, ParamsCost
from mpsolve.objectives import Objective, effectiveness
from mpsolve.utils.clock import deadline


def test_evaluation_shapes_and_feasibility(small_problem, rng):
    X = small_problem.space.sample(300, rng)
    ev = small_problem.evaluate(X)
    assert ev.objective.shape == (300,) and ev.violations.shape == (300, 2)
    np.testing.assert_array_equal(ev.feasible, ev.costs["flops"] <= 12e9)
    assert 0 < ev.feasible.mean() < 1


def test_unordered_encodings_are_infeasible(small_problem):
    x = np.array([[2, 0, 0, 1, 0, 0, 3, 0, 0]])
    assert not small_problem.evaluate(x).feasible[0]


def test_infeasible_budget_states_cheapest_cost(small_space):
    problem = Problem(small_space, constraints=[Budget("flops", "1G"), Budget("params", "500M")])
    with pytest.raises(InfeasibleError, match=r"flops budget 1G is below the cheapest design's 2\.\d+G") as info:
        mpsolve.solve(problem, "ea", seed=0)
    cheapest = info.value.cheapest["flops"]
    all_flops = np.concatenate([problem.evaluate(X).costs["flops"] for X in small_space.enumerate()])
    assert cheapest == pytest.approx(all_flops.min())



def test_a_budget_just_below_the_cheapest_design_states_both_apart():
    """At 4 digits a budget one FLOP below the cheapest design read 'flops budget 2.617G is below the cheapest
    design's 2.617G', and the budget the message suggests, 2.617G, is still below it."""
    cheapest = 2617245696.0  # the small space's cheapest design
    problem = Problem("small", constraints=[Budget("flops", cheapest - 1)])
    with pytest.raises(InfeasibleError, match=r"^infeasible problem: flops budget 2617245695 is below the cheapest "
                                              r"design's 2617245696 in space 'small'") as info:
        problem.check_feasible()
    assert info.value.cheapest["flops"] == cheapest

class NarrowFirstBlock(CostModel):
    """A cost that falls as the first block widens (so it conflicts with FLOPs)."""

    name = "narrowness"

    def evaluate(self, batch, constants):
        return 1.0 + 512.0 - batch.embed_dims[:, 0]

    def is_monotone(self):  # FFN ratios and depths do not change it
        return True


def test_jointly_infeasible_budgets_are_reported(small_space):
    cheapest_flops = Problem(small_space).evaluate(Problem(small_space).corner_designs()[0]).costs["flops"].min()
    problem = Problem(small_space, constraints=[Budget("flops", cheapest_flops), Budget(NarrowFirstBlock(), 1)])
    with pytest.raises(InfeasibleError, match="each budget alone can be met .* no design meets all of them"):
        problem.check_feasible()


def test_predicate_and_effectiveness_constraints(small_space, rng):
    problem = Problem(
        small_space,
        constraints=[
            Budget("flops", "20G"),
            Effectiveness(rho_max=0.1),
            Predicate(lambda a: a.blocks[0].layers == 1, name="shallow first block"),
        ],
    )
    X = small_space.sample(200, rng)
    ev = problem.evaluate(X)
    ok = (ev.costs["flops"] <= 20e9) & (small_space.decode_batch(X).layers[:, 0] == 1)
    assert (ev.feasible <= ok).all()
    result = mpsolve.solve(problem, "ea", seed=1, iterations=2000)
    assert result.architecture.blocks[0].layers == 1
    b = small_space.decode_batch(result.x[None])
    assert max(effectiveness(b.layers, b.embed_dims, 1 / 16)[0], effectiveness(b.layers, b.ffn_dims, 1 / 16)[0]) <= 0.1


def test_problem_echo_and_fingerprint(small_problem, small_space):
    d = small_problem.to_dict()
    assert d["space"]["name"] == "small" and d["constraints"][0]["limit"] == 12e9
    other = Problem(small_space, constraints=[Budget("flops", "13G")])
    assert other.fingerprint() != small_problem.fingerprint()
    assert Problem(small_space, constraints=[Budget("flops", 12e9)]).fingerprint() == small_problem.fingerprint()


@pytest.mark.parametrize("limit", [float("nan"), float("inf"), -1, 0, "12Q"])
def test_bad_budgets(limit):
    with pytest.raises(mpsolve.MpsolveError):
        Budget("flops", limit)


def test_feasibility_check_samples_spaces_with_very_many_width_orders():
    space = mpsolve.SearchSpace(num_blocks=24, embed_dims=(64, 128, 192, 256, 320, 384, 448, 512), layers=(1, 2))
    problem = Problem(space, constraints=[Budget("flops", "20G")])
    X, complete = problem.corner_designs(limit=1000, sample=500)
    assert not complete and len(X) <= 500 + 8 and problem.space.is_ordered(X).all()
    result = mpsolve.solve(problem, "ea", seed=0, iterations=500)
    assert result.costs["flops"] <= 20e9


def test_feasibility_check_stops_at_a_solves_deadline(monkeypatch):
    calls = []
    monkeypatch.setattr(Problem, "evaluate", lambda self, X, _f=Problem.evaluate: calls.append(len(X)) or _f(self, X))
    # 12 blocks: ~5 * 10^4 width orders, all enumerated: the proof reads their budgets' costs, no objective
    problem = Problem(mpsolve.SearchSpace(num_blocks=12), constraints=[Budget("flops", "1")])
    for passed in (False, True):  # a passed deadline leaves the proof whole (a time-limited front kept it)
        with deadline(0.0 if passed else math.inf), pytest.raises(InfeasibleError, match="flops budget 1 is below"):
            problem.check_feasible()
    assert calls == []
    problem = Problem(mpsolve.SearchSpace(num_blocks=12), constraints=[Budget("flops", "2000G")])
    assert len(problem.check_feasible()) > 4 * CORNER_CHUNK
    assert calls[:3] == [FIRST_CHUNK, 2 * FIRST_CHUNK, 4 * FIRST_CHUNK] and max(calls) == CORNER_CHUNK
    calls.clear()
    with deadline(0.0):  # passed: the first chunk is scored, no more
        assert len(problem.check_feasible()) == FIRST_CHUNK
    assert calls == [FIRST_CHUNK]
    # 32 blocks: a 0.5 s limit took 12 s when ~2 * 10^5 sampled corners were scored, twice
    calls.clear()
    problem = Problem(mpsolve.SearchSpace(num_blocks=32), constraints=[Budget("flops", "500G")])
    result = mpsolve.solve(problem, "ea", seed=0, time_limit=1e-9)  # time up at every check
    assert result.status == "feasible" and result.n_evals <= FIRST_CHUNK
    batches = [n for n in calls if n > 1]  # the answer's re-checks score one design each
    assert batches == [FIRST_CHUNK, FIRST_CHUNK]  # the check's first chunk, the EA's first


def test_a_slow_predicate_meets_a_short_time_limit():
    """Before: 8192 corners per chunk, each through a per-design Predicate, in the check and again in the EA's
    first chunk: a 0.1 s limit took 3.3-4.2 s. The chunks now start at 256."""
    calls = []

    def slow(arch):
        calls.append(1)
        return True

    problem = Problem(mpsolve.SearchSpace(num_blocks=12), constraints=[Budget("flops", "2000G"), Predicate(slow)])
    mpsolve.solve(problem, "ea", seed=0, time_limit=1e-9, iterations=64)
    assert len(calls) <= 2 * FIRST_CHUNK + 64 + 8  # the check's and the EA's first chunks, one batch, the re-checks


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"constraints": Budget("flops", "12G")}, "constraints must be a list of Constraint objects"),
        ({"constraints": "flops<=12G"}, "constraints must be a list of Constraint objects"),
        ({"constraints": None}, "constraints must be a list of Constraint objects"),
        ({"report_costs": "params"}, "report_costs must be a list of costs"),
        ({"objective": ""}, "unknown objective ''"),
    ],
)
def test_bad_problem_arguments_say_what_is_wrong(kwargs, match):
    with pytest.raises(mpsolve.MpsolveError, match=match):
        Problem("small", **kwargs)


class _NanForWideFFN(Objective):
    """A broken objective: NaN for designs with an FFN wider than its block (the corner designs are finite)."""

    name = "nan_for_wide_ffn"

    def evaluate(self, batch, constants):
        return np.where((batch.ffn_dims > batch.embed_dims).any(axis=1), np.nan, 1.0)


class _NanEntropy(mpsolve.MeRinoEntropy):
    """The entropy with a NaN for every matrix (as ``eps=1e-300`` gave before such options were refused)."""

    def matrix_entropy(self, m, n):
        return np.full(np.broadcast(m, n).shape, np.nan)


@pytest.mark.parametrize("solver", ["ea", "tpe", "nsga2", "exhaustive", "cpsat", "exact"])
def test_a_nan_objective_is_an_error_not_infeasible(solver):
    """Before: every solver but cpsat reported 'infeasible' (NaN never beats the incumbent), tpe's polish never
    ended and cpsat crashed converting NaN to an integer."""
    problem = Problem("small", _NanEntropy(), [Budget("flops", "20G")])
    with pytest.raises(mpsolve.MpsolveError, match=r"^the objective 'entropy' is nan for .* a score must be a finite "
                       r"number; check its options: _NanEntropy\(variant='rate', eps=1.0"):
        mpsolve.solve(problem, solver, seed=0, time_limit=60)


@pytest.mark.parametrize("options", [{"eps": 1e-300}, {"eps": 1e-160}, {"eps": 1e300}, {"init_std": 1e-300}])
def test_rate_entropy_options_that_overflow_or_vanish_are_refused(options):
    """Before: eps=1e-160 scored every design NaN ((s / eps)^2 overflows), eps=1e300 scored them all 0."""
    with pytest.raises(mpsolve.MpsolveError, match=r"^the rate entropy needs init_std / eps in \[1e-100, 1e\+100\]"):
        mpsolve.MeRinoEntropy(**options)
    assert np.isfinite(mpsolve.MeRinoEntropy(variant="log", **options).of("merino-52m"))


@pytest.mark.parametrize("solver", ["ea", "tpe", "exhaustive"])
def test_a_nan_met_during_the_search_is_an_error(solver):
    problem = Problem("small", _NanForWideFFN(), [Budget("flops", "20G")])
    assert len(problem.check_feasible())  # the corner designs are finite: the NaN comes from the search
    with pytest.raises(mpsolve.MpsolveError, match=r"^the objective 'nan_for_wide_ffn' is nan for .*\(\d+ of \d+ "
                       r"designs scored\): a score must be a finite number"):
        mpsolve.solve(problem, solver, seed=0, time_limit=60)
    with pytest.raises(mpsolve.MpsolveError, match="is nan"):
        _NanForWideFFN().of("merino-64m")  # r = 1.5


def test_two_budgets_on_one_cost_with_other_options_are_each_reported(small_space):
    """The first budget on a cost takes its name; another with other options is labelled by them
    (before, one unlabelled ``flops`` was reported and the other budget's value was lost)."""
    long, short = FlopsCost(seq_len=1024), FlopsCost(seq_len=128)
    problem = Problem(small_space, constraints=[Budget(long, "1T"), Budget(short, "4G")])
    assert list(problem.costs) == ["params", "flops", "memory", "flops[seq_len=128]"]
    assert problem.cost_key(long) == "flops" and problem.cost_key(short) == "flops[seq_len=128]"
    r = mpsolve.solve(problem, "exhaustive")
    assert r.costs["flops"] == long.of(r.architecture) and r.costs["flops[seq_len=128]"] == short.of(r.architecture)
    assert r.costs["flops[seq_len=128]"] <= 4e9 < r.costs["flops"]
    # infeasibility names the budget that cannot be met by its label
    tight = Problem(small_space, constraints=[Budget(long, "1T"), Budget(short, "1M")])
    with pytest.raises(InfeasibleError, match=r"^infeasible problem: flops\[seq_len=128\] budget 1M is below") as info:
        tight.check_feasible()
    assert list(info.value.cheapest) == ["flops[seq_len=128]"]
    # asked-for costs are kept: a budget takes the name, the reported cost of that name is labelled
    asked = Problem(small_space, constraints=[Budget(short, "4G")], report_costs=["params", long])
    assert asked.costs == {"params": ParamsCost(), "flops": short, "flops[seq_len=1024]": long}
    # a budget on a cost asked for under a label takes the name, and the label goes
    both = Problem(small_space, constraints=[Budget(short, "4G")], report_costs=[long, short])
    assert both.costs == {"flops": short, "flops[seq_len=1024]": long}
    with pytest.raises(mpsolve.MpsolveError, match="is not reported by this problem"):
        asked.cost_key(FlopsCost(seq_len=64))


class ProfiledCost(CostModel):
    name = "profiled"

    def __init__(self, profile):
        self.profile = profile

    def options(self):
        return {"profile": self.profile}

    def evaluate(self, batch, constants):
        return np.full(len(batch.layers), float(self.profile["ms"]))


def test_costs_with_options_that_are_not_plain_values_are_numbered(small_space):
    problem = Problem(small_space, constraints=[Budget(ProfiledCost({"ms": 1}), 2), Budget(ProfiledCost({"ms": 3}), 4)])
    assert [k for k in problem.costs if k.startswith("profiled")] == ["profiled", "profiled#2"]
    ev = problem.evaluate(small_space.sample(3, np.random.default_rng(0)))
    assert set(ev.costs["profiled"]) == {1.0} and set(ev.costs["profiled#2"]) == {3.0}


def test_a_budget_on_more_positions_than_the_models_hold_is_warned(small_space):
    m = small_space.max_positions
    with pytest.warns(mpsolve.MpsolveWarning, match=rf"the flops budget counts a workload of {m + 1} token "
                                                    rf"positions, beyond the space's max_positions {m}"):
        Problem(small_space, constraints=[Budget("flops", "1T", seq_len=m + 1)])
    with pytest.warns(mpsolve.MpsolveWarning, match=rf"decode_flops budget counts a workload of {m + 1} token"):
        Problem(small_space, constraints=[Budget("decode_flops", "1T", seq_len=m)])  # m cached and the new one
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Problem(small_space, constraints=[Budget("flops", "1T", seq_len=m), Budget("memory", "1T", seq_len=m),
                                          Budget("decode_flops", "1T", seq_len=m - 1)])


def test_a_latency_budget_on_more_positions_than_the_models_hold_is_refused(small_space):
    """Before: a profile of another space's workload (its seq_len) budgeted these models without a word; then
    with a warning only, and the run went on to budget designs for a workload they cannot run."""
    from mpsolve.testing.pytest_solvers import synthetic_profile

    m = small_space.max_positions
    wide = mpsolve.SearchSpace(**{**small_space.to_dict(), "max_positions": 2 * m})
    for phase, seq_len, positions, most in (("prefill", m + 1, m + 1, m), ("decode", m, m + 1, m - 1)):
        cost = mpsolve.costs.latency_cost(synthetic_profile(wide, phase, seq_len=seq_len))
        with pytest.raises(MpsolveError, match=rf"^the {cost.name} budget's profile was measured on a workload of "
                                               rf"{positions} token positions \(seq_len {seq_len}\), beyond the "
                                               rf"space's max_positions {m}: its models cannot run it; profile again "
                                               rf"with --seq-len <= {most} \(mpsolve profile-latency\), or use a "
                                               rf"space with max_positions >= {positions}$"):
            Problem(small_space, constraints=[Budget(cost, 1e9)])
        Problem(wide, constraints=[Budget(cost, 1e9)])  # a space whose models hold the workload
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Problem(small_space, constraints=[Budget(mpsolve.costs.latency_cost(synthetic_profile(small_space, phase)),
                                                 1e9) for phase in ("prefill", "decode")])


def test_nsga2_takes_a_labelled_cost_with_commas_as_an_objective(small_space):
    wide = MemoryCost(seq_len=128, batch_size=8)
    problem = Problem(small_space, constraints=[Budget("params", "60M")], report_costs=["params", "memory", wide])
    r = mpsolve.solve(problem, "nsga2", seed=0, generations=3, pop_size=12,
                      costs="memory, memory[seq_len=128,batch_size=8]")  # the label's comma was split on
    assert r.status == "feasible" and all("memory[seq_len=128,batch_size=8]" in p["costs"] for p in r.pareto)


def _faster_wide_ffn_profile() -> tuple[mpsolve.SearchSpace, dict]:
    """A tiny space and a profile in which the wider FFN layer of width 128 times faster (measurement
    noise does this), so the cheapest design is not the smallest-ratio one."""
    from mpsolve.testing.pytest_solvers import synthetic_profile

    space = mpsolve.SearchSpace(num_blocks=2, embed_dims=(128, 256), ffn_ratios=(1.0, 2.0), layers=(1, 2),
                                vocab_size=256, embed_proj_dim=128, max_positions=64, name="tiny")
    profile = synthetic_profile(space)
    for row in profile["layers"]:
        if row["embed_dim"] == 128:
            row["ms"] = 1.0 if row["ffn_dim"] == 128 else 0.5
    return space, profile


def test_a_latency_profile_where_a_wider_ffn_is_faster_keeps_the_cheapest_design():
    space, profile = _faster_wide_ffn_profile()
    X = np.concatenate(list(space.enumerate()))
    latency = Problem(space, constraints=[Budget("latency", 1e9, profile=profile)]).evaluate(X).costs["latency"]
    cheapest = float(latency.min())
    assert space.decode(X[np.argmin(latency)]).blocks[0].ffn_ratio == 2.0  # the case this test is about
    problem = Problem(space, constraints=[Budget("latency", cheapest * 1.001, profile=profile)])
    assert mpsolve.solve(problem, "exhaustive").status == "optimal"  # was "infeasible problem" before any search
    with pytest.raises(InfeasibleError) as info:
        Problem(space, constraints=[Budget("latency", cheapest * 0.999, profile=profile)]).check_feasible()
    assert info.value.cheapest["latency"] == pytest.approx(cheapest, rel=1e-12)


def test_budgets_whose_cheapest_designs_differ_are_left_to_the_solvers():
    """Latency is cheapest with the wider FFN, FLOPs with the narrower: no corner design is cheapest in
    both, so the corners prove nothing about the pair; here no design meets both, and the exact
    solvers prove it."""
    space, profile = _faster_wide_ffn_profile()
    X = np.concatenate(list(space.enumerate()))
    ev = Problem(space, constraints=[Budget("latency", 1e9, profile=profile), Budget("flops", 1e30, seq_len=64)]
                 ).evaluate(X)
    latency = float(ev.costs["latency"].min())  # only the cheapest-latency (wide FFN) designs fit
    flops = float(ev.costs["flops"][ev.costs["latency"] <= latency].min()) * 0.999  # and none of them fits this
    assert not np.any((ev.costs["latency"] <= latency) & (ev.costs["flops"] <= flops))
    problem = Problem(space, constraints=[Budget("latency", latency, profile=profile),
                                          Budget("flops", flops, seq_len=64)])
    assert len(problem.check_feasible()) == 0  # each budget alone can be met: no error from the corners
    for solver in ("exhaustive", "exact", "cpsat"):  # a complete search proves it
        result = mpsolve.solve(problem, solver)
        assert (result.status, result.proved, result.to_dict()["proved"]) == ("infeasible", True, True), solver
    assert not mpsolve.solve(problem, "ea", seed=0).proved  # found nothing, proved nothing
    front = mpsolve.pareto(problem, problem.budgets[0].cost, [latency], solver="exact")
    assert front.points[0]["status"] == "infeasible" and front.certified  # was "not certified"


class CheaperWithWiderFfn(CostModel):
    """A cost of one's own that falls as the FFN ratios grow (and says nothing of its monotonicity)."""

    name = "cheaper-with-wider-ffn"

    def evaluate(self, batch, constants):
        return 1e6 / np.sum(batch.ffn_dims, axis=1)


def test_a_cost_not_known_to_be_monotone_is_left_to_the_solvers(small_space):
    """Before: the smallest-ratio corners 'proved' a budget infeasible that wide-FFN designs meet."""
    X = np.concatenate(list(small_space.enumerate()))
    cost = Problem(small_space, report_costs=[CheaperWithWiderFfn()]).evaluate(X).costs["cheaper-with-wider-ffn"]
    corners = Problem(small_space, report_costs=[CheaperWithWiderFfn()]).corner_designs()[0]
    limit = float(np.min(cost)) * 1.001
    assert limit < float(np.min(Problem(small_space, report_costs=[CheaperWithWiderFfn()]).evaluate(corners).costs[
        "cheaper-with-wider-ffn"]))  # no corner meets it
    problem = Problem(small_space, "params", constraints=[Budget(CheaperWithWiderFfn(), limit)])
    problem.check_feasible()  # no InfeasibleError
    result = mpsolve.solve(problem, "exhaustive")
    assert result.status == "optimal" and result.costs["cheaper-with-wider-ffn"] <= limit


def test_two_budgets_on_one_cost_name_only_the_violated_ones():
    """Before: the cheapest value was recovered as (cost - limit) + limit of the last budget on the cost,
    one ulp above the minimum, and a budget set at the minimum was blamed as violated."""
    from mpsolve.testing.pytest_solvers import synthetic_profile

    space = mpsolve.SearchSpace(num_blocks=2, embed_dims=(64, 128), ffn_ratios=(1.0, 2.0), layers=(1, 2),
                                vocab_size=256, embed_proj_dim=128, max_positions=64, head_dim=32)
    cost = mpsolve.costs.latency_cost(synthetic_profile(space, seq_len=16))
    ev = Problem(space, report_costs=[cost, "params"]).evaluate(np.concatenate(list(space.enumerate())))
    least, params = float(ev.costs["latency"].min()), float(ev.costs["params"].min())
    big = next(b for b in np.linspace(2, 50, 200) * least if (least - b) + b > least)  # where the old sum rounded
    budgets = [Budget(cost, least), Budget("params", params * 0.9), Budget(cost, float(big))]
    problem = Problem(space, constraints=budgets)
    with pytest.raises(InfeasibleError, match=r"^infeasible problem: params budget .* is below") as info:
        problem.check_feasible()
    assert info.value.cheapest == {"params": params}


@pytest.mark.parametrize(("fn", "vectorized", "said"), [
    (lambda a: None, False, r"returned None for \[.*: a predicate returns True \(the design is allowed\) or False$"),
    (lambda a: "False", False, r"returned 'False' for"),
    (lambda a: np.array([True, False]), False, r"returned array\(\[ True, False\]\) for"),
    (lambda b: np.max(b.embed_dims, axis=1) - 300.0, True, r"returned float64 values: a vectorized predicate returns "
                                                           r"a bool array"),
], ids=["none", "string", "array", "violation-amount"])
def test_a_predicate_returning_no_bool_is_refused(small_space, fn, vectorized, said):
    """Before: None (a forgotten return) excluded every design ('infeasible'), 'False' and a pymoo-style
    violation amount (<= 0 allowed) allowed the designs they meant to exclude, and an array was a raw ValueError."""
    problem = Problem(small_space, constraints=[Budget("flops", "40G"), Predicate(fn, "p", vectorized=vectorized)])
    with pytest.raises(MpsolveError, match=rf"^predicate 'p' {said}"):
        problem.evaluate(small_space.sample(5, np.random.default_rng(0)))


class _NaNAboveWidth(mpsolve.constraints.Constraint):
    name = "nan-above-300"

    def violation(self, batch, constants):
        widest = np.max(batch.embed_dims, axis=1).astype(np.float64)
        return np.where(widest > 300, np.nan, widest - 1000)


def test_a_nan_constraint_violation_is_refused():
    """Before: a NaN violation passed for violated, so exhaustive 'proved' an optimum among the other designs."""
    problem = Problem("small", constraints=[Budget("flops", "40G"), _NaNAboveWidth()])
    with pytest.raises(MpsolveError, match=r"^the constraint 'nan-above-300' is NaN for \[.*: a constraint's "
                                           r"violation is a number, <= 0 where the design is allowed$"):
        mpsolve.solve(problem, "exhaustive")


def test_evaluate_while_time_left_takes_one_design_as_evaluate_does():
    """Before: one design came back as its first gene (shape (1,)) beside the evaluation of one design."""
    got = {}

    class OneAtATime(mpsolve.Solver):
        name = "one-at-a-time"

        def _solve(self, ctx: mpsolve.SolveContext) -> None:
            got["x"] = ctx.problem.space.sample(1, ctx.rng)[0]
            got["scored"] = ctx.evaluate_while_time_left(got["x"])
            ctx.evaluate(ctx.feasible_seeds)

    mpsolve.solve(Problem("small", constraints=[Budget("flops", "40G")]), OneAtATime, seed=0)
    X, ev = got["scored"]
    assert X.shape == (1, len(got["x"])) and (X[0] == got["x"]).all() and ev.objective.shape == (1,)
