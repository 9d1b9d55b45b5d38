"""Problem files: the schema, its error messages, and the result -> file -> rerun round trip."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import mpsolve
from mpsolve.workflows.problem_file import (
    ProblemFileError,
    ProblemSpec,
    load_problem_file,
    loads_problem,
    problem_from_dict,
    problem_to_toml,
    result_to_problem_toml,
)

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.toml"))
QUICK = {"iterations": 400, "population": 32, "init_samples": 128}

SMALL = """
[space]
preset = "small"

[[budget]]
cost = "flops"
limit = "40G"
seq_len = 512

[constraints]
effectiveness = 0.5

[solver]
name = "ea"
seed = 3
iterations = 400
population = 32
init_samples = 128
"""


def _same(a: ProblemSpec, b: ProblemSpec) -> None:
    assert a.problem.to_dict() == b.problem.to_dict()
    assert a.problem.fingerprint() == b.problem.fingerprint()
    assert (a.solver, a.solver_options, a.seed, a.time_limit) == (b.solver, b.solver_options, b.seed, b.time_limit)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_load_and_round_trip(path):
    spec = load_problem_file(path)
    assert isinstance(spec.problem, mpsolve.Problem) and spec.problem.budgets
    _same(spec, loads_problem(spec.to_toml()))


def test_schema_builds_the_described_problem():
    spec = loads_problem(SMALL)
    problem = spec.problem
    assert problem.space == mpsolve.get_space("small") and problem.space.name == "small"
    (budget,) = problem.budgets
    assert budget.cost.name == "flops" and budget.limit == 40e9 and budget.cost.seq_len == 512
    assert isinstance(problem.constraints[1], mpsolve.Effectiveness) and problem.constraints[1].rho_max == 0.5
    assert (spec.solver, spec.seed, spec.time_limit) == ("ea", 3, None)
    assert spec.solver_options == {"iterations": 400, "population": 32, "init_samples": 128}


def test_empty_file_is_the_default_problem():
    spec = loads_problem("")
    assert spec.problem.to_dict() == mpsolve.Problem("default").to_dict()
    # no seed in the file: the one default seed of the CLI, not an unseeded run (issue 11.4)
    assert (spec.solver, spec.solver_options, spec.seed, spec.time_limit) == ("ea", {}, 0, None)


def test_shorthands_and_budget_table():
    spec = loads_problem(
        'space = "paper"\nobjective = "params"\nsolver = "ea"\n'
        '[budgets]\nparams = "64M"\nflops = { limit = 2e11, seq_len = 256 }\n'
    )
    assert spec.problem.space.name == "paper" and spec.problem.objective.name == "params"
    assert [(b.cost.name, b.limit) for b in spec.problem.budgets] == [("params", 64e6), ("flops", 2e11)]
    assert spec.problem.budgets[1].cost.seq_len == 256


def test_space_fields_override_a_preset():
    spec = loads_problem('[space]\npreset = "small"\nnum_blocks = 2\nlayers = [1, 2]\n')
    space = spec.problem.space
    assert (space.num_blocks, space.layers, space.embed_dims) == (2, (1, 2), mpsolve.get_space("small").embed_dims)
    assert space.name == "custom"


def test_result_reruns_from_its_echoed_problem(tmp_path):
    spec = loads_problem(SMALL)
    first = spec.solve()
    text = result_to_problem_toml(json.loads(first.to_json()))
    path = tmp_path / "rerun.toml"
    path.write_text(text)
    rerun = load_problem_file(path)
    assert rerun.problem.fingerprint() == spec.problem.fingerprint()
    again = rerun.solve()
    assert np.array_equal(again.x, first.x) and again.objective == first.objective
    assert result_to_problem_toml(first) == text
    result_json = tmp_path / "result.json"
    result_json.write_text(first.to_json())
    _same(load_problem_file(result_json), rerun)


def test_a_run_without_a_seed_records_the_one_it_drew_and_reruns_it():
    """Before, ``solve(..., seed=None)`` drew fresh entropy and recorded no seed, so its problem file reran with
    seed 0: another run under "reproduce this run". Now the run draws a seed and records it."""
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "40G")])
    options = {"iterations": 64, "population": 8, "init_samples": 16}
    runs = [mpsolve.solve(problem, "ea", **options) for _ in range(2)]
    assert all(isinstance(r.seed, int) and r.seed >= 0 for r in runs) and runs[0].seed != runs[1].seed
    for first in runs:
        rerun = loads_problem(result_to_problem_toml(first))
        assert rerun.seed == first.seed and np.array_equal(rerun.solve().x, first.x)
    # a result saved before the seed was recorded reruns with seed 0, said (it was silent)
    older = {**runs[0].to_dict(), "seed": None}
    with pytest.warns(mpsolve.MpsolveWarning, match=r"^<result>: the result records no seed \(it drew fresh "
                                                    r"entropy\): its rerun has seed 0 and need not give the same"):
        assert loads_problem(result_to_problem_toml(older)).seed == 0


def test_a_monte_carlo_objective_with_integer_draws_reruns(tmp_path):
    """``draws`` takes an integer or 'auto' (its constructor says ``int | str``); the file reader checked it
    against the string default only, so such a result could not be rerun."""
    problem = mpsolve.Problem("small", mpsolve.MeRinoEntropy(expectation="monte-carlo", draws=4),
                              [mpsolve.Budget("flops", "20G")])
    (tmp_path / "result.json").write_text(mpsolve.solve(problem, "ea", seed=0, iterations=50).to_json())
    assert load_problem_file(tmp_path / "result.json").problem.fingerprint() == problem.fingerprint()


def test_problem_written_from_python_round_trips():
    problem = mpsolve.Problem(
        mpsolve.SearchSpace(num_blocks=2, embed_dims=(64, 128), ffn_ratios=(1.0, 2.5), layers=(1, 3), name="tiny ü"),
        mpsolve.MeRinoEntropy(variant="rate", eps=1e-3, alpha=(0.5, 2.0)),
        [
            mpsolve.Budget("params", 4.5e7),
            mpsolve.Budget("memory", "300M", bytes_per_param=2),
            mpsolve.Effectiveness(0.4),
        ],
    )
    text = problem_to_toml(problem, "ea", {"iterations": 100}, seed=9, time_limit=2.5)
    spec = loads_problem(text)
    assert spec.problem.to_dict() == problem.to_dict()
    assert (spec.solver_options, spec.seed, spec.time_limit) == ({"iterations": 100}, 9, 2.5)
    assert 'limit = "45M"' in text and 'limit = "300M"' in text


def test_rerun_file_identifies_the_same_problem_whatever_the_constraint_order():
    problem = mpsolve.Problem("small", constraints=[mpsolve.Effectiveness(0.5), mpsolve.Budget("flops", "40G")])
    spec = loads_problem(problem_to_toml(problem))
    assert [type(c).__name__ for c in spec.problem.constraints] == ["Budget", "Effectiveness"]
    assert spec.problem.fingerprint() == problem.fingerprint()


def test_json_problem_file(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"space": "small", "budgets": {"flops": "40G"}, "solver": {"seed": 1, **QUICK}}))
    spec = load_problem_file(path)
    assert spec.seed == 1 and spec.problem.budgets[0].limit == 40e9


def test_predicate_cannot_be_written():
    problem = mpsolve.Problem("small", constraints=[mpsolve.Predicate(lambda a: True, name="mine")])
    with pytest.raises(ProblemFileError, match=r"constraints\[0\].*cannot be written to a problem file"):
        problem_to_toml(problem)


def test_result_without_problem_is_refused():
    with pytest.raises(ProblemFileError, match="carries no problem"):
        result_to_problem_toml({"status": "feasible"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[[budget]]\ncost = 'flops'\nlimit = -3",
            "budget[0].limit: expected a positive number or a string like '160G', got -3",
        ),
        (
            "[[budget]]\ncost = 'flops'\nlimit = '1G'\n[[budget]]\ncost = 'params'\nlimit = '3X'",
            "budget[1].limit: expected",
        ),
        ("[[budget]]\ncost = 'flops'\nlimit = nan", "budget[0].limit: expected a positive number"),
        ("[[budget]]\ncost = 'flops'\nlimit = inf", "budget[0].limit: expected a positive number"),
        ("[[budget]]\ncost = 'flops'\nlimit = 0", "budget[0].limit: expected a positive number"),
        ("[[budget]]\ncost = 'flops'", "budget[0]: missing field 'limit'"),
        ("[[budget]]\nlimit = 3", "budget[0]: missing field 'cost'"),
        ("[[budget]]\ncost = 'watts'\nlimit = 3", "budget[0].cost: unknown cost 'watts'"),
        ("[[budget]]\ncost = 'flops'\nlimit = 3\nseq_len = 1.5", "budget[0].seq_len: expected an integer, got 1.5"),
        (
            "[[budget]]\ncost = 'flops'\nlimit = 3\nseq_length = 5",
            "budget[0].seq_length: unknown option; known options: seq_len",
        ),
        ("[[budget]]\ncost = 'latency'\nlimit = 5", "budget[0]: cost 'latency' needs the option profile"),
        ("[[budget]]\ncost = 'latency'\nlimit = 5\nprofile = 'nowhere.json'", "budget[0]: latency profile"),
        ("[budgets]\nflops = true", "budgets.flops: expected a positive number"),
        ("[budgets]\nflops = { seq_len = 4 }", "budgets.flops: missing field 'limit'"),
        ("budget = 3", "budget: expected an array of tables"),
        ("[budgets]\nflops = 1\n[[budget]]\ncost = 'flops'\nlimit = 2", "not both"),
        ("space = 3", "space: expected a preset name or a table, got 3"),
        ("space = 'huge'", "space.preset: unknown space 'huge'"),
        ("[space]\nnum_blocks = 0", "space.num_blocks: expected a positive integer, got 0"),
        ("[space]\nembed_dims = []", "space.embed_dims: expected a non-empty array"),
        ("[space]\nembed_dims = [64, -64]", "space.embed_dims[1]: expected a positive integer, got -64"),
        ("[space]\nffn_ratios = [1.0, 'a']", "space.ffn_ratios[1]: expected a positive number"),
        ("[space]\nembed_dims = [100]", "space: embed_dims [100] are not multiples of head_dim 64"),
        ("[space]\nlayers = [1, 1]", "space: layers contains duplicates"),
        ("[space]\nshared = 1", "space.shared: expected true or false, got 1"),
        ("[space]\nwidth = 3", "space.width: unknown field"),
        ("[objective]\nname = 'beauty'", "objective.name: unknown objective 'beauty'"),
        ("[objective]\neps = 'x'", "objective.eps: expected a number, got 'x'"),
        ("[objective]\neps = -1.0", "objective: eps must be a positive number"),
        ("[objective]\nalpha = [1, 'x']", "objective.alpha[1]: expected a number"),
        ("[objective]\ncolour = 1", "objective.colour: unknown option"),
        ("[objective]\ndraws = 1.5", "objective.draws: expected a string, got 1.5"),
        ("[objective]\ndraws = 0", "objective: draws must be a positive integer or 'auto', got 0"),
        ("[objective]\nvariant = 3", "objective.variant: expected a string, got 3"),
        ("[constraints]\neffectiveness = -1", "constraints.effectiveness: expected a positive number, got -1"),
        ("[constraints]\neffectiveness = { parts = 'all' }", "constraints.effectiveness: parts must be"),
        ("[constraints]\nlatency = 3", "constraints.latency: unknown field"),
        ("[constraints]\nnon_decreasing_widths = 'yes'", "constraints.non_decreasing_widths: expected true (the width"),
        # before: accepted, and the width order enforced all the same
        ("[constraints]\nnon_decreasing_widths = false", "constraints.non_decreasing_widths: expected true (the width "
         "order holds in every problem; drop the key, it is the default), got False"),
        ("[solver]\nname = 'magic'", "solver.name: unknown solver 'magic'"),
        ("[solver]\nseed = -1", "solver.seed: expected an integer >= 0, got -1"),
        ("[solver]\nseed = 1.5", "solver.seed: expected an integer >= 0"),
        ("[solver]\ntime_limit = 0", "solver.time_limit: expected a positive number, got 0"),
        ("[solver]\niterations = -5", "solver: ea: iterations must be a positive integer"),
        ("[solver]\niterations = 'many'", "solver.iterations: expected an integer"),
        ("[solver]\nbogus = 1", "solver.bogus: unknown option; known options: iterations"),
        ("colour = 'red'", "colour: unknown field; known: space, objective"),
        ("[space", "invalid TOML"),
    ],
)
def test_errors_name_the_file_and_the_field(text, message):
    with pytest.raises(ProblemFileError) as info:
        loads_problem(text, "run.toml")
    assert str(info.value).startswith("run.toml: ")
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.toml", None, "does not exist"),
        ("bad.json", "{", "invalid JSON"),
        ("bin.toml", b"\xff\xfe", "cannot read"),
    ],
)
def test_unreadable_files(tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ProblemFileError, match=message):
        load_problem_file(path)


def test_decode_and_prefill_latency_budgets_from_a_file(tmp_path):
    from mpsolve.costs import DecodeLatencyCost, LatencyCost
    from mpsolve.testing.pytest_solvers import synthetic_profile

    for phase in ("prefill", "decode"):
        (tmp_path / f"{phase}.json").write_text(json.dumps(synthetic_profile("small", phase)))
    path = tmp_path / "problem.toml"
    path.write_text('[space]\npreset = "small"\n\n[[budget]]\ncost = "decode_ms"\nlimit = 85\nprofile = "decode.json"\n'
                    '\n[[budget]]\ncost = "latency"\nlimit = 1000\nprofile = "prefill.json"\n')
    spec = load_problem_file(path)
    costs = {b.cost.name: b.cost for b in spec.problem.budgets}
    assert isinstance(costs["decode"], DecodeLatencyCost) and type(costs["latency"]) is LatencyCost
    assert costs["decode"].profile == str(tmp_path / "decode.json")
    r = mpsolve.solve(spec.problem, "exact")
    assert r.status == "optimal" and r.costs["decode"] <= 85 and r.costs["latency"] <= 1000


def test_report_costs_round_trip_through_results_and_problem_files(tmp_path):
    """Before: Problem.to_dict left report_costs out, so a rerun reported other costs, and an
    nsga2 result with costs=['decode_flops'] could not be rerun at all."""
    problem = mpsolve.Problem("small", "entropy", [mpsolve.Budget("flops", "20G")],
                              report_costs=["params", mpsolve.costs.DecodeFlopsCost(seq_len=128)])
    assert "report_costs" not in mpsolve.Problem("small", constraints=problem.constraints).to_dict()  # defaults
    again = loads_problem(problem_to_toml(problem)).problem
    assert again.costs == problem.costs and again.fingerprint() == problem.fingerprint()
    result = mpsolve.solve(problem, "nsga2", seed=0, generations=3, costs=["decode_flops"])
    (tmp_path / "r.json").write_text(json.dumps(result.to_dict()))
    spec = load_problem_file(tmp_path / "r.json")
    assert spec.problem.costs == problem.costs and spec.solver_options["costs"] == ["decode_flops"]
    rerun = spec.solve()
    assert rerun.costs == result.costs and rerun.objective == result.objective
    with pytest.raises(ProblemFileError, match=r"report_costs\[0\]: .*unknown cost 'joules'"):
        loads_problem('space = "small"\nreport_costs = ["joules"]\n')


class _Bounded(mpsolve.Solver):
    name = "test-bounded"

    def __init__(self, max_evals: int | None = 500) -> None:
        self.max_evals = max_evals

    def _solve(self, ctx) -> None:
        ctx.evaluate(ctx.feasible_seeds)


def test_a_result_whose_option_none_is_not_the_default_is_not_turned_into_another_run() -> None:
    """Before: max_evals=None was left out of the file, so the rerun used max_evals=500 without a word."""
    from mpsolve.solvers import SOLVERS, register_solver

    register_solver(_Bounded)
    try:
        problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "20G")])
        unbounded = mpsolve.solve(problem, "test-bounded", seed=0, max_evals=None)
        with pytest.raises(ProblemFileError, match=r"options: max_evals=None cannot be written to a problem file"):
            result_to_problem_toml(unbounded)
        nsga2 = mpsolve.solve(problem, "nsga2", seed=0, pop_size=8, generations=2)  # its costs=None is its default
        assert nsga2.options["costs"] is None and "[solver]" in result_to_problem_toml(nsga2)
    finally:
        SOLVERS.remove("test-bounded")


def test_a_huge_value_in_an_error_is_cut_short() -> None:
    """Before: a sweep's rows given as a problem were printed whole in the one-line error (kilobytes)."""
    rows = [{"index": i, "problem": {"space": "small", "budgets": list(range(100))}} for i in range(20)]
    with pytest.raises(ProblemFileError, match=r"expected a table, got \[\{'index': 0, .* \.\.\. ") as info:
        problem_from_dict(rows, "rows.json")
    assert len(str(info.value)) < 450


@pytest.mark.parametrize(("text", "path"), [('"bad\\nkey" = 1', "'bad\\nkey'"),
                                           ('[budgets]\n"fl\\nops" = "5G"', "budgets.'fl\\nops'"),
                                           ('[solver]\n"it\\ner" = 3', "solver.'it\\ner'"),
                                           ('[space]\n"' + "w" * 60 + '" = 3', "space.'" + "w" * 36 + "...")])
def test_a_key_is_named_on_one_line(text: str, path: str) -> None:
    """Before: a quoted key holding a newline was printed raw, breaking the one-line error in two."""
    with pytest.raises(ProblemFileError) as info:
        loads_problem(text, "run.toml")
    assert "\n" not in str(info.value) and str(info.value).startswith(f"run.toml: {path}: unknown")


def test_a_pareto_front_given_as_a_problem_is_named(tmp_path: Path) -> None:
    """Before: ``over: unknown field; known: space, ...``, which did not say what the file was."""
    front = mpsolve.pareto(mpsolve.Problem("small"), "params", ["5M"], solver="exact")
    for name, data in (("front.json", front.to_dict()), ("fronts.json", {"fronts": [front.to_dict()] * 2})):
        path = tmp_path / name
        path.write_text(json.dumps(data))
        with pytest.raises(ProblemFileError, match=rf"^{re.escape(str(path))}: this is a Pareto front \(mpsolve "
                                                   r"pareto --json\), not a problem: give the problem file"):
            load_problem_file(path)


def test_allow_storage_that_is_not_a_bool_is_refused(tmp_path):
    """Before: allow_storage="no" (truthy) let the file choose where a study database is written."""
    text = f'[solver]\nname = "tpe"\nstorage = "sqlite:///{tmp_path / "study.db"}"\n'
    with pytest.raises(ProblemFileError, match="allow_storage must be True or False, got 'no'"):
        loads_problem(text, allow_storage="no")
    (tmp_path / "p.toml").write_text(text)
    with pytest.raises(ProblemFileError, match="allow_storage must be True or False, got 1"):
        load_problem_file(tmp_path / "p.toml", allow_storage=1)
    assert loads_problem(text, allow_storage=np.True_).solver_options["storage"].startswith("sqlite:///")
    assert not (tmp_path / "study.db").exists()


def test_spec_solve_takes_run_options_only():
    """Before: spec.solve(seed=1) or (time_limit=5) was a raw TypeError, and a solver option the spec did not set
    (population=16) changed its solver's options."""
    spec = loads_problem(SMALL)
    for name, value in (("seed", 1), ("time_limit", 5), ("iterations", 50), ("p_repeat", 0.5)):
        with pytest.raises(ProblemFileError, match=f"ProblemSpec.solve takes the run options .*, not {name}"):
            spec.solve(**{name: value})
    assert spec.solve(progress=False).options["iterations"] == spec.solver_options["iterations"]


def test_an_architecture_or_a_sweeps_rows_given_as_a_problem_is_named(tmp_path: Path) -> None:
    """Before: ``blocks: unknown field; known: space, ...`` and ``expected a table, got [{'index': 0, ...``, which
    did not say what the file was."""
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(mpsolve.get_architecture("merino-52m").to_dict()))
    with pytest.raises(ProblemFileError, match=rf"^{re.escape(str(arch))}: this is an architecture \(mpsolve cost, "
                                               r"build and train take it\), not a problem: give a problem file"):
        load_problem_file(arch)
    rows = [{"index": i, "problem": {"space": "small"}, "status": "optimal"} for i in range(2)]
    with pytest.raises(ProblemFileError, match=r"^rows\.json: these are a sweep's rows \(mpsolve sweep --out\), not a "
                                               "problem"):
        problem_from_dict(rows, "rows.json")
