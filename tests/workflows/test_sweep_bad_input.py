"""Sweeps refuse bad arguments in one line before any run, and accept the single values that cannot be misread."""

from __future__ import annotations

import importlib
import json
import re

import numpy as np
import pytest

import mpsolve
from mpsolve.cli import main
from mpsolve.costs import FlopsCost
from mpsolve.workflows.sweep import SweepError, sweep, sweep_tasks

sweep_module = importlib.import_module("mpsolve.workflows.sweep")  # the package exports sweep()
TINY = "num_blocks = 1\nembed_dims = [64, 128]\nffn_ratios = [1.0]\nlayers = [1, 2]\n"


@pytest.fixture
def no_solves(monkeypatch):
    """Fail the test if any run starts."""
    calls = []
    monkeypatch.setattr(sweep_module, "solve", lambda *a, **k: calls.append(a) or pytest.fail("a run started"))
    return calls


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"problems": [5]}, "each problem must be a Problem, a ProblemSpec, a preset space name or a .toml space"),
        ({"problems": {"p": 5}}, "problem 'p' must be a Problem"),
        ({"problems": None}, r"problems must be a list or a mapping of problems by label, e\.g\. \['small'\]"),
        ({"solver_options": [("exact", {})]}, "solver_options must map solver names to their options, e.g."),
        ({"solver_options": {"exact": 5}}, r"solver_options\['exact'\] must map option names to values"),
        ({"budgets": ["20G"]}, r"budgets must map cost names to lists of limits, e\.g\. budgets=\{'flops'"),
        ({"budgets": {"flops": None}}, r"budgets\['flops'\] must be a list of limits, e\.g\."),
        ({"budgets": {FlopsCost(): ["20G"]}}, "budgets must be keyed by cost name"),
        ({"seeds": [0, -1]}, "each seed must be a non-negative integer or None, got -1"),
        ({"seeds": ["0"]}, "each seed must be a non-negative integer or None, got '0'"),
        ({"seeds": "0"}, r"seeds must be a list of non-negative integers, e\.g\. seeds=\[0, 1\]"),
        ({"seeds": 1.5}, "seeds must be a list of non-negative integers"),
        ({"solvers": 5}, "solvers must be a list of solver names"),
        ({"solvers": [["ea"]]}, "solvers must be solver names"),
        ({"time_limit": "5"}, "time_limit must be a positive number of seconds or None, got '5'"),
        ({"time_limit": 0}, "time_limit must be a positive number of seconds or None, got 0"),
        ({"time_limit": float("nan")}, "time_limit must be a positive number"),
        # before: each repeat ran again, the same tasks twice
        ({"seeds": [0, 1, 0]}, "^seed 0 is given twice: its runs would repeat the same answers; give each seed once$"),
        ({"solvers": ["exact", "ea", "exact"]}, "^solver 'exact' is given twice: its runs would repeat"),
        ({"budgets": {"flops": ["20G", 2e10]}},
         r"^budgets\['flops'\]: 20000000000\.0 is given twice \('20G' is the same 2e\+10\): give each budget once$"),
    ],
)
def test_bad_arguments_are_one_line_sweep_errors_before_any_run(kwargs, message, no_solves):
    args = {"problems": ["small"], "budgets": {"flops": ["20G"]}, "solvers": ["exact"], "seeds": [0], **kwargs}
    with pytest.raises(SweepError, match=message) as info:
        sweep(**args)
    assert "\n" not in str(info.value)
    assert not no_solves


def test_unseeded_runs_and_solver_instances_may_repeat():
    """Unseeded runs differ, and two instances of one backend may hold other options: neither is a repeat."""
    tasks = sweep_tasks(["small"], {"flops": ["20G"]}, [mpsolve.get_solver("ea"), mpsolve.get_solver("ea")],
                        [None, None])
    assert len(tasks) == 4


def test_cli_sweep_refuses_a_seed_or_budget_given_twice(capsys, no_solves):
    for extra in (["--budgets", "20G,2e10", "--seeds", "0"], ["--budgets", "20G", "--seeds", "3,3"]):
        assert main(["sweep", "--space", "small", "--over", "flops", "--solvers", "exact", *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is given twice" in err
    assert not no_solves


def test_single_solver_seed_and_numpy_budget_are_lists_of_one():
    (task,) = sweep_tasks(["small"], {"flops": np.int64(20 * 10**9)}, "exact", 3)
    assert (task.solver, task.seed, task.budgets) == ("exact", 3, {"flops": 20e9})
    (task,) = sweep_tasks(["small"], {"flops": [np.float64(2e10)]}, ["exact"], [np.int64(1)])
    assert task.seed == 1 and type(task.seed) is int
    assert len(sweep_tasks(["small"], None, ["exact"], [0], time_limit=float("inf"))) == 1


def test_a_late_bad_seed_stops_the_cli_before_the_first_run(tmp_path, capsys, no_solves):
    out = tmp_path / "rows.json"
    argv = ["sweep", "--space", "small", "--over", "flops", "--budgets", "20G", "--solvers", "ea", "--seeds", "0,-1",
            "--time-limit", "3", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == "mpsolve: error: --seeds must be comma-separated non-negative integers, got '0,-1'\n"
    assert not out.exists() and not no_solves


def test_a_toml_space_file_is_swept_by_library_and_cli(tmp_path, capsys):
    space = tmp_path / "tiny.toml"
    space.write_text(TINY)
    tasks = sweep_tasks([str(space)], {"flops": ["1G"]}, ["exact"])
    assert tasks[0].name == "tiny" and list(tasks[0].problem.space.embed_dims) == [64, 128]
    argv = ["sweep", "--space", f"{space},small", "--over", "flops", "--budgets", "1G", "--solvers", "exact", "--json"]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["tiny", "small"]
    assert rows[0]["problem"]["space"]["embed_dims"] == [64, 128]


def test_cli_sweep_refuses_out_over_its_space_file(tmp_path, capsys, no_solves):
    space = tmp_path / "tiny.toml"
    space.write_text(TINY)
    assert main(["sweep", "--space", str(space), "--solvers", "exact", "--out", str(space)]) == 2
    assert f"is the --space '{space}' file" in capsys.readouterr().err
    assert space.read_text() == TINY


@pytest.mark.parametrize("held", ['{"blocks": []}', "not json", "[1, 2]"])
def test_cli_sweep_out_over_another_file_is_not_told_to_resume_it(tmp_path, capsys, no_solves, held):
    """Before: an --out holding a design's JSON was said to hold an earlier sweep's rows, to be kept with --resume,
    which then refused it as not a list of sweep rows."""
    out = tmp_path / "design.json"
    out.write_text(held)
    assert main(["sweep", "--space", "small", "--solvers", "exact", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is a file that holds no sweep rows, which the sweep would write over: give another --out" in err
    assert "--resume" not in err and out.read_text() == held


def test_cli_sweep_keeps_a_problem_file_and_a_space_of_the_same_name(tmp_path, capsys):
    problem = tmp_path / "small.toml"
    problem.write_text('space = "small"\n[budgets]\nflops = "12G"\n')
    assert main(["sweep", "--problem", str(problem), "--space", "small", "--solvers", "exact", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["small", "small#1"]
    assert rows[0]["costs"]["flops"] <= 12e9 < rows[1]["costs"]["flops"]


def test_cli_sweep_runs_a_problem_file_given_three_times_three_times(tmp_path, capsys):
    """Before: the second and third were both labelled by the path, and one of them was dropped."""
    problem = tmp_path / "tiny.toml"
    problem.write_text('space = "small"\n[budgets]\nflops = "12G"\n')
    assert main(["sweep", *["--problem", str(problem)] * 3, "--solvers", "exact", "--json"]) == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == ["tiny", "tiny#1", "tiny#2"]


class _DiesInItsWorker(mpsolve.Solver):
    """Stands in for a worker the system kills (out of memory) in the middle of a run."""

    name = "test-dies"
    stochastic = False

    def _solve(self, ctx) -> None:
        import os

        os._exit(1)


def test_a_worker_that_dies_stops_a_process_sweep_with_one_line():
    """Before: multiprocessing.Pool started a new worker and waited for the lost task forever."""
    with pytest.raises(SweepError, match=r"^a worker process died \(killed, out of memory, or unable to load its task"):
        sweep([mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "12G")])], solvers=[_DiesInItsWorker],
              executor="process:1")


def _count_runs(monkeypatch) -> list[int]:
    """The index of every task the sweep runs from now on (each run as before)."""
    ran, original = [], sweep_module.run_task

    def counted(task):
        ran.append(task.index)
        return original(task)

    monkeypatch.setattr(sweep_module, "run_task", counted)
    return ran


def test_cli_sweep_resumes_its_out_file_and_refuses_to_overwrite_it(tmp_path, capsys, monkeypatch):
    """Before: rerunning a sweep with the same --out started again and wrote over the finished rows."""
    out = tmp_path / "rows.json"
    argv = ["sweep", "--space", "small", "--over", "flops", "--budgets", "10G,12G,20G", "--solvers", "exact",
            "--out", str(out)]
    assert main(argv) == 0
    full = json.loads(out.read_text())
    out.write_text(json.dumps(full[:2]))  # as a Ctrl-C after two runs leaves it
    capsys.readouterr()
    assert main(argv) == 2
    assert "holds the rows of an earlier sweep: --resume keeps them" in capsys.readouterr().err
    ran = _count_runs(monkeypatch)
    assert main([*argv, "--resume"]) == 0
    def answers(rows):
        return [(r["index"], r["status"], r["objective"], r["encoding"]) for r in rows]

    assert ran == [2] and answers(json.loads(out.read_text())) == answers(full)
    assert main([*argv[:6], "10G", *argv[7:], "--resume"]) == 2  # another sweep's file
    assert "row 1 of --out" in capsys.readouterr().err



def test_cli_sweep_shows_failed_runs_exits_1_and_resume_runs_them_again(tmp_path, capsys, monkeypatch):
    """Before: a run whose solver raised ended the sweep with its error; the runs after it never ran."""
    out = tmp_path / "rows.json"
    argv = ["sweep", "--space", "small", "--over", "flops", "--budgets", "12G", "--solvers", "exhaustive,exact",
            "--option", "exhaustive.max_designs=10", "--out", str(out)]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith(
        "mpsolve: error: 1 of 2 runs failed; their rows have status 'error' (the first, problem 'small' with "
        "exhaustive, seed 0: exhaustive: space 'small' has")
    assert [line.split()[4] for line in captured.out.splitlines()[1:]] == ["error", "optimal"]
    rows = json.loads(out.read_text())
    assert [r["status"] for r in rows] == ["error", "optimal"]
    out.write_text(json.dumps([{**rows[0], "error": "stale"}, rows[1]]))
    ran = _count_runs(monkeypatch)
    assert main([*argv, "--resume"]) == 1
    assert ran == [0] and json.loads(out.read_text())[0]["error"] == rows[0]["error"]


def test_cli_sweep_resume_refuses_a_failed_row_of_another_sweep(tmp_path, capsys, monkeypatch):
    """Before: a kept row with status 'error' was dropped unchecked, so --resume with other arguments ran and wrote
    over another sweep's failed row; now it is held to this sweep's runs as the other kept rows are."""
    out = tmp_path / "rows.json"
    argv = ["sweep", "--space", "small", "--over", "flops", "--budgets", "12G", "--solvers", "exhaustive",
            "--option", "exhaustive.max_designs=10", "--out", str(out)]
    assert main(argv) == 1
    held = out.read_text()
    assert [r["status"] for r in json.loads(held)] == ["error"]
    capsys.readouterr()
    ran = _count_runs(monkeypatch)
    assert main([*argv[:6], "20G", *argv[7:], "--resume"]) == 2  # another budget: another sweep's row
    assert capsys.readouterr().err == (f"mpsolve: error: row 0 of --out {str(out)!r} is not a run of this sweep "
                                       "(another problem, budget, solver, option or seed): resume with the same "
                                       "arguments, or give another --out\n")
    assert ran == [] and out.read_text() == held
    assert main([*argv, "--resume"]) == 1 and ran == [0]  # this sweep's failed row: run again


def test_cli_sweep_table_names_each_objective_when_problems_differ(tmp_path, capsys):
    """Before: a sweep of an entropy problem and a params problem printed both objectives' values in one
    column, unnamed (about 1e4 nats against 1e8 parameters)."""
    params, out = tmp_path / "params.toml", tmp_path / "rows.json"
    params.write_text('space = "small"\nobjective = "params"\nsolver = "exact"\n')
    argv = ["sweep", "--space", "small", "--over", "flops", "--budgets", "12G", "--solvers", "exact"]
    assert main([*argv, "--problem", str(params), "--out", str(out)]) == 0
    values = [f"{r['objective']:.6g}" for r in json.loads(out.read_text())]
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[5:7] for line in lines[1:]] == [[values[0], "params"], [values[1], "entropy"]]
    assert main(argv) == 0  # one objective: the values alone, as before
    assert re.fullmatch(r"\d+x\(E=.*", capsys.readouterr().out.splitlines()[1].split()[6])


@pytest.mark.parametrize("damage, message", [
    ({"status": None}, "status None is not one of"),
    ({"objective": "x"}, "objective 'x' is not a number"),
    ({"architecture": {"blocks": 5}}, "its architecture is not one"),
    ({"time_limit": "x"}, "time_limit 'x' is not a positive number of seconds or null"),
    # before: shown as the run's answer (a row is re-scored under its problem, as a checkpoint's incumbent is)
    ({"objective": 99999.0}, "objective 99999.0 is not its architecture's"),
    ({"costs": {}}, "its params cost None is not its architecture's"),
    ({"architecture": {"blocks": [{"embed_dim": 512, "ffn_ratio": 4.0, "layers": 3}] * 3}},
     "its architecture violates the problem's constraints"),
    ({"architecture": {"blocks": [{"embed_dim": 64, "ffn_ratio": 1.0, "layers": 1}] * 3}},
     "its architecture is not a design of space 'small'"),
])
def test_cli_sweep_resume_refuses_a_damaged_row_in_one_line(tmp_path, capsys, damage, message):
    """Before: a kept row with a damaged answer was shown by --resume with a traceback (KeyError, ValueError)."""
    out = tmp_path / "rows.json"
    argv = ["sweep", "--space", "small", "--over", "flops", "--budgets", "10G,12G", "--solvers", "exact",
            "--out", str(out)]
    assert main(argv) == 0
    rows = json.loads(out.read_text())
    out.write_text(json.dumps([{**rows[0], **damage}, rows[1]]))
    capsys.readouterr()
    assert main([*argv, "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"row 0 of --out {str(out)!r} is damaged ({message}" in err


def test_cli_sweep_refuses_a_cost_given_twice_to_over(capsys, no_solves):
    """Before: ``--over flops --budgets 20G --over flops --budgets 40G`` ran 40G only and said nothing."""
    argv = ["sweep", "--space", "small", "--over", "flops", "--budgets", "20G", "--over", "flops", "--budgets", "40G",
            "--solvers", "exact"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("mpsolve: error: --over flops is given twice: give all its budgets in one --budgets list")
    assert err.count("\n") == 1 and not no_solves


def test_a_cost_swept_under_two_names_is_refused(no_solves):
    """Before: ``{"latency": [50], "latency_ms": [80]}`` ran latency 80 only, in rows whose budgets said 50 and 80."""
    from mpsolve.testing.pytest_solvers import synthetic_profile

    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("latency", 100, profile=synthetic_profile("small"))])
    with pytest.raises(SweepError, match=r"^budgets\['latency'\] and budgets\['latency_ms'\] both bound the latency "
                       r"cost: give all its limits in one list"):
        sweep_tasks([problem], {"latency": [50], "latency_ms": [80]})


def test_cli_sweep_resume_refuses_rows_scored_under_a_changed_profile(tmp_path, capsys):
    """Before: a resume compared a latency profile by its path only: rows scored under the profile before it was
    re-measured were kept beside rows scored under the new one, silently (``design --resume`` re-scores)."""
    from mpsolve.testing.pytest_solvers import synthetic_profile

    profile, problem, out = tmp_path / "device.json", tmp_path / "p.toml", tmp_path / "rows.json"
    data = synthetic_profile("small")
    profile.write_text(json.dumps(data))
    problem.write_text('space = "small"\n[budgets]\nlatency = { limit = 100, profile = "device.json" }\n')
    argv = ["sweep", "--problem", str(problem), "--over", "latency_ms", "--budgets", "30,50", "--solvers", "exact",
            "--out", str(out)]
    assert main(argv) == 0
    full = json.loads(out.read_text())
    out.write_text(json.dumps(full[:1]))  # as a Ctrl-C after one run leaves it
    profile.write_text(json.dumps({**data, "head_ms": 2 * data["head_ms"]}))  # re-measured
    capsys.readouterr()
    assert main([*argv, "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"mpsolve: error: row 0 of --out {str(out)!r} was scored under another latency profile: "
                          f"{str(profile)!r} has changed since (fingerprint "), err
    assert err.endswith("): restore that profile to resume, or give another --out to run the sweep again\n"), err
    assert json.loads(out.read_text()) == full[:1]  # nothing lost
    profile.write_text(json.dumps(data))  # the profile the rows were scored under: resumes
    assert main([*argv, "--resume"]) == 0
    assert [r["encoding"] for r in json.loads(out.read_text())] == [r["encoding"] for r in full]
    old = [{k: v for k, v in row.items() if k != "profiles"} for row in full[:1]]  # an older mpsolve's row
    out.write_text(json.dumps(old))
    capsys.readouterr()
    assert main([*argv, "--resume"]) == 2
    err = capsys.readouterr().err
    assert err == (f"mpsolve: error: row 0 of --out {str(out)!r} records no fingerprint of its latency profile "
                   "(written by an older mpsolve), so it may have been scored under another: give another --out to "
                   "run the sweep again\n")


def test_cli_sweep_resume_refuses_rows_run_under_another_time_limit(tmp_path, capsys):
    """Before: rows did not record their time limit, and a resume with another --time-limit kept the rows run under
    the first beside runs under the second. A row is a whole run, so its time limit is part of what it answers:
    another one is refused in one line, as another seed is."""
    out = tmp_path / "rows.json"
    argv = ["sweep", "--space", "small", "--over", "flops", "--budgets", "10G,12G", "--solvers", "exact",
            "--out", str(out)]
    assert main([*argv, "--time-limit", "30"]) == 0
    full = json.loads(out.read_text())
    assert [r["time_limit"] for r in full] == [30, 30]
    out.write_text(json.dumps(full[:1]))
    capsys.readouterr()
    for extra, now, way in ((["--time-limit", "60"], "a time limit of 60 s", "30"), ([], "no time limit", "30")):
        assert main([*argv, *extra, "--resume"]) == 2
        assert capsys.readouterr().err == (
            f"mpsolve: error: row 0 of --out {str(out)!r} ran with a time limit of 30 s, this sweep runs it with "
            f"{now}: resume with --time-limit {way}, or give another --out to run the sweep again\n")
    out.write_text(json.dumps([{**full[0], "time_limit": None}]))
    assert main([*argv, "--time-limit", "30", "--resume"]) == 2
    assert "ran with no time limit, this sweep runs it with a time limit of 30 s: resume with --time-limit inf" in \
        capsys.readouterr().err
    out.write_text(json.dumps([{k: v for k, v in full[0].items() if k != "time_limit"}]))  # an older mpsolve's row
    assert main([*argv, "--time-limit", "30", "--resume"]) == 2
    assert capsys.readouterr().err == (
        f"mpsolve: error: row 0 of --out {str(out)!r} records no time limit (written by an older mpsolve), so it "
        "may have run under another: give another --out to run the sweep again\n")
    out.write_text(json.dumps(full[:1]))
    assert main([*argv, "--time-limit", "30", "--resume"]) == 0
    assert [r["encoding"] for r in json.loads(out.read_text())] == [r["encoding"] for r in full]
    problem = tmp_path / "p.toml"  # a problem file's own time limit is the one its rows ran with
    problem.write_text('space = "small"\n[budgets]\nflops = "12G"\n[solver]\nname = "exact"\ntime_limit = 45\n')
    out.unlink()
    argv = ["sweep", "--problem", str(problem), "--over", "flops", "--budgets", "10G,12G", "--out", str(out)]
    assert main(argv) == 0
    full = json.loads(out.read_text())
    out.write_text(json.dumps(full[:1]))
    assert main([*argv, "--resume"]) == 0
    assert [r["time_limit"] for r in json.loads(out.read_text())] == [45, 45]
    out.write_text(json.dumps(full[:1]))
    capsys.readouterr()
    assert main([*argv, "--time-limit", "inf", "--resume"]) == 2
    assert "ran with a time limit of 45 s, this sweep runs it with no time limit: resume with --time-limit 45" in \
        capsys.readouterr().err
