"""Property-based tests over random spaces, budgets and architectures, and edge-case inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import mpsolve
from mpsolve.costs import FlopsCost, MemoryCost, ParamsCost
from mpsolve.workflows.problem_file import loads_problem, problem_to_toml

#: random spaces and costs often budget a workload beyond max_positions, which is warned of (tested elsewhere)
pytestmark = pytest.mark.filterwarnings("ignore::mpsolve.MpsolveWarning")

#: widths and ratios small enough that fresh entropy spectra cost milliseconds
WIDTHS = (64, 128, 192, 256)
RATIOS = (1.0, 1.5, 2.0, 4.0)
QUICK = {
    "ea": {"iterations": 200, "population": 16, "parents": 4, "batch_size": 16, "init_samples": 32},
    "nsga2": {"generations": 5, "pop_size": 12},
    "tpe": {"n_trials": 15, "n_startup_trials": 5},
    "cpsat": {"workers": 1},
}
#: shrinking a failing solver run can take minutes; the first failing example is reported as is
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def spaces(draw: st.DrawFn, max_blocks: int = 4) -> mpsolve.SearchSpace:
    return mpsolve.SearchSpace(
        num_blocks=draw(st.integers(1, max_blocks)),
        embed_dims=draw(st.lists(st.sampled_from(WIDTHS), min_size=1, max_size=4, unique=True)),
        ffn_ratios=draw(st.lists(st.sampled_from(RATIOS), min_size=1, max_size=3, unique=True)),
        layers=draw(st.lists(st.integers(1, 6), min_size=1, max_size=3, unique=True)),
        vocab_size=draw(st.integers(1, 100_000)),
        embed_proj_dim=draw(st.integers(1, 2048)),
        max_positions=draw(st.integers(1, 8192)),
        head_dim=draw(st.sampled_from((32, 64))),
        shared=draw(st.booleans()),
    )


def _costs(draw: st.DrawFn) -> list[mpsolve.costs.CostModel]:
    return [
        ParamsCost(),
        FlopsCost(seq_len=draw(st.integers(1, 4096)), include_lm_head=draw(st.booleans())),
        MemoryCost(
            seq_len=draw(st.integers(1, 4096)),
            batch_size=draw(st.integers(1, 64)),
            bytes_per_param=draw(st.sampled_from((0.5, 1, 2, 4))),
            bytes_per_activation=draw(st.sampled_from((1, 2, 4))),
        ),
    ]


@PROPERTY
@given(space=spaces(), seed=st.integers(0, 2**32 - 1))
def test_encode_decode_round_trip(space, seed):
    X = np.concatenate([space.sample(8, seed), space.repair(space.upper[None, :])])
    batch = space.decode_batch(X)
    for i, x in enumerate(X):
        arch = space.decode(x)
        assert np.array_equal(space.encode(arch), x)
        assert mpsolve.Architecture.from_dict(arch.to_dict()) == arch
        assert list(batch.embed_dims[i]) == list(arch.embed_dims)
        assert list(batch.ffn_dims[i]) == list(arch.ffn_dims)
        assert list(batch.layers[i]) == list(arch.layers)
    assert np.all(space.is_ordered(X))


@PROPERTY
@given(space=spaces(), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_costs_are_finite_and_non_negative(space, seed, data):
    X = np.concatenate([space.sample(8, seed), space.repair(space.upper[None, :])])
    batch = space.decode_batch(X)
    for cost in _costs(data.draw):
        values = cost.evaluate(batch, space)
        assert values.shape == (len(X),)
        assert np.all(np.isfinite(values)) and np.all(values >= 0), (cost, values)
        assert math.isclose(cost.of(space.decode(X[0])), values[0], rel_tol=1e-12)
    objective = mpsolve.MeRinoEntropy(penalty=data.draw(st.sampled_from(("linear", "exp", "none"))))
    assert np.all(np.isfinite(objective.evaluate(batch, space)))


@st.composite
def problems(draw: st.DrawFn) -> mpsolve.Problem:
    """A random space with budgets between its cheapest and a random design's costs."""
    space = draw(spaces(max_blocks=3))
    costs = [c for c in _costs(draw) if draw(st.booleans())]
    corner = mpsolve.Problem(space, "params").corner_designs()[0]
    sampled = space.sample(16, draw(st.integers(0, 2**32 - 1)))
    constraints: list[mpsolve.constraints.Constraint] = []
    for cost in costs:
        low = cost.evaluate(space.decode_batch(corner), space).min()
        high = cost.evaluate(space.decode_batch(sampled), space).max()
        limit = low + draw(st.floats(0.0, 1.0)) * max(high - low, 0.0)
        constraints.append(mpsolve.Budget(cost, max(limit, 1.0)))
    if draw(st.booleans()):
        constraints.append(mpsolve.Effectiveness(draw(st.floats(0.05, 2.0))))
    objective = draw(st.sampled_from(("params", "decoder_params", "entropy")))
    return mpsolve.Problem(
        space, mpsolve.MeRinoEntropy() if objective == "entropy" else objective, constraints
    )


def _solvers() -> list[str]:
    return mpsolve.list_solvers()


@pytest.mark.parametrize("name", _solvers())
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow], phases=NO_SHRINK)
@given(problem=problems(), seed=st.integers(0, 1000))
def test_solvers_never_return_an_infeasible_design(name, problem, seed):
    defaults = mpsolve.get_solver(name).get_options()
    solver = mpsolve.get_solver(name, **{k: v for k, v in QUICK.get(name, {}).items() if k in defaults})
    try:
        result = solver.solve(problem, seed=seed, time_limit=5)
    except mpsolve.InfeasibleError:
        ev = problem.evaluate(problem.corner_designs()[0])
        budgets = [problem.constraints.index(b) for b in problem.budgets]
        assert not np.any(np.all(ev.violations[:, budgets] <= 0, axis=1))
        return
    except mpsolve.SolverError as exc:  # e.g. exhaustive refusing a large space: must say so
        assert "space" in str(exc) or "size" in str(exc), exc
        return
    if result.architecture is None:
        assert result.status in ("infeasible", "interrupted")
        return
    assert result.status in ("feasible", "optimal")
    ev = problem.evaluate(result.x)
    assert ev.feasible[0], (result, ev.violations)
    assert problem.evaluate_architecture(result.architecture)["feasible"]
    for budget in problem.budgets:
        assert result.costs[budget.cost.name] <= budget.limit
    assert math.isclose(result.objective, float(ev.objective[0]), rel_tol=1e-9)


@PROPERTY
@given(problem=problems(), seed=st.integers(0, 2**31), time_limit=st.one_of(st.none(), st.floats(0.1, 1e6)))
def test_problem_file_round_trip(problem, seed, time_limit):
    problem = mpsolve.Problem(problem.space, "params", problem.constraints)
    spec = loads_problem(problem_to_toml(problem, "ea", {"iterations": 10}, seed, time_limit))
    assert spec.problem.to_dict() == problem.to_dict()
    assert (spec.seed, spec.time_limit, spec.solver_options) == (seed, time_limit, {"iterations": 10})


@pytest.mark.parametrize("name", _solvers())
@pytest.mark.parametrize("blocks", [1, 2])
def test_every_solver_finds_the_best_design_of_a_tiny_space(name, blocks):
    space = mpsolve.SearchSpace(num_blocks=blocks, embed_dims=(64, 128)[:blocks], ffn_ratios=(1.0,), layers=(1,))
    problem = mpsolve.Problem(space, "params", [mpsolve.Budget("params", "100M")])
    defaults = mpsolve.get_solver(name).get_options()
    solver = mpsolve.get_solver(name, **{k: v for k, v in QUICK.get(name, {}).items() if k in defaults})
    result = solver.solve(problem, seed=0, time_limit=10)
    every = np.concatenate(list(space.enumerate()))
    assert result.objective == problem.evaluate(every).objective.max()


# -- edge cases: clear errors -----------------------------------------------------------------------
@pytest.mark.parametrize("limit", [math.nan, math.inf, -math.inf, -1, 0, "-3G", "nanG", "infT", "0M", "", "3X", "G"])
def test_bad_budgets_are_refused(limit):
    with pytest.raises(mpsolve.MpsolveError, match=r"positive finite|quantity|unit"):
        mpsolve.Budget("flops", limit)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_blocks": 0}, "num_blocks must be a positive integer"),
        ({"num_blocks": -2}, "num_blocks must be a positive integer"),
        ({"num_blocks": 1.5}, "num_blocks must be a positive integer"),
        ({"num_blocks": True}, "num_blocks must be a positive integer"),
        ({"embed_dims": []}, "embed_dims is empty"),
        ({"ffn_ratios": []}, "ffn_ratios is empty"),
        ({"layers": []}, "layers is empty"),
        ({"embed_dims": [math.nan]}, "finite numbers"),
        ({"ffn_ratios": [math.inf]}, "finite numbers"),
        ({"layers": [0, 1]}, "layers must be positive"),
        ({"ffn_ratios": [-1.0]}, "ffn_ratios must be positive"),
        ({"embed_dims": [100]}, "multiples of head_dim"),
        ({"vocab_size": 0}, "vocab_size must be a positive integer"),
    ],
)
def test_bad_spaces_are_refused(kwargs, message):
    with pytest.raises(mpsolve.SpaceError, match=message):
        mpsolve.SearchSpace(**kwargs)


@pytest.mark.parametrize("rho_max", [math.nan, math.inf, -0.5, 0])
def test_bad_effectiveness_bounds_are_refused(rho_max):
    with pytest.raises(mpsolve.MpsolveError, match="rho_max must be a positive number"):
        mpsolve.Effectiveness(rho_max)
    with pytest.raises(mpsolve.MpsolveError, match="beta must be a positive number"):
        mpsolve.Effectiveness(0.5, beta=rho_max)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"seed": 1.5}, "seed must be a non-negative integer"),
        ({"seed": True}, "seed must be a non-negative integer"),
        ({"time_limit": 0}, "time_limit must be a positive number"),
        ({"time_limit": -1}, "time_limit must be a positive number"),
        ({"time_limit": math.nan}, "time_limit must be a positive number"),
        ({"time_limit": True}, "time_limit must be a positive number"),
        ({"time_limit": 10**400}, "time_limit must be a positive number"),
        ({"callback": 3}, "callback must be a function"),
        ({"checkpoint_every": -1}, "checkpoint_every must be a number of seconds >= 0"),
        ({"checkpoint_every": math.nan}, "checkpoint_every must be a number of seconds >= 0"),
        ({"checkpoint": 3}, "checkpoint must be a file path, got 3"),
        ({"resume": b"x"}, "resumed checkpoint must be a file path"),
    ],
)
def test_bad_run_arguments_are_refused(kwargs, message):
    with pytest.raises(mpsolve.SolverError, match=message):
        mpsolve.solve(mpsolve.Problem("small"), "ea", **kwargs)


@pytest.mark.parametrize(
    ("solver", "options", "message"),
    [
        ("ea", {"p_neighbour": "x"}, r"ea: p_neighbour must be in \[0, 1\], got 'x'"),
        ("ea", {"p_repeat": None}, r"ea: p_repeat must be in \[0, 1\), got None"),
        ("ea", {"parents": 65, "population": 64}, r"ea: parents \(65\) cannot exceed population \(64\)"),
        ("nsga2", {"crossover_eta": math.nan}, "nsga2: crossover_eta must be a number >= 0, got nan"),
        ("nsga2", {"crossover_eta": "x"}, "nsga2: crossover_eta must be a number >= 0"),
        ("tpe", {"polish": "False"}, "tpe: polish must be True or False, got 'False'"),
        ("tpe", {"multivariate": None}, "tpe: multivariate must be True or False"),
        ("tpe", {"study_name": ""}, "tpe: study_name must be a non-empty string or None"),
        ("cpsat", {"log": "no"}, "cpsat: log must be True or False"),
        ("cpsat", {"workers": 10**6}, "cpsat: workers must be at most 10000"),
        ("cpsat", {"hint": [0.5] * 9}, "cpsat: hint must be a Result or a design's encoding"),
        ("cpsat", {"hint": "1,2"}, r"cpsat: hint must be a Result or a design's encoding \(grid indices, a list: on "
                                   r"the command line hint=\[0,2,1,...\]\), got '1,2'"),
    ],
)
def test_bad_solver_options_are_refused(solver, options, message):
    if solver not in mpsolve.list_solvers():
        pytest.skip(f"the {solver} backend is not installed")
    with pytest.raises(mpsolve.SolverError, match=message):
        mpsolve.get_solver(solver, **options)


@pytest.mark.parametrize("problem", ["small", None])
def test_solve_needs_a_problem(problem):
    with pytest.raises(mpsolve.SolverError, match="solve needs a Problem"):
        mpsolve.solve(problem, "ea")


def test_unmeetable_budget_names_the_cheapest_design():
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("params", "1M")])
    with pytest.raises(mpsolve.InfeasibleError, match="params budget 1M is below the cheapest design's") as info:
        mpsolve.solve(problem, "ea", seed=0)
    assert info.value.cheapest["params"] > 1e6


@pytest.mark.timeout(60)
def test_huge_space_is_refused_by_exhaustive_search():
    if "exhaustive" not in mpsolve.list_solvers():
        pytest.skip("the exhaustive backend is not in this tree")
    problem = mpsolve.Problem("large8", constraints=[mpsolve.Budget("flops", "160G")])
    with pytest.raises(mpsolve.SolverError, match=r"\d"):
        mpsolve.solve(problem, "exhaustive")


@pytest.mark.parametrize("x", [[-1] * 9, [99] * 9, [0] * 8, [0.5] * 9, [math.nan] * 9])
def test_bad_encodings_are_refused(x):
    with pytest.raises(mpsolve.ArchitectureError):
        mpsolve.get_space("small").decode(np.array(x))
