"""Pareto fronts across budgets: per-budget optima and their proofs, certification, hypervolume,
NSGA-II's native front, exports, plot, CLI."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import warnings

import numpy as np
import pytest

import mpsolve
from mpsolve.cli.pareto import add_subcommands
from mpsolve.costs import FlopsCost
from mpsolve.workflows.pareto import budget_point, plot_fronts

BUDGETS = ["20G", "40G", "110G"]


@pytest.fixture(scope="module")
def cpsat_front() -> mpsolve.ParetoFront:
    return mpsolve.pareto(mpsolve.Problem("small"), over="flops", budgets=BUDGETS, solver="cpsat", workers=1)


def test_one_proved_point_per_budget(cpsat_front: mpsolve.ParetoFront) -> None:
    pts = cpsat_front.points
    assert [p["budget"] for p in pts] == [20e9, 40e9, 110e9]
    assert all(p["status"] == "optimal" and p["cost"] <= p["budget"] for p in pts)
    assert all(p["proved"] and p["gap"] == 0 and p["bound"] == p["objective"] and p["solver"] == "cpsat" for p in pts)
    objectives = [p["objective"] for p in pts]
    assert objectives == sorted(objectives)  # a larger budget never buys less
    assert cpsat_front.front() and cpsat_front.native == []
    assert cpsat_front.certified


def test_infeasible_budget_is_a_point_not_an_error() -> None:
    fr = mpsolve.pareto(mpsolve.Problem("small"), budgets=["1M", "40G"], solver="exhaustive")
    assert fr.points[0]["status"] == "infeasible" and fr.points[0]["architecture"] is None
    assert fr.points[0]["proved"]  # the space's cheapest design costs more than 1M FLOPs
    assert fr.points[1]["status"] == "optimal"
    assert fr.certified


def test_a_heuristic_front_is_not_certified() -> None:
    fr = mpsolve.pareto(mpsolve.Problem("small"), budgets=BUDGETS, solver="ea", seed=0, iterations=200)
    assert [p["status"] for p in fr.points] == ["feasible"] * 3
    assert not any(p["proved"] for p in fr.points) and not fr.certified
    assert fr.to_dict()["certified"] is False


def _staircase_area(points: list[dict], reference_cost: float) -> float:
    """The area under the best objective at cost <= b, for b in [0, reference_cost], over the cost."""
    edges = sorted({p["cost"] for p in points} | {reference_cost})
    area = 0.0
    for lo, hi in zip(edges, edges[1:]):
        area += max((p["objective"] for p in points if p["cost"] <= lo), default=0.0) * (hi - lo)
    return area / reference_cost


def test_hypervolume_against_the_default_and_a_stated_reference(cpsat_front: mpsolve.ParetoFront) -> None:
    assert cpsat_front.reference_point == (0.0, 110e9)  # objective 0, the largest budget
    assert cpsat_front.hypervolume == pytest.approx(_staircase_area(cpsat_front.points, 110e9), rel=1e-9)
    wider = mpsolve.ParetoFront("flops", "cpsat", cpsat_front.points, reference_point=(0, "220G"))
    best = cpsat_front.points[-1]["objective"]
    assert wider.hypervolume == pytest.approx((cpsat_front.hypervolume + best) / 2, rel=1e-9)


def _point(budget: float, objective: float, cost: float, status: str = "feasible") -> dict:
    result = {
        "status": status,
        "objective": objective,
        "costs": {"flops": cost},
        "bound": None,
        "gap": None,
        "wall_time_s": 0.0,
        "encoding": [0],
        "architecture": {},
    }
    return budget_point(budget, result, "flops", "test")


def test_front_drops_dominated_points_and_keeps_duplicates_once() -> None:
    points = [_point(10, 5.0, 8), _point(20, 4.0, 15), _point(30, 5.0, 8), _point(40, 9.0, 35)]
    fr = mpsolve.ParetoFront("flops", "test", points)
    assert fr.front() == [points[0], points[3]]  # 20: dominated by 10; 30: the same design as 10
    assert fr.reference_point == (0.0, 40.0)
    assert fr.hypervolume == pytest.approx((5.0 * (35 - 8) + 9.0 * (40 - 35)) / 40, rel=1e-12)
    assert not fr.certified


def test_a_front_of_negative_objectives_warns_that_the_default_reference_sees_none() -> None:
    """Before: its hypervolume was 0 against the default reference objective 0, without a word."""
    entropy = mpsolve.MeRinoEntropy(variant="log", init_std=0.02, eps=1e-6, effectiveness=False)  # every score < 0
    problem = mpsolve.Problem("small", entropy)
    with pytest.warns(mpsolve.MpsolveWarning, match="every point of the front has an objective <= 0"):
        fr = mpsolve.pareto(problem, over="flops", budgets=["5G", "8G"], solver="exhaustive")
    assert fr.hypervolume == 0.0 and all(p["objective"] < 0 for p in fr.points)
    lower = min(p["objective"] for p in fr.points) - 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", mpsolve.MpsolveWarning)  # a stated reference: no warning, an area
        stated = mpsolve.pareto(problem, over="flops", budgets=["5G", "8G"], solver="exhaustive",
                                reference_point=(lower, "8G"))
    assert stated.hypervolume > 0


def test_bad_reference_point_fails_before_solving() -> None:
    with pytest.raises(mpsolve.MpsolveError, match="positive finite cost"):
        mpsolve.pareto(mpsolve.Problem("small"), budgets=BUDGETS, solver="ea", reference_point=(0, "-1G"))
    with pytest.raises(mpsolve.MpsolveError, match="budgets must be a list"):
        mpsolve.pareto(mpsolve.Problem("small"), budgets="60G", solver="ea")
    with pytest.raises(mpsolve.MpsolveError, match="pareto needs a Problem"):
        mpsolve.pareto("small", budgets=BUDGETS, solver="ea")


def test_nsga2_contributes_its_native_front() -> None:
    fr = mpsolve.pareto(mpsolve.Problem("small"), budgets=["40G", "110G"], solver="nsga2", seed=0, generations=20)
    assert len(fr.native) > 3
    F = np.array([[-p["objective"], p["costs"]["flops"]] for p in fr.native])
    for i, row in enumerate(F):
        assert not np.any(np.all(F <= row, axis=1) & np.any(F < row, axis=1)), f"native point {i} is dominated"


def test_exports_and_plot(cpsat_front: mpsolve.ParetoFront, tmp_path) -> None:
    data = json.loads(cpsat_front.to_json(tmp_path / "front.json"))
    assert data["over"] == "flops" and len(data["points"]) == 3
    assert data["reference_point"] == {"objective": 0.0, "flops": 110e9} and data["certified"] is True
    assert data["hypervolume"] == pytest.approx(cpsat_front.hypervolume, rel=1e-12)
    assert json.loads((tmp_path / "front.json").read_text()) == data
    cpsat_front.to_csv(tmp_path / "front.csv")
    rows = list(csv.DictReader(open(tmp_path / "front.csv")))
    assert len(rows) == 3 and rows[0]["kind"] == "budget" and float(rows[0]["flops"]) <= 20e9
    assert {(r["reference_objective"], r["reference_flops"], r["certified"], r["proved"]) for r in rows} == {
        ("0.0", "110000000000.0", "True", "True")
    }
    plot_fronts([cpsat_front], tmp_path / "front.png", mpsolve.Problem("small"))
    assert (tmp_path / "front.png").stat().st_size > 1000


def _cli() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mpsolve")
    add_subcommands(parser.add_subparsers(dest="command"))
    return parser


def test_cli_prints_one_json_object_and_writes_files(tmp_path, capsys) -> None:
    args = _cli().parse_args(
        [
            "pareto",
            "--budgets",
            "20G,40G",
            "--space",
            "small",
            "--json",
            "--csv",
            str(tmp_path / "f.csv"),
            "--plot",
            str(tmp_path / "f.png"),
        ]
    )
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["solver"] == "cpsat" and [p["status"] for p in out["points"]] == ["optimal", "optimal"]
    assert out["reference_point"] == {"objective": 0.0, "flops": 40e9} and out["certified"] is True
    assert (tmp_path / "f.csv").exists() and (tmp_path / "f.png").exists()


def test_cli_prints_milliseconds_as_milliseconds(tmp_path, capsys) -> None:
    """Before: a 1991 ms point printed as 1.991K, a 2000 ms budget as 2K."""
    from mpsolve.testing.pytest_solvers import synthetic_profile

    profile = tmp_path / "prefill.json"
    profile.write_text(json.dumps(synthetic_profile("small", phase="prefill")))
    args = _cli().parse_args(["pareto", "--space", "small", "--over", "latency_ms", "--latency-profile", str(profile),
                              "--budgets", "1,2000", "--solver", "exact"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "  1 ms  infeasible" in out and "latency=2000 ms (latency axis in units of 2000 ms)" in out
    assert "K" not in out.replace("(E=", "")


def test_cli_prints_the_reference_point_and_certification(capsys) -> None:
    args = _cli().parse_args(
        ["pareto", "--budgets", "20G,40G", "--space", "small", "--solver", "exact,ea", "--reference=-5,60G"]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert out.count("against reference point objective=-5, flops=60G (flops axis in units of 60G)") == 2
    assert "certified: yes (2 of 2 points proved)" in out and "certified: no (0 of 2 points proved)" in out
    # budgets and costs as written (20G, not 2e+10), designs as architectures, not encodings
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("20G ", "40G "))]
    assert len(rows) == 4 and all(r[3].endswith("G") and r[5].startswith("[") for r in rows), rows


def test_cli_rejects_bad_budgets_with_a_library_error() -> None:
    args = _cli().parse_args(["pareto", "--budgets", "40X", "--space", "small"])
    with pytest.raises(mpsolve.MpsolveError, match="unit"):
        args.func(args)


def test_cli_rejects_a_bad_reference_point_with_a_library_error() -> None:
    args = _cli().parse_args(["pareto", "--budgets", "40G", "--space", "small", "--reference", "0,0"])
    with pytest.raises(mpsolve.MpsolveError, match="positive finite cost"):
        args.func(args)


def test_cli_takes_a_space_file(tmp_path, capsys) -> None:
    space = tmp_path / "mine.toml"
    space.write_text('preset = "small"\n')
    args = _cli().parse_args(["pareto", "--budgets", "20G,40G", "--space", str(space), "--solver", "exact", "--json"])
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    expected = mpsolve.pareto(mpsolve.Problem("small"), over="flops", budgets=["20G", "40G"], solver="exact")
    assert [p["objective"] for p in out["points"]] == [p["objective"] for p in expected.points]


def test_a_cost_budgeted_with_two_sets_of_options_is_varied_by_its_model(tmp_path) -> None:
    long, short = mpsolve.costs.FlopsCost(seq_len=1024), mpsolve.costs.FlopsCost(seq_len=128)
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget(long, "1T"), mpsolve.Budget(short, "4G")])
    with pytest.raises(mpsolve.MpsolveError, match=r"budgets flops with 2 sets of options \(flops, flops\[seq_len="
                                                   r"128\]\): pass the one to vary as over="):
        mpsolve.pareto(problem, "flops", ["2G", "4G"], solver="exhaustive")
    fr = mpsolve.pareto(problem, short, ["3G", "4G"], solver="exhaustive")
    assert fr.over == "flops[seq_len=128]"
    for p in fr.points:  # the other flops budget stays
        arch = mpsolve.Architecture.from_dict(p["architecture"])
        assert p["status"] == "optimal" and p["cost"] == short.of(arch) <= p["budget"] and long.of(arch) <= 1e12
    bare = mpsolve.ParetoFront(fr.over, fr.solver, fr.points)  # a front built without its cost model
    with pytest.raises(mpsolve.MpsolveError, match=r"over 'flops\[seq_len=128\]', which the problem does not report: "
                                                   r"pass a problem that reports it, Problem\(space, report_costs="):
        plot_fronts([bare], tmp_path / "f.png")  # was "unknown cost"
    plot_fronts([bare], tmp_path / "f.png", problem)
    assert (tmp_path / "f.png").stat().st_size > 0
    # one budget with other options: over= a cost model adds its own budget and keeps that one (it was
    # replaced, and the front's designs broke it)
    one = mpsolve.pareto(mpsolve.Problem("small", constraints=[mpsolve.Budget(short, "1G")]), long, ["1T"],
                         solver="exhaustive")
    arch = mpsolve.Architecture.from_dict(one.points[0]["architecture"])
    assert one.over == "flops[seq_len=1024]" and one.points[0]["cost"] == long.of(arch) and short.of(arch) <= 1e9
    assert one.points[0]["objective"] == mpsolve.solve(mpsolve.Problem(
        "small", constraints=[mpsolve.Budget(short, "1G"), mpsolve.Budget(long, "1T")]), "exhaustive").objective


def test_front_writers_check_their_path_before_writing(tmp_path) -> None:
    fr = mpsolve.pareto(mpsolve.Problem("small"), "flops", ["20G"], solver="exact")
    cases = [  # before: IsADirectoryError / FileNotFoundError naming a temporary file, TypeError from lstat
        (lambda: fr.to_csv(tmp_path), r"^CSV file '.*' is a folder; give a file path$"),
        (lambda: fr.to_csv(None), "^CSV file must be a file path, got None$"),
        (lambda: fr.to_json(tmp_path), r"^JSON file '.*' is a folder; give a file path$"),
        (lambda: fr.plot(None), "^figure must be a file path, got None$"),
        (lambda: fr.to_csv(tmp_path / "file.csv" / "x.csv"), "is not a writable folder"),
    ]
    (tmp_path / "file.csv").write_text("")
    for call, message in cases:
        with pytest.raises(mpsolve.MpsolveError, match=message):
            call()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.csv"]  # no temporary file left


def test_fronts_over_different_costs_share_no_file(tmp_path) -> None:
    """Before: the first front's cost named the column of all, and params were written under 'flops'."""
    from mpsolve.workflows import write_csv

    problem = mpsolve.Problem("small")
    flops = mpsolve.pareto(problem, "flops", ["20G"], solver="exact")
    params = mpsolve.pareto(problem, "params", ["2M"], solver="exact")
    short = mpsolve.pareto(problem, FlopsCost(seq_len=128), ["2G"], solver="exact")
    for other, got in ((params, "flops, params"), (short, '"seq_len": 1024} and {.*"seq_len": 128}')):
        with pytest.raises(mpsolve.MpsolveError, match=f"^write_csv needs fronts over one cost, got .*{got}: write "
                                                       "each cost's fronts to a file of its own$"):
            write_csv([flops, other], tmp_path / "f.csv")
        with pytest.raises(mpsolve.MpsolveError, match=f"^plot_fronts needs fronts over one cost, got .*{got}: plot "
                                                       "each cost's fronts in a figure of its own$"):
            plot_fronts([flops, other], tmp_path / "f.png")
    assert not list(tmp_path.iterdir())
    write_csv([flops, mpsolve.pareto(problem, "flops", ["40G"], solver="ea", seed=0)], tmp_path / "f.csv")
    assert [r["flops"] for r in csv.DictReader((tmp_path / "f.csv").open())][:1] == [str(flops.points[0]["cost"])]


def test_fronts_of_different_objectives_share_no_file(tmp_path) -> None:
    """Before: the first front's objective named the axis of all (parameter counts plotted as entropy), and a
    problem's other objective scored the published models beside a front's own."""
    from mpsolve.objectives import MeRinoEntropy
    from mpsolve.workflows import write_csv

    entropy = mpsolve.pareto(mpsolve.Problem("small"), "flops", ["20G"], solver="exact")
    params = mpsolve.pareto(mpsolve.Problem("small", objective="params"), "flops", ["20G"], solver="exact")
    log = mpsolve.pareto(mpsolve.Problem("small", objective=MeRinoEntropy(variant="log")), "flops", ["20G"],
                         solver="exact")
    for other, got in ((params, "entropy, params"), (log, "entropy with options {.*rate.*} and {.*log.*}")):
        with pytest.raises(mpsolve.MpsolveError, match=f"^write_csv needs fronts of one objective, got {got}: write "
                                                       "each objective's fronts to a file of its own$"):
            write_csv([entropy, other], tmp_path / "f.csv")
        with pytest.raises(mpsolve.MpsolveError, match=f"^plot_fronts needs fronts of one objective, got {got}: "
                                                       "plot each objective's fronts in a figure of its own$"):
            plot_fronts([entropy, other], tmp_path / "f.png")
    with pytest.raises(mpsolve.MpsolveError, match="^plot_fronts scores the published models with the problem's "
                                                   "objective entropy, but the fronts maximise params: pass the "
                                                   "fronts' problem, or none"):
        params.plot(tmp_path / "f.png", mpsolve.Problem("small"))
    assert not list(tmp_path.iterdir())
    params.plot(tmp_path / "f.png", mpsolve.Problem("small", objective="params"))
    assert (tmp_path / "f.png").stat().st_size > 1000


def test_ctrl_c_ends_the_front_at_the_budget_being_solved() -> None:
    """Before: Ctrl-C only cut the current budget's solve; the front went on with the larger budgets."""
    from mpsolve.core.solver import Solver

    class CtrlCOnSecondBudget(Solver):
        name = "ctrl-c-on-second"
        stochastic = False
        calls = 0

        def _solve(self, ctx) -> None:
            type(self).calls += 1
            ctx.evaluate(ctx.feasible_seeds)  # a best design so far
            if type(self).calls == 2:
                raise KeyboardInterrupt

    fr = mpsolve.pareto(mpsolve.Problem("small"), "flops", ["10G", "20G", "40G"], solver=CtrlCOnSecondBudget)
    assert [p["status"] for p in fr.points] == ["feasible", "interrupted"] and CtrlCOnSecondBudget.calls == 2
    assert fr.points[1]["objective"] is not None
    # the default reference is the largest budget asked for (was the largest solved: 20G), so fronts compare
    assert fr.reference_point == (0.0, 40e9)


def test_ctrl_c_before_a_solver_starts_keeps_the_front_so_far(monkeypatch) -> None:
    """Before: Ctrl-C in a solve's own checks (before the solver catches it, e.g. the feasibility check)
    left ``pareto`` with a traceback, and the budgets already solved were lost."""
    import importlib

    pareto_module = importlib.import_module("mpsolve.workflows.pareto")  # the package's name is the function
    real, calls = pareto_module.solve, []

    def ctrl_c_on_second(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(pareto_module, "solve", ctrl_c_on_second)
    fr = mpsolve.pareto(mpsolve.Problem("small"), "flops", ["10G", "20G", "40G"], solver="exact")
    assert [(p["status"], p["proved"]) for p in fr.points] == [("optimal", True), ("interrupted", False)]
    assert fr.points[1]["architecture"] is None and len(calls) == 2 and not fr.certified


def test_every_solver_name_is_checked_before_the_first_front(monkeypatch, capsys) -> None:
    """Before: ``--solver tpe,nope`` solved the whole tpe front, then failed and lost it."""
    import mpsolve.cli.pareto as cli_pareto
    from mpsolve.cli import main

    solved = []
    monkeypatch.setattr(cli_pareto, "pareto", lambda *args, **kwargs: solved.append(args))
    assert main(["pareto", "--space", "small", "--budgets", "10G", "--solver", "exhaustive,nope"]) == 2
    assert "unknown solver 'nope'" in capsys.readouterr().err and solved == []
    with pytest.raises(mpsolve.MpsolveError, match="bad options for solver 'exhaustive'"):
        mpsolve.pareto(mpsolve.Problem("small"), "flops", ["10G"], solver="exhaustive", popsize=3)


def test_a_front_plots_with_its_own_cost_model(tmp_path) -> None:
    """Before: a front over flops[seq_len=128] could not be plotted, even with the problem it was solved for."""
    pytest.importorskip("matplotlib")
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "40G")])
    fr = mpsolve.pareto(problem, FlopsCost(seq_len=128), ["2G", "4G"], solver="exhaustive")
    assert fr.over == "flops[seq_len=128]" and fr.cost == FlopsCost(seq_len=128)
    for given in (None, problem):
        fr.plot(tmp_path / "front.png", given)
        assert (tmp_path / "front.png").read_bytes().startswith(b"\x89PNG")
    # a front made without its cost model beside one with it: the model of any front scores the published models
    # (before: the first front's alone, and the plot was refused)
    bare = dataclasses.replace(fr, cost=None, solver="bare")
    plot_fronts([bare, fr], tmp_path / "two.png")
    assert (tmp_path / "two.png").read_bytes().startswith(b"\x89PNG")


def test_a_plots_legend_has_its_place_and_no_search_to_warn_about(tmp_path, monkeypatch) -> None:
    """Before: the legend's default place, "best", was searched for, and matplotlib warned 'Creating legend with
    loc="best" can be slow' whenever the search took a second: under a suite's load, a warning from a plain plot.
    Here every reading of the clock moves it on two seconds: a search would warn."""
    pytest.importorskip("matplotlib")
    import itertools
    import types
    import warnings

    import matplotlib.legend

    front = mpsolve.pareto(mpsolve.Problem("small"), "flops", ["2G", "4G"], solver="exhaustive")
    clock = itertools.count(step=2.0)
    monkeypatch.setattr(matplotlib.legend, "time", types.SimpleNamespace(perf_counter=lambda: next(clock)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        front.plot(tmp_path / "front.png")
    assert (tmp_path / "front.png").read_bytes().startswith(b"\x89PNG")


def test_each_solve_of_a_front_takes_the_run_options() -> None:
    """Before: callback= was refused as an option of the solver's constructor."""
    problem = mpsolve.Problem("small")
    seen: list[float] = []
    front = mpsolve.pareto(problem, "flops", ["20G", "40G"], "exact",
                           callback=lambda ctx: seen.append(ctx.problem.budgets[0].limit))
    assert sorted(set(seen)) == [20e9, 40e9] and all(p["proved"] for p in front.points)
    with pytest.raises(mpsolve.MpsolveError, match=r"^pareto solves once per budget, and checkpoint= belongs to one"):
        mpsolve.pareto(problem, "flops", ["20G"], "ea", checkpoint="run.ckpt")


def test_a_budget_interrupted_before_its_first_design_is_interrupted_not_infeasible(capsys) -> None:
    """Before: its point said ``infeasible``, so ``mpsolve pareto`` exited 0 without saying the front was cut,
    and went on to the next solver's front."""
    from mpsolve.cli import main
    from mpsolve.core.solver import Solver

    class CtrlCAtOnce(Solver):
        name = "ctrl-c-at-once"
        stochastic = False

        def _solve(self, ctx) -> None:
            ctx.time_up()
            raise KeyboardInterrupt

    from mpsolve.solvers import SOLVERS

    mpsolve.register_solver(CtrlCAtOnce)
    try:
        # no corner design (every block at its fewest layers) passes, so the feasibility check knows no design
        deeper = mpsolve.Predicate(lambda b: b.layers.sum(axis=1) > b.layers.shape[1], vectorized=True)
        problem = mpsolve.Problem("small", constraints=[deeper])
        fr = mpsolve.pareto(problem, "flops", ["20G", "40G"], solver="ctrl-c-at-once")
        assert [(p["status"], p["proved"], p["architecture"]) for p in fr.points] == [("interrupted", False, None)]
        known = mpsolve.pareto(mpsolve.Problem("small"), "flops", ["20G"], solver="ctrl-c-at-once").points[0]
        assert known["status"] == "interrupted" and known["architecture"] is not None  # a corner: the best known
        assert not fr.certified
        assert main(["pareto", "--space", "small", "--budgets", "20G,40G", "--solver", "ctrl-c-at-once,exact"]) == 130
    finally:
        SOLVERS.remove(CtrlCAtOnce.name)
    out, err = capsys.readouterr()
    assert "interrupted: the front stops at budget 20G (ctrl-c-at-once)" in err and "exact" not in out


def test_a_pgf_figure_without_its_tex_system_is_refused_before_any_solve(tmp_path, monkeypatch, capsys) -> None:
    """Before: ``--plot front.pgf`` solved every budget, then failed with matplotlib's RuntimeError traceback
    ('xelatex' not found) and lost the front."""
    pytest.importorskip("matplotlib")
    import shutil

    import mpsolve.cli.pareto as cli_pareto
    from mpsolve.cli import main

    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None)
    solved = []
    monkeypatch.setattr(cli_pareto, "pareto", lambda *args, **kwargs: solved.append(args))
    assert main(["pareto", "--space", "small", "--budgets", "20G", "--plot", str(tmp_path / "front.pgf")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "front.pgf" in err and "not installed" in err and solved == []


@pytest.mark.parametrize("budget", [0, "0", "1e999", "1e300T", -5])
def test_a_budget_that_is_no_positive_finite_number_is_named(budget) -> None:
    """Before: it was reported as a bad hypervolume reference point, which nobody had given."""
    with pytest.raises(mpsolve.MpsolveError, match=r"^each budget must be a positive finite number, got "):
        mpsolve.pareto(mpsolve.Problem("small"), "params", ["5M", budget], solver="exact")
    with pytest.raises(mpsolve.MpsolveError, match=r"^each budget must be a positive finite number, got "):
        mpsolve.pareto(mpsolve.Problem("small"), "params", [budget], solver="exact")


def test_a_budget_given_twice_is_refused_before_solving(monkeypatch) -> None:
    """Before: each was solved, and the front held the same point twice (in another spelling too: 5M and 5e6)."""
    import importlib

    pareto_module = importlib.import_module("mpsolve.workflows.pareto")  # the package's `pareto` is the function
    monkeypatch.setattr(pareto_module, "solve", lambda *a, **k: pytest.fail("solved"))
    with pytest.raises(mpsolve.MpsolveError, match=r"^budget 5000000\.0 is given twice \('5M' is the same 5e\+06\): "
                                                   r"give each budget once$"):
        mpsolve.pareto(mpsolve.Problem("small"), "params", ["5M", "8M", 5e6], solver="exact")


def test_budgets_may_be_any_iterable() -> None:
    """A generator was read twice (checked, then parsed): the second pass found no budget."""
    front = mpsolve.pareto(mpsolve.Problem("small"), "params", (b for b in ["5M", "8M"]), solver="exact")
    assert [p["budget"] for p in front.points] == [5e6, 8e6]


@pytest.mark.parametrize("given", ["instance", "class"])
def test_a_front_of_a_solver_instance_or_class_is_labelled_by_its_name(given) -> None:
    """A solver given as an instance or a class labelled the front and its points with its repr
    ('ExactSolver(buckets=1024)', "<class '...ExactSolver'>"), not the backend's name."""
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "40G")])
    solver = mpsolve.get_solver("exact")
    front = mpsolve.pareto(problem, budgets=["1", "20G"], solver=solver if given == "instance" else type(solver))
    assert front.solver == "exact" and [p["solver"] for p in front.points] == ["exact", "exact"]


def test_a_front_plots_the_published_models_with_its_own_objective(tmp_path, monkeypatch) -> None:
    """Before: ``front.plot(path)`` of a front solved for the params objective scored the published
    models with the entropy (about 4e4 to 9e4, on an axis of 4.7e7 to 5e7 parameters) and labelled the
    axis ``entropy``."""
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    fr = mpsolve.pareto(mpsolve.Problem("small", "params"), "flops", ["20G", "40G"], solver="exact")
    axes = []
    subplots = plt.subplots

    def keep_axes(*args, **kwargs):
        fig, ax = subplots(*args, **kwargs)
        axes.append(ax)
        return fig, ax

    monkeypatch.setattr(plt, "subplots", keep_axes)
    fr.plot(tmp_path / "front.png")
    ax = axes[0]
    assert ax.get_ylabel() == "params" and ax.get_xlabel() == "flops (FLOPs, seq_len 1024)"
    stars = {line.get_xdata()[0]: line.get_ydata()[0] for line in ax.get_lines() if line.get_marker() == "*"}
    for name in ("merino-52m", "merino-61m", "merino-64m"):
        arch = mpsolve.get_architecture(name)
        assert stars[FlopsCost().of(arch)] == mpsolve.costs.ParamsCost().of(arch)


def test_the_front_json_names_the_swept_costs_options() -> None:
    """Before: a front over 128-token FLOPs said 'over': 'flops' and nothing more, as one over 1024 tokens."""
    fr = mpsolve.pareto(mpsolve.Problem("small"), FlopsCost(seq_len=128), ["5G", "10G"], solver="exact")
    data = json.loads(fr.to_json())
    assert data["over"] == "flops" and data["cost"] == {"name": "flops",
                                                        "options": {"seq_len": 128, "include_lm_head": False}}


def test_a_budget_whose_solve_fails_is_an_error_point_and_the_front_goes_on(tmp_path, capsys) -> None:
    """Before: a solver error on one budget raised out of ``pareto``, and the points already solved were lost;
    ``mpsolve pareto`` showed nothing. Now the budget is a point with status ``error`` and the message, the
    other budgets are solved, a ``FailedRunsWarning`` says so, and the CLI writes the points and exits 1."""
    from mpsolve.cli import main
    from mpsolve.core.solver import Solver
    from mpsolve.solvers import SOLVERS
    from mpsolve.workflows.sweep import FailedRunsWarning

    class FailsAt20G(Solver):
        name = "fails-at-20g"
        stochastic = False

        def _solve(self, ctx) -> None:
            if ctx.problem.budgets[0].limit == 20e9:
                raise mpsolve.SolverError("no luck at this budget")
            ctx.evaluate(ctx.feasible_seeds)

    mpsolve.register_solver(FailsAt20G)
    try:
        with pytest.warns(FailedRunsWarning, match=r"^1 of 3 budgets failed; their points have status 'error' "
                          r"\(the first, budget 20G with fails-at-20g: no luck at this budget\)$"):
            fr = mpsolve.pareto(mpsolve.Problem("small"), "flops", ["10G", "20G", "40G"], solver="fails-at-20g")
        assert [p["status"] for p in fr.points] == ["feasible", "error", "feasible"]
        assert fr.points[1]["error"] == "no luck at this budget" and fr.points[1]["architecture"] is None
        assert not fr.certified and len(fr.front()) >= 1
        for bad, said in (({"seed": -1}, "seed"), ({"time_limit": -1}, "time"), ({"progress": "yes"}, "progress")):
            with pytest.raises(mpsolve.SolverError, match=f"^{said}"):  # refused, not a point per budget
                mpsolve.pareto(mpsolve.Problem("small"), "flops", ["10G"], solver="fails-at-20g", **bad)
        out = tmp_path / "front.csv"
        with warnings.catch_warnings():
            warnings.simplefilter("error", FailedRunsWarning)  # the CLI says it once, as its error line
            code = main(["pareto", "--space", "small", "--budgets", "10G,20G,40G", "--solver", "fails-at-20g",
                         "--csv", str(out)])
    finally:
        SOLVERS.remove(FailsAt20G.name)
    assert code == 1
    printed, err = capsys.readouterr()
    assert err.strip() == ("mpsolve: error: 1 of 3 budgets failed; their points have status 'error' (the first, "
                           "budget 20G with fails-at-20g: no luck at this budget)")
    assert printed.count("feasible") == 2 and " error " in printed
    rows = list(csv.DictReader(out.open()))
    assert [r["status"] for r in rows] == ["feasible", "error", "feasible"]
    # the error point's message, as the JSON carries it (before: the CSV had none); the last column
    assert [r["error"] for r in rows] == ["", "no luck at this budget", ""] and list(rows[0])[-1] == "error"


def test_a_front_without_a_seed_records_each_points_drawn_seed() -> None:
    """Before: with seed=None each budget's solve drew a seed the front kept nowhere, so no point could be run
    again; now every point records its solve's seed, and solving its budget with that seed gives its design."""
    problem = mpsolve.Problem("small")
    fr = mpsolve.pareto(problem, "flops", ["40G", "110G"], solver="ea", iterations=200)
    for p in fr.points:
        assert isinstance(p["seed"], int)
        again = mpsolve.solve(mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", p["budget"])]), "ea",
                              seed=p["seed"], iterations=200)
        assert again.x.tolist() == p["encoding"]
    assert json.loads(fr.to_json())["points"][0]["seed"] == fr.points[0]["seed"]


def test_a_profile_lacking_a_layer_the_space_needs_is_refused_before_any_solve(tmp_path, capsys) -> None:
    """Before: every budget's solve failed alike, so pareto gave an error point per budget (and the CLI exit 1)
    where design refuses the input with exit 2. Now the costs are checked once, before any solve: one error."""
    from mpsolve.cli import main
    from mpsolve.costs import LatencyCost, LatencyProfileError
    from mpsolve.testing.pytest_solvers import synthetic_profile

    profile = synthetic_profile("small")
    widest = max(r["ffn_dim"] for r in profile["layers"])
    profile["layers"] = [r for r in profile["layers"] if r["ffn_dim"] != widest]
    with pytest.raises(LatencyProfileError, match=f"^the latency profile .* no entry for a layer .*ffn_dim={widest}"):
        mpsolve.pareto(mpsolve.Problem("small"), LatencyCost(profile), [3, 5], solver="exhaustive")
    path = tmp_path / "lacking.json"
    path.write_text(json.dumps(profile))
    out = tmp_path / "front.csv"
    code = main(["pareto", "--space", "small", "--over", "latency_ms", "--latency-profile", str(path), "--budgets",
                 "3,5", "--solver", "exhaustive", "--csv", str(out)])
    printed, err = capsys.readouterr()
    assert code == 2 and printed == "" and not out.exists()
    assert err.startswith("mpsolve: error: the latency profile (space 'small') has no entry for a layer")
    assert len(err.strip().splitlines()) == 1


def test_the_check_before_a_fronts_solves_keeps_to_one_solves_time_limit() -> None:
    """Before: pareto scored every corner design with every cost before the first solve, outside the time limit: a
    slow plug-in cost on a space of many width orders paid for all of them (here 5005 corners at 1 ms each, over
    5 s); now, as a solve does, growing chunks while one solve's limit lasts (the first, 256, always)."""
    import time

    from mpsolve.costs import CostModel

    class Slow(CostModel):
        name = "test-slow"

        def evaluate(self, batch, constants) -> np.ndarray:
            time.sleep(0.001 * len(batch.embed_dims))
            return np.zeros(len(batch.embed_dims))

    space = mpsolve.SearchSpace(num_blocks=6, embed_dims=tuple(range(64, 704, 64)), ffn_ratios=(1.0,), layers=(1, 2),
                                vocab_size=256, embed_proj_dim=64, max_positions=64, name="many-orders")
    problem = mpsolve.Problem(space, "params", report_costs=[Slow()])
    assert len(problem.corner_designs()[0]) == 5005
    start = time.perf_counter()
    front = mpsolve.pareto(problem, "params", ["50M"], "ea", seed=0, time_limit=0.2)
    assert time.perf_counter() - start < 3.0  # measured 0.83-0.88 s beside a suite run; 5.6 s before the change
    assert [p["status"] for p in front.points] == ["feasible"]
