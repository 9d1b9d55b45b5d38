"""A solver backend, a cost model and an objective added from outside the package: one class
and one registration each, then used by name in a solve."""

from __future__ import annotations

import inspect
import json
import pathlib
import time
import warnings

import numpy as np
import pytest

import mpsolve
from mpsolve.costs import COSTS, CostModel, register_cost
from mpsolve.objectives import OBJECTIVES, MeRinoEntropy, Objective, ParamsObjective, register_objective
from mpsolve.solvers import SOLVERS, register_solver


class RandomSearch(mpsolve.Solver):
    name = "test-random"

    def __init__(self, samples: int = 3000) -> None:
        self.samples = samples

    def _solve(self, ctx: mpsolve.SolveContext) -> None:
        while ctx.n_evals < self.samples and not ctx.time_up():
            ctx.evaluate(ctx.problem.space.sample(500, ctx.rng))


class WidestBlock(CostModel):
    name = "test-widest"

    def evaluate(self, batch, constants) -> np.ndarray:
        return np.max(batch.embed_dims, axis=1).astype(np.float64)


class Depth(Objective):
    name = "test-depth"

    def evaluate(self, batch, constants) -> np.ndarray:
        return np.sum(batch.layers, axis=1).astype(np.float64)


@pytest.fixture
def plugins():
    register_solver(RandomSearch)
    register_cost(WidestBlock)
    register_objective(Depth)
    yield
    SOLVERS.remove(RandomSearch.name)
    COSTS.remove(WidestBlock.name)
    OBJECTIVES.remove(Depth.name)


def test_plugins_solve_by_name(plugins) -> None:
    problem = mpsolve.Problem("small", objective="test-depth", constraints=[mpsolve.Budget("test-widest", 256)])
    exact = mpsolve.solve(problem, "exhaustive")
    assert exact.status == "optimal" and exact.objective == 9  # three blocks of the deepest choice, 3 layers
    found = mpsolve.solve(problem, "test-random", seed=0, samples=2000)
    assert found.solver == "test-random" and found.options == {"samples": 2000}
    assert found.status == "feasible" and found.costs["test-widest"] <= 256
    assert found.objective == exact.objective
    assert "test-random" in mpsolve.list_solvers()


def test_plugins_are_gone_after_removal(plugins) -> None:
    SOLVERS.remove(RandomSearch.name)
    with pytest.raises(mpsolve.SolverError, match="unknown solver 'test-random'"):
        mpsolve.get_solver("test-random")


def test_a_plugin_cannot_silently_take_a_built_in_name() -> None:
    class Impostor(RandomSearch):
        name = "ea"

    with pytest.raises(mpsolve.SolverError, match="a solver named 'ea' is already registered"):
        register_solver(Impostor)
    assert mpsolve.get_solver("ea").name == "ea" and not isinstance(mpsolve.get_solver("ea"), Impostor)


class _Offers(mpsolve.Solver):
    """A backend that finds designs its own way and offers them with the objective it believes."""

    def __init__(self, x: tuple[int, ...] = (), f: float = 0.0) -> None:
        self.x, self.f = x, f

    def _solve(self, ctx: mpsolve.SolveContext) -> None:
        if self.x:
            ctx.offer(np.array(self.x), self.f)


def test_offered_designs_are_checked_and_a_fruitless_search_is_not_called_infeasible() -> None:
    problem = mpsolve.Problem("small", objective="params", constraints=[mpsolve.Budget("flops", "20G")])
    widest = (3, 2, 2) * 3  # 78.9 GFLOPs
    with pytest.raises(mpsolve.SolverError, match=r"^solver '' offered .* which violates the constraints"):
        _Offers(widest, 5.0).solve(problem)
    small = problem.check_feasible()[0]
    true = float(problem.evaluate(small[None]).objective[0])
    with pytest.raises(mpsolve.SolverError, match=rf"offered objective 5\.0 for a design whose objective is {true!r}"):
        _Offers(tuple(small), 5.0).solve(problem)
    r = _Offers(tuple(small), true).solve(problem)
    assert r.status == "feasible" and r.objective == true and r.x.tolist() == small.tolist()
    # a search that found nothing returns the best design the feasibility check scored, not "infeasible"
    r = _Offers().solve(problem)
    assert r.status == "feasible" and r.x is not None
    assert r.objective == max(problem.evaluate(problem.check_feasible()).objective)


def test_an_offer_is_one_integer_encoding_and_a_number() -> None:
    """Before: a fractional encoding was truncated to another design and offered silently; a string objective or a
    batch gave a raw TypeError or ValueError."""
    problem = mpsolve.Problem("small", objective="params", constraints=[mpsolve.Budget("flops", "20G")])
    small = problem.check_feasible()[0]
    true = float(problem.evaluate(small[None]).objective[0])
    with pytest.raises(mpsolve.ArchitectureError, match="^encodings must be integer grid indices"):
        _Offers(tuple(small + 0.7), true).solve(problem)
    with pytest.raises(mpsolve.SolverError, match=r"^solver '' offered objective '1': offer the number ctx.evaluate"):
        _Offers(tuple(small), "1").solve(problem)
    with pytest.raises(mpsolve.SolverError, match=r"^solver '' offered an array of shape \(1, 9\): offer one design"):
        _Offers((tuple(small),), true).solve(problem)
    assert _Offers(tuple(small.astype(float)), true).solve(problem).x.tolist() == small.tolist()


class _ForgetsItsOption(mpsolve.Solver):
    def __init__(self, samples: int = 100) -> None:
        self.n = samples

    def _solve(self, ctx: mpsolve.SolveContext) -> None:
        raise AssertionError("never reached: the options are read before the run")


class _SaysDone(mpsolve.Solver):
    def _solve(self, ctx: mpsolve.SolveContext) -> None:
        ctx.evaluate(ctx.feasible_seeds)
        ctx.status = "done"


def test_a_backend_breaking_the_conventions_is_told_how() -> None:
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "20G")])
    with pytest.raises(mpsolve.SolverError, match=r"^_ForgetsItsOption does not keep its argument\(s\) samples: store "
                       r"each argument of __init__ in the attribute of the same name"):
        _ForgetsItsOption().solve(problem)
    with pytest.raises(mpsolve.SolverError, match=r"set ctx.status to 'done': a backend may set 'optimal'"):
        _SaysDone().solve(problem)


class SmallestModel(ParamsObjective):
    """A plug-in that keeps the params objective's name space but scores the opposite."""

    name = "test-smallest"

    def evaluate(self, batch, constants) -> np.ndarray:
        return -super().evaluate(batch, constants)


class EntropyDepthBonus(MeRinoEntropy):
    name = "test-entropy-depth-bonus"

    def evaluate(self, batch, constants) -> np.ndarray:
        return super().evaluate(batch, constants) + 5000.0 * np.sum(batch.layers, axis=1)


@pytest.mark.parametrize("objective", [SmallestModel(), EntropyDepthBonus()], ids=lambda o: o.name)
def test_a_built_in_objective_subclass_with_its_own_evaluate_is_scored_by_it(objective) -> None:
    """Before: exhaustive and exact scored it with the built-in's block tables and 'proved' a wrong optimum."""
    problem = mpsolve.Problem("small", objective=objective, constraints=[mpsolve.Budget("flops", "20G")])
    X = np.concatenate(list(problem.space.enumerate()))
    ev = problem.evaluate(X)
    best = float(np.max(ev.objective[ev.feasible]))
    assert mpsolve.solve(problem, "exhaustive").objective == pytest.approx(best, rel=1e-12)
    for solver in ("exact", "cpsat"):
        with pytest.raises(mpsolve.SolverError, match=f"not '{objective.name}'"):
            mpsolve.solve(problem, solver)


class Width(CostModel):
    """A plug-in cost with an option, kept as an attribute (scikit-learn's convention)."""

    name = "test-width-power"

    def __init__(self, power: int = 1) -> None:
        self.power = power

    def evaluate(self, batch, constants) -> np.ndarray:
        return np.max(batch.embed_dims, axis=1).astype(np.float64) ** self.power


def test_plugin_options_come_from_the_constructor() -> None:
    """Before: options() was {} unless overridden, so two budgets on Width(1) and Width(2) were one cost,
    and a result or a worker process rebuilt the plug-in with its defaults."""
    assert Width(2).options() == {"power": 2} and Width(1) != Width(2)
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget(Width(1), 384), mpsolve.Budget(Width(2), 36864)])
    assert len(problem.costs) == 5  # params, flops, memory and both widths
    result = mpsolve.solve(problem, "ea", seed=0, time_limit=5)
    assert result.costs[problem.cost_key(problem.budgets[1].cost)] <= 36864  # was 147456, "feasible"

    class Forgetful(Width):
        def __init__(self, power: int = 1) -> None:
            self.exponent = power

    with pytest.raises(mpsolve.MpsolveError, match=r"^Forgetful does not keep its argument\(s\) power: store each "):
        mpsolve.Problem("small", constraints=[mpsolve.Budget(Forgetful(2), 100)])


class _SetsItsAnswer(mpsolve.Solver):
    """Claims the widest design, with an objective of its own, without asking the problem."""

    def _solve(self, ctx: mpsolve.SolveContext) -> None:
        ctx.evaluate(ctx.feasible_seeds)
        ctx.best_x, ctx.best_f = np.array(ctx.problem.space.upper), 1e12


class _DropsTheBudget(mpsolve.Solver):
    def _solve(self, ctx: mpsolve.SolveContext) -> None:
        ctx.problem.constraints.clear()
        ctx.evaluate(ctx.problem.space.sample(200, ctx.rng))


def test_a_backend_answer_is_checked_against_the_problem() -> None:
    """Before: both were returned as 'feasible' (flops 78.9G against a 20G budget, objective 1e12)."""
    problem = mpsolve.Problem("small", objective="params", constraints=[mpsolve.Budget("flops", "20G")])
    with pytest.raises(mpsolve.SolverError, match=r"returns a design that is infeasible: report designs through "
                                                  r"ctx.evaluate or ctx.offer"):
        _SetsItsAnswer().solve(problem)
    with pytest.raises(mpsolve.SolverError, match="changed the problem it was given"):
        _DropsTheBudget().solve(mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "20G")]))


class _Shaped(Objective):
    name = "test-shaped"

    def __init__(self, shape: str = "column") -> None:
        self.shape = shape

    def evaluate(self, batch, constants):
        depth = np.sum(batch.layers, axis=1).astype(np.float64)
        return {"column": depth[:, None], "scalar": 1.0, "one": depth[:1], "text": depth.astype(str).astype(object)
                + "x", "none": None, "two": np.concatenate([depth, depth]), "empty": depth[:0]}[self.shape]


@pytest.mark.parametrize("shape", ["column", "scalar", "one", "text"])
def test_a_plugin_returning_another_shape_is_one_line_naming_it(shape: str) -> None:
    """Before: an IndexError deep in the solver, a broadcast error, or, for one number, an 'optimal' 1.0."""
    problem = mpsolve.Problem("small", objective=_Shaped(shape), constraints=[mpsolve.Budget("flops", "20G")])
    with pytest.raises(mpsolve.MpsolveError, match=r"^the objective 'test-shaped' returned .*evaluate must return "
                                                   r"one number per design"):
        mpsolve.solve(problem, "exhaustive")


def test_numpy_and_other_option_values_do_not_break_fingerprints_or_json() -> None:
    """Before: Width(np.int64(2)) made every solve fail with "Object of type int64 is not JSON serializable",
    and a function-valued solver option made Result.to_json raise."""
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget(Width(np.int64(2)), 36864)])
    plain = mpsolve.Problem("small", constraints=[mpsolve.Budget(Width(2), 36864)])
    assert problem.fingerprint() == plain.fingerprint()
    result = mpsolve.solve(problem, "ea", seed=0, time_limit=2)
    result.options["hook"] = len  # a solver option JSON cannot hold is recorded by its repr
    assert json.loads(result.to_json())["options"]["hook"] == repr(len)


@pytest.mark.parametrize("name", ["a,b", "x.y", "=eq", "new\nline", "ea ", "flops[seq_len=128]"])
def test_a_name_the_command_line_cannot_carry_is_refused(name: str) -> None:
    """Before: accepted; ',' and '.' split on the command line, a newline broke one-line messages, and a cost
    named like a label overwrote the label of a second flops budget."""
    class Odd(RandomSearch):
        pass

    Odd.name = name
    with pytest.raises(mpsolve.SolverError, match="name is a letter or digit, then letters, digits"):
        register_solver(Odd)
    assert name not in SOLVERS


class _EvaluatesOneRow(mpsolve.Solver):
    def _solve(self, ctx: mpsolve.SolveContext) -> None:
        ctx.evaluate(ctx.feasible_seeds[0])


def test_ctx_evaluate_takes_one_design() -> None:
    """Before: the best design was kept as a scalar and the run failed at its end with a shape error."""
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "20G")])
    result = _EvaluatesOneRow().solve(problem)
    assert result.status == "feasible" and result.n_evals == 1 and len(result.x) == problem.n_var


class _NeverLooksAtTheClock(mpsolve.Solver):
    resumable = True

    def _solve(self, ctx: mpsolve.SolveContext) -> None:
        ctx.evaluate(ctx.feasible_seeds)
        time.sleep(0.3)  # six times the limit below: past it on any machine


def test_a_backend_ignoring_its_time_limit_or_checkpoint_is_named(tmp_path) -> None:
    """Before: a plug-in that never read ctx.time_up() ran past its limit, and one that never
    called ctx.set_state accepted a checkpoint file and wrote nothing, both without a word."""
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "20G")])
    with pytest.warns(mpsolve.MpsolveWarning, match=r"past its time limit of 0.05 s, and never checked ctx.time_up"):
        result = _NeverLooksAtTheClock().solve(problem, time_limit=0.05)
    assert result.status == "feasible"
    path = tmp_path / "run.ckpt"
    with pytest.warns(mpsolve.MpsolveWarning, match=r"never registered its state with ctx.set_state, so no checkpoint"):
        _NeverLooksAtTheClock().solve(problem, checkpoint=path)
    assert not path.exists()
    with warnings.catch_warnings():  # a backend that reads the clock and registers its state: no word
        warnings.simplefilter("error", mpsolve.MpsolveWarning)
        mpsolve.solve(problem, "ea", seed=0, time_limit=0.05, checkpoint=tmp_path / "ea.ckpt", iterations=64)
    assert (tmp_path / "ea.ckpt").exists()


def test_a_run_stopped_before_any_feasible_design_says_so() -> None:
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "20G"),
                                                    mpsolve.Predicate(lambda a: False, name="nothing")])
    with pytest.raises(mpsolve.SolverError, match=r"^the run was stopped \(ctx.stop\(\)\) before a feasible design"):
        RandomSearch().solve(problem, callback=lambda ctx: ctx.stop())


def test_a_stopped_run_is_not_said_to_have_passed_its_time_limit() -> None:
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "20G")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", mpsolve.MpsolveWarning)
        result = mpsolve.solve(problem, _NeverLooksAtTheClock, time_limit=600, callback=lambda ctx: ctx.stop())
    assert result.status == "feasible"
    assert [str(w.message) for w in caught] == [
        "solver '' never checked ctx.time_up(), so ctx.stop() did not end it early: a backend stops when "
        "ctx.time_up() is true"]
    assert caught[0].filename == __file__  # the user's line, not the library's


class _WatchesTheDeadline(mpsolve.Solver):
    def _solve(self, ctx: mpsolve.SolveContext) -> None:
        while time.perf_counter() < ctx.deadline:  # its own clock check: as good as ctx.time_up()
            ctx.evaluate(ctx.problem.space.sample(100, ctx.rng))


def test_a_backend_reading_the_deadline_itself_is_not_warned() -> None:
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "20G")])
    with warnings.catch_warnings():
        warnings.simplefilter("error", mpsolve.MpsolveWarning)
        assert _WatchesTheDeadline().solve(problem, time_limit=0.2).status == "feasible"


def test_a_callback_reading_the_clock_does_not_speak_for_the_backend() -> None:
    """Before: a callback's ctx.elapsed() counted as the backend reading the clock, so the
    stop-by-elapsed-time callback the docs suggest silenced the warning."""
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "20G")])
    with pytest.warns(mpsolve.MpsolveWarning, match=r"so ctx.stop\(\) did not end it early"):
        _NeverLooksAtTheClock().solve(problem, callback=lambda ctx: ctx.stop() if ctx.elapsed() >= 0 else None)
    with pytest.warns(mpsolve.MpsolveWarning, match=r"past its time limit of 0.05 s, and never checked"):
        _NeverLooksAtTheClock().solve(problem, time_limit=0.05, callback=lambda ctx: ctx.time_left())


def test_the_deadline_is_read_only_and_progress_a_bool() -> None:
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "20G")])

    def set_deadline(ctx):
        ctx.deadline = 0.0

    with pytest.raises(AttributeError, match=r"^ctx.deadline is read-only: end a run early with ctx.stop\(\)$"):
        RandomSearch().solve(problem, callback=set_deadline)
    with pytest.raises(mpsolve.SolverError, match=r"^progress must be True or False, got 'yes'$"):
        mpsolve.pareto(problem, "flops", ["20G"], "exact", progress="yes")


def test_a_callback_that_evaluates_still_does_not_speak_for_the_backend() -> None:
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "20G")])

    def evaluate_then_stop(ctx):
        if not ctx.stopped:
            ctx.stop()  # first: the evaluation below calls this callback again
            ctx.evaluate(ctx.feasible_seeds[:1])
            ctx.time_up()

    with pytest.warns(mpsolve.MpsolveWarning, match=r"so ctx.stop\(\) did not end it early"):
        _NeverLooksAtTheClock().solve(problem, callback=evaluate_then_stop)


def test_a_warning_through_an_installed_library_points_at_the_users_line() -> None:
    """An installed library (transformers' from_pretrained, a worker pool) between the user and
    mpsolve is not the user's line."""
    import os
    import sysconfig

    library = os.path.join(sysconfig.get_paths()["purelib"], "some_installed_library.py")
    code = compile("Problem('small', constraints=[Budget('flops', '1T', seq_len=4096)])", library, "exec")
    with pytest.warns(mpsolve.MpsolveWarning, match="beyond the space's max_positions") as caught:
        exec(code, {"Problem": mpsolve.Problem, "Budget": mpsolve.Budget})  # a literal of this test
    assert caught[0].filename == __file__


class _SpendsItsSamples(mpsolve.Solver):
    """Keeps a run's countdown, and a nested setting, on the solver itself."""

    def __init__(self, samples: int = 400, schedule: dict | None = None) -> None:
        self.samples, self.schedule = samples, schedule

    def _solve(self, ctx: mpsolve.SolveContext) -> None:
        while self.samples > 0 and not ctx.time_up():
            ctx.evaluate(ctx.problem.space.sample(100, ctx.rng))
            self.samples -= 100
        if self.schedule is not None:
            self.schedule["step"] *= 2


@pytest.mark.parametrize(("options", "changed"), [({}, "samples"),
                                                  ({"samples": 0, "schedule": {"step": 1}}, "schedule")])
def test_a_backend_changing_its_options_during_a_run_is_told_how(options, changed) -> None:
    """Before: the result recorded the options as the run left them ({'samples': 0}: a rerun from it scores
    nothing), and the same solver's second run with the same seed gave another answer."""
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "20G")])
    with pytest.raises(mpsolve.SolverError, match=rf"^solver '' changed its option\(s\) {changed} during the run: a "
                                                  r"backend keeps a run's state on the ctx"):
        _SpendsItsSamples(**options).solve(problem, seed=0)


class _TakesAnything(mpsolve.Solver):
    def __init__(self, **options) -> None:
        self.options = options

    def _solve(self, ctx: mpsolve.SolveContext) -> None:
        ctx.evaluate(ctx.feasible_seeds)


class _WidthOfAnyPower(CostModel):
    name = "test-any-power"

    def __init__(self, **options) -> None:
        self.power = options.get("power", 1)

    def evaluate(self, batch, constants) -> np.ndarray:
        return np.max(batch.embed_dims, axis=1).astype(np.float64) ** self.power


def test_a_plugin_taking_its_options_as_kwargs_is_told_how() -> None:
    """Before: its options were recorded as {} (a result or a worker process lost them), and two such costs
    with different options were equal, so two budgets on them were one."""
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "20G")])
    with pytest.raises(mpsolve.SolverError, match=r"^_TakesAnything.__init__ takes \*args or \*\*kwargs: name each "
                                                  r"option as a parameter of __init__"):
        mpsolve.solve(problem, _TakesAnything, samples=10)
    with pytest.raises(mpsolve.MpsolveError, match=r"^_WidthOfAnyPower.__init__ takes \*args or \*\*kwargs"):
        mpsolve.Problem("small", constraints=[mpsolve.Budget(_WidthOfAnyPower(power=2), 36864)])


class _Bounds(mpsolve.Solver):
    def __init__(self, bound: object = None) -> None:
        self.bound = bound

    def _solve(self, ctx: mpsolve.SolveContext) -> None:
        ctx.evaluate(ctx.feasible_seeds)
        ctx.bound = self.bound


@pytest.mark.parametrize(("bound", "said"), [
    (float("nan"), r"set ctx.bound to nan: a bound is a number"),
    ("12", r"set ctx.bound to '12': a bound is a number"),
    (np.array([1e9, 2e9]), r"set ctx.bound to array\(\[1.e\+09, 2.e\+09\]\): a bound is a number"),
    (1.0, r"set ctx.bound to 1, below its design's objective 14990.5: a bound is a proven upper bound"),
])
def test_a_bound_set_by_a_backend_is_checked(bound, said) -> None:
    """Before: NaN or a bound below the design's objective gave a gap of 0 (as a proof would), and a string or
    an array was returned, to fail later in Result.gap with a raw TypeError or ValueError."""
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "20G")])
    with pytest.raises(mpsolve.SolverError, match=rf"^solver '' {said}"):
        _Bounds(bound).solve(problem)
    assert _Bounds(np.float64(2e4)).solve(problem).gap == pytest.approx((2e4 - 14990.5) / 2e4)


class _Drifts(CostModel):
    """A cost that creeps up with every call (a stateful plug-in)."""

    name = "test-drifts"

    def __init__(self) -> None:
        self.calls = 0

    def evaluate(self, batch, constants) -> np.ndarray:
        self.calls += 1
        return np.max(batch.embed_dims, axis=1).astype(np.float64) + self.calls


class _DriftingDepth(Depth):
    name = "test-drifting-depth"

    def __init__(self) -> None:
        self.calls = 0

    def evaluate(self, batch, constants) -> np.ndarray:
        self.calls += 1
        return super().evaluate(batch, constants) + 0.01 * self.calls


def test_a_plugin_giving_a_design_two_values_is_named() -> None:
    """Before: a drifting objective was 'a design ... scored 9.x, not 9.y: report designs through ctx.evaluate'
    (the backend had), and a drifting cost could be reported over its budget in an 'optimal' result."""
    problem = mpsolve.Problem("small", objective=_DriftingDepth(), constraints=[mpsolve.Budget("flops", "20G")])
    with pytest.raises(mpsolve.MpsolveError, match=r"^the objective 'test-drifting-depth' gave \S+ and then \S+ for "
                                                   r"\[.*: it must give a design one value \(seed any randomness\)$"):
        mpsolve.solve(problem, "exhaustive")
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget(_Drifts(), 1000)])
    with pytest.raises(mpsolve.MpsolveError, match=r"^the cost 'test-drifts' gave \S+ and then \S+ for"):
        RandomSearch(samples=500).solve(problem, seed=0)


class _CountedDepth(Depth):
    name = "test-counted-depth"

    def __init__(self) -> None:
        self.batches = 0

    def evaluate(self, batch, constants) -> np.ndarray:
        self.batches += 1
        return super().evaluate(batch, constants)


def test_the_answer_is_scored_once_per_check() -> None:
    """Before: the answer was scored twice for the determinism check, a third time for the feasibility re-check
    (the same scoring again), and twice more for its report (its score, unused, and its details); a slow plug-in
    objective paid each."""
    objective = _CountedDepth()
    problem = mpsolve.Problem("small", objective=objective, constraints=[mpsolve.Budget("flops", "20G")])
    result = RandomSearch(samples=500).solve(problem, seed=0)
    assert result.n_evals == 500  # one batch of the solver's, after one of the feasibility check's corners
    assert objective.batches == 2 + 3  # then the answer: twice to check it, once for its details


class _ShapedCost(CostModel):
    name = "test-shaped-cost"

    def __init__(self, shape: str = "column") -> None:
        self.shape = shape

    def evaluate(self, batch, constants):
        return _Shaped(self.shape).evaluate(batch, constants)


@pytest.mark.parametrize("shape", ["column", "scalar", "none", "two", "empty", "text"])
@pytest.mark.parametrize("plugin", [_Shaped, _ShapedCost], ids=["objective", "cost"])
def test_of_on_a_plugin_returning_another_shape_is_one_line_naming_it(plugin, shape: str) -> None:
    """Before: cost.of(arch) and objective.of(arch) gave a raw TypeError ('float' object is not subscriptable),
    an IndexError or a ValueError, where a solve gave the one-line error below; two values gave the first."""
    arch = mpsolve.Problem("small").space.decode(np.zeros(9, dtype=np.int64))
    what = "objective 'test-shaped'" if plugin is _Shaped else "cost 'test-shaped-cost'"
    with pytest.raises(mpsolve.MpsolveError, match=rf"^the {what} returned .*evaluate must return one number per "
                                                   r"design, an array of shape \(1,\)$"):
        plugin(shape).of(arch)


class _InfiniteAboveWidth(CostModel):
    """The widest block's width, or ``sign * inf`` for a design with a block wider than 300."""

    name = "test-infinite-above-300"

    def __init__(self, sign: float = 1.0) -> None:
        self.sign = sign

    def evaluate(self, batch, constants) -> np.ndarray:
        widest = np.max(batch.embed_dims, axis=1).astype(np.float64)
        return np.where(widest > 300, self.sign * np.inf, widest)


def test_a_cost_of_minus_infinity_is_refused_and_plus_infinity_admits_no_design() -> None:
    """Before: -inf read as free, so the 512-wide design fit a budget of 256 and exhaustive 'proved' it
    optimal; Problem.evaluate_architecture called it feasible and cost.of returned -inf."""
    space = mpsolve.Problem("small").space
    wide = space.decode(np.array(space.upper))
    problem = mpsolve.Problem("small", objective="params", constraints=[mpsolve.Budget(_InfiniteAboveWidth(-1), 256)])
    said = r"^the cost 'test-infinite-above-300' is -inf for \[.*: a cost is a number, or \+inf for a design no budget"
    with pytest.raises(mpsolve.MpsolveError, match=said):
        mpsolve.solve(problem, "exhaustive")
    with pytest.raises(mpsolve.MpsolveError, match=said):
        problem.evaluate_architecture(wide)
    with pytest.raises(mpsolve.MpsolveError, match=said):
        _InfiniteAboveWidth(-1).of(wide)
    with pytest.raises(mpsolve.MpsolveError, match=said):  # reported only, not budgeted: refused too
        mpsolve.Problem("small", report_costs=["params", _InfiniteAboveWidth(-1)]).evaluate(
            np.array(space.upper)[None])
    # +inf: over every budget (a design the cost rules out), never the answer
    problem = mpsolve.Problem("small", objective="params", constraints=[mpsolve.Budget(_InfiniteAboveWidth(), 1e9)])
    assert _InfiniteAboveWidth().of(wide) == np.inf and not problem.evaluate_architecture(wide)["feasible"]
    result = mpsolve.solve(problem, "exhaustive")
    assert result.status == "optimal" and result.costs["test-infinite-above-300"] <= 300


class _BuggySolver(RandomSearch):
    name = "test-buggy-solver"

    def __init__(self, samples: int = 100) -> None:
        self.samples = samples + "1"  # the user's own bug: a TypeError inside __init__


class _BuggyCost(Width):
    name = "test-buggy-cost"

    def __init__(self, power: int = 1) -> None:
        self.power = len(power)


class _BuggyObjective(Depth):
    name = "test-buggy-objective"

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = None + scale


@pytest.mark.parametrize(("plugin", "make"), [(_BuggySolver, mpsolve.get_solver),
                                              (_BuggyCost, mpsolve.costs.get_cost),
                                              (_BuggyObjective, mpsolve.objectives.get_objective)],
                         ids=["solver", "cost", "objective"])
def test_a_type_error_inside_a_plugins_init_is_its_own_not_bad_options(plugin, make) -> None:
    """Before: "bad options for solver 'test-buggy-solver': unsupported operand type(s) ...", blaming the caller's
    options for the plug-in's own bug and hiding where it was; options that do not fit the signature still are."""
    register = {"solver": register_solver, "cost": register_cost, "objective": register_objective}
    registry = {"solver": SOLVERS, "cost": COSTS, "objective": OBJECTIVES}
    kind = plugin.name.split("-")[-1]
    register[kind](plugin)
    try:
        with pytest.raises(TypeError) as info:
            make(plugin.name)
        assert not isinstance(info.value, mpsolve.MpsolveError) and "bad options" not in str(info.value)
        assert info.traceback[-1].name == "__init__"  # raised where the bug is
        option = next(iter(inspect.signature(plugin).parameters))
        with pytest.raises(mpsolve.MpsolveError, match=rf"^bad options for {kind} '{plugin.name}': got an unexpected "
                                                       rf"keyword argument 'nope'; its options: {option}$"):
            make(plugin.name, nope=1)
    finally:
        registry[kind].remove(plugin.name)


class _TableCost(CostModel):
    """A plug-in cost read from a file of its own, given as a path."""

    name = "test-table-cost"

    def __init__(self, table: pathlib.Path | str = "table.json") -> None:
        self.table = pathlib.Path(table)

    def evaluate(self, batch, constants) -> np.ndarray:
        return np.max(batch.embed_dims, axis=1).astype(np.float64)


def test_a_path_option_is_written_as_its_string_and_read_back(tmp_path) -> None:
    """Before: a pathlib.Path option was written as "PosixPath('...')" into results (rebuilt as a plug-in reading
    a file of that name) and problem_to_toml refused it ("cannot write PosixPath(...) to a problem file")."""
    from mpsolve.workflows.problem_file import loads_problem, problem_to_toml, result_to_problem_toml

    register_cost(_TableCost)
    try:
        table = tmp_path / "widths.json"
        problem = mpsolve.Problem("small", constraints=[mpsolve.Budget(_TableCost(table), 300)])
        result = mpsolve.solve(problem, "exhaustive")
        assert json.loads(result.to_json())["problem"]["constraints"][0]["options"] == {"table": str(table)}
        for text in (problem_to_toml(problem), result_to_problem_toml(result)):
            assert f"table = {json.dumps(str(table))}" in text
            assert loads_problem(text).problem.budgets[0].cost == _TableCost(table)
        result.options["log"] = table  # a solver option too
        assert json.loads(result.to_json())["options"]["log"] == str(table)
    finally:
        COSTS.remove(_TableCost.name)


def test_removing_a_built_in_or_what_stood_in_for_it_has_a_way_back() -> None:
    """Before: SOLVERS.remove('ea') after a plug-in stood in for it dropped 'ea' for the rest of the process, and
    mpsolve.solvers.EvolutionarySolver (read through the registry) was gone with it, so it could not be registered
    again; while shadowed it was gone too."""
    built_in = mpsolve.solvers.EvolutionarySolver

    class MyEA(RandomSearch):
        name = "ea"

    register_solver(MyEA, replace=True)
    try:
        assert type(mpsolve.get_solver("ea")) is MyEA and mpsolve.solvers.EvolutionarySolver is built_in
    finally:
        SOLVERS.remove("ea")  # undoes the stand-in: the built-in is back
    assert type(mpsolve.get_solver("ea")) is built_in
    SOLVERS.remove("ea")  # the built-in itself: hidden, still importable, and registered again by its class
    try:
        assert "ea" not in mpsolve.list_solvers() and mpsolve.solvers.EvolutionarySolver is built_in
        with pytest.raises(mpsolve.SolverError, match=r"^unknown solver 'ea' \(a built-in one removed from the "
                                                      r"registry: register EvolutionarySolver again to use it\); "
                                                      r"known solvers: cpsat, exact"):
            mpsolve.get_solver("ea")
    finally:
        register_solver(mpsolve.solvers.EvolutionarySolver)
    assert type(mpsolve.get_solver("ea")) is built_in
