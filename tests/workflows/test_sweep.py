"""Sweeps on the local, process and Dask executors, and Optuna studies shared by processes."""

from __future__ import annotations

import json
import math
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import mpsolve
from mpsolve.cli import main
from mpsolve.utils.random import DEFAULT_SEED
from mpsolve.workflows.problem_file import load_problem_file
from mpsolve.workflows.sweep import FailedRunsWarning, SweepError, run_sweep, sweep, sweep_tasks

EA = {"ea": {"iterations": 300, "population": 32, "parents": 8, "init_samples": 64}}


def _problems() -> dict[str, mpsolve.Problem]:
    return {
        "small": mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "40G", seq_len=512)]),
        "small-params": mpsolve.Problem("small", objective="params"),
    }


def _tasks():
    return sweep_tasks(_problems(), {"flops": ["20G", "60G"]}, ["ea"], [0, 1], solver_options=EA)


def _answers(rows):
    """Rows without what depends on the machine's speed."""
    return [{k: v for k, v in r.items() if k not in ("wall_time_s", "history")} for r in rows]


@pytest.fixture(scope="module")
def local_rows():
    return run_sweep(_tasks(), "local")


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        yield cluster


def test_tasks_cover_the_grid_in_a_fixed_order():
    tasks = _tasks()
    assert len(tasks) == 2 * 2 * 1 * 2
    assert [(t.name, t.budgets["flops"], t.seed) for t in tasks[:4]] == [
        ("small", 20e9, 0),
        ("small", 20e9, 1),
        ("small", 60e9, 0),
        ("small", 60e9, 1),
    ]
    assert [t.index for t in tasks] == list(range(8))
    budget = tasks[0].problem.budgets[0]
    assert budget.limit == 20e9 and budget.cost.seq_len == 512  # the swept budget keeps its cost options
    assert tasks[4].problem.budgets[0].cost.seq_len == 1024  # a budget the problem lacked is added


def test_local_rows(local_rows):
    assert [r["index"] for r in local_rows] == list(range(8))
    for row in local_rows:
        assert row["status"] == "feasible"
        assert row["costs"]["flops"] <= row["budgets"]["flops"]
        assert row["problem"]["constraints"][0]["limit"] == row["budgets"]["flops"]
    assert local_rows[0]["objective"] < local_rows[2]["objective"]  # a larger budget, a better design


def test_dask_cluster_gives_the_local_answers(local_rows, cluster):
    address = cluster.scheduler_address.removeprefix("tcp://")
    assert _answers(run_sweep(_tasks(), f"dask://{address}")) == _answers(local_rows)


def test_dask_client_object_is_an_executor(local_rows, cluster):
    distributed = pytest.importorskip("distributed")
    with distributed.Client(cluster) as client:
        assert _answers(run_sweep(_tasks()[:2], client)) == _answers(local_rows[:2])


def test_process_pool_gives_the_local_answers(local_rows):
    assert _answers(run_sweep(_tasks()[:2], "process:2")) == _answers(local_rows[:2])


def test_infeasible_budget_is_a_row_not_a_crash():
    rows = sweep(["small"], {"flops": ["1G"]}, ["ea"], [0], solver_options=EA)
    assert rows[0]["status"] == "infeasible" and rows[0]["architecture"] is None
    assert "raise the budget" in rows[0]["error"]


def test_a_run_whose_solver_raises_is_a_row_and_the_sweep_goes_on():
    """Before: exhaustive refusing a space too large for it stopped the sweep; the runs after it never ran."""
    with pytest.warns(FailedRunsWarning, match=r"^1 of 2 runs failed; their rows have status 'error' \(the first, "
                      r"problem 'small' with exhaustive, seed 0: exhaustive: space 'small' has .* designs, more than "
                      r"max_designs=10;"):
        rows = sweep(["small"], {"flops": ["12G"]}, ["exhaustive", "exact"],
                     solver_options={"exhaustive": {"max_designs": 10}})
    assert [(r["solver"], r["status"]) for r in rows] == [("exhaustive", "error"), ("exact", "optimal")]
    assert rows[0]["architecture"] is None and rows[0]["objective"] is None and rows[0]["proved"] is False
    assert "raise max_designs" in rows[0]["error"] and "error" not in rows[1]


def test_on_row_sees_each_row_as_its_run_finishes():
    seen = []
    rows = sweep(["small"], {"flops": ["20G", "60G"]}, ["ea"], [0], solver_options=EA, on_row=seen.append)
    assert sorted(seen, key=lambda r: r["index"]) == rows and len(rows) == 2
    with pytest.raises(SweepError, match="on_row must be a function"):
        sweep(["small"], on_row="rows.csv")
    with pytest.raises(SweepError, match="on_row must be a function"):  # before its first run
        run_sweep(sweep_tasks(["small"], {}, ["ea"], [0]), on_row="rows.csv")


def _one_layer_first(arch: mpsolve.Architecture) -> bool:
    return arch.blocks[0].layers == 1


def test_predicate_problems_travel_pickled():
    problem = mpsolve.Problem("small", constraints=[mpsolve.Predicate(_one_layer_first, name="l1")])
    (task,) = sweep_tasks({"p": problem}, solver_options=EA)
    copy = pickle.loads(pickle.dumps(task))
    assert isinstance(copy.problem.constraints[0], mpsolve.Predicate)
    assert run_sweep([copy])[0]["architecture"]["blocks"][0]["layers"] == 1


def test_file_expressible_tasks_travel_as_small_files():
    (task,) = sweep_tasks(["small"], solver_options=EA)
    data = pickle.dumps(task)
    assert len(data) < 20_000
    assert pickle.loads(data).problem.fingerprint() == task.problem.fingerprint()


def test_a_swept_latency_budget_keeps_the_problems_profile():
    from mpsolve.testing.pytest_solvers import synthetic_profile

    profile = synthetic_profile("small")
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("latency", 100, profile=profile)])
    tasks = sweep_tasks([problem], {"latency_ms": [50, 80]})  # latency_ms is the latency budget, not a second one
    budgets = [[(b.cost.name, b.limit) for b in t.problem.budgets] for t in tasks]
    assert budgets == [[("latency", 50)], [("latency", 80)]]
    assert all(t.problem.budgets[0].cost.profile is profile for t in tasks)


def test_a_task_keeps_its_constraint_order_across_processes(tmp_path, capsys):
    """Before: a task travelled as a problem file, which lists budgets first, so a process or Dask row echoed
    another constraint order than the task's and ``sweep --resume`` refused every row of its own --out as 'not a
    run of this sweep'."""
    problem = mpsolve.Problem("small", constraints=[mpsolve.Effectiveness(0.5), mpsolve.Budget("flops", "12G")])
    (task,) = sweep_tasks([problem], {"params": ["60M"]}, ["exact"], [0])
    assert pickle.loads(pickle.dumps(task)).problem.to_dict() == task.problem.to_dict()
    spec = tmp_path / "p.toml"
    spec.write_text('space = "small"\n[budgets]\nflops = "12G"\n[constraints]\neffectiveness = 0.5\n')
    out = tmp_path / "rows.json"
    argv = ["sweep", "--problem", str(spec), "--over", "params", "--budgets", "50M,60M", "--solvers", "exact",
            "--executor", "process:1", "--out", str(out)]
    assert main(argv) == 0
    full = json.loads(out.read_text())
    out.write_text(json.dumps(full[:1]))  # as a Ctrl-C after one run leaves it
    assert main([*argv, "--resume"]) == 0, capsys.readouterr().err
    assert [r["encoding"] for r in json.loads(out.read_text())] == [r["encoding"] for r in full]


def test_a_swept_budget_replaces_every_budget_on_that_cost():
    """Before: a problem with two budgets on flops (a problem file's two [[budget]] tables) swept to 40G kept the
    second, 12G, budget: the row said flops=40G and the design was held to 12G (pareto replaces both)."""
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "20G"), mpsolve.Budget("flops", "12G"),
                                                    mpsolve.Budget("params", "60M")])
    (task,) = sweep_tasks([problem], {"flops": ["40G"]}, ["exact"], [0])
    assert [(b.cost.name, b.limit) for b in task.problem.budgets] == [("flops", 40e9), ("params", 60e6)]



@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"problems": {}}, "at least one problem"),
        ({"seeds": []}, "at least one problem, one solver and one seed"),
        ({"budgets": {"flops": []}}, "no budget values for 'flops'"),
        ({"solver_options": {"tpe": {}}}, "not swept"),
        ({"solvers": ["magic"]}, "unknown solver 'magic'"),
        ({"budgets": {"flops": ["-3G"]}}, "positive finite"),
        ({"problems": ["nowhere"]}, "unknown search space 'nowhere'"),
        ({"budgets": {"latency_ms": [50]}}, "sweeping latency_ms needs a device profile: sweep a problem file"),
        ({"problems": [mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "1T", seq_len=1024),
                                                             mpsolve.Budget("flops", "4G", seq_len=128)])],
          "budgets": {"flops": ["2G"]}},
         r"sweeping flops is ambiguous: .* \(flops, flops\[seq_len=128\]\); keep one flops budget"),
    ],
)
def test_bad_sweeps_are_refused(kwargs, message):
    args = {"problems": ["small"], "solvers": ["ea"], "seeds": [0], **kwargs}
    with pytest.raises(mpsolve.MpsolveError, match=message):
        sweep_tasks(**args)


@pytest.mark.parametrize(
    ("executor", "message"),
    [
        ("ray://head:10001", "Ray clusters are not supported"),
        ("spark", "unknown executor"),
        ("process:x", "worker count"),
        ("process:\u00b2", "worker count"),  # a digit int() refuses: was a ValueError traceback
        ("dask://local:\u00b2", "worker count"),
        ("dask://127.0.0.1:\u00b2", "needs a scheduler address HOST:PORT"),
    ],
)
def test_bad_executors_are_refused(executor, message):
    with pytest.raises(SweepError, match=message):
        run_sweep(_tasks()[:1], executor)


def test_a_problem_no_worker_process_can_receive_is_refused_before_any_run():
    """Before: pickle's own error, raised when that run's row was awaited, after others ran."""
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "40G", seq_len=512),
                                                    mpsolve.Predicate(lambda a: True, name="anything")])
    tasks = sweep_tasks({"plain": _problems()["small"], "lambda": problem}, None, ["ea"], [0], solver_options=EA)
    with pytest.raises(SweepError, match=r"^the run of problem 'lambda' with solver 'ea' cannot be sent to a worker "
                       r"process \(Can't pickle .*\): define its predicates, .* or use executor='local'$"):
        run_sweep(tasks, "process:2")

    class LocalSearch(mpsolve.Solver):  # a solver class defined in a function: no worker can import it
        name = "local-search"

        def _solve(self, ctx: mpsolve.SolveContext) -> None:
            ctx.evaluate(ctx.feasible_seeds)

    tasks = sweep_tasks({"plain": _problems()["small"]}, None, ["ea", LocalSearch], [0])  # the second one breaks
    with pytest.raises(SweepError, match=r"^the run of problem 'plain' with solver <class .*LocalSearch'> cannot be "
                       r"sent to a worker process"):
        run_sweep(tasks, "process:2")


def test_cli_sweep_on_a_local_cluster(capsys):
    argv = ["sweep", "--space", "small", "--over", "flops", "--budgets", "20G,60G", "--seeds", "0,1", "--json"]
    argv += ["--option", "ea.iterations=300", "--option", "ea.population=32", "--option", "ea.init_samples=64"]
    assert main(argv) == 0
    local = json.loads(capsys.readouterr().out)
    assert main([*argv, "--executor", "dask://local:2"]) == 0
    assert _answers(json.loads(capsys.readouterr().out)) == _answers(local)
    assert [r["budgets"] for r in local] == [{"flops": 20e9}] * 2 + [{"flops": 60e9}] * 2


def test_cli_sweep_table_and_errors(capsys, tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('space = "small"\n[solver]\nname = "ea"\niterations = 200\ninit_samples = 64\n')
    assert main(["sweep", "--problem", str(path), "--over", "params", "--budgets", "50M,60M"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["problem", "budgets", "solver", "seed"] and len(out) == 3
    assert "params=50M" in out[1]
    assert main(["sweep", "--over", "flops"]) == 2
    assert "one --budgets list per --over" in capsys.readouterr().err


SEEDED = 'space = "small"\n[budgets]\nflops = "12G"\n[solver]\nname = "exact"\nseed = 3\ntime_limit = 60\n'


def test_a_problem_files_seed_and_time_limit_apply_unless_the_sweep_gives_its_own(tmp_path, capsys):
    """Before: a problem file's seed and time limit were dropped: without --seeds and --time-limit its runs had
    seed 0 and no time limit (``design --problem`` honours both). Now what the sweep gives wins, and where it gives
    nothing each file's own are used, and the row records the time limit it ran with."""
    path = tmp_path / "p.toml"
    path.write_text(SEEDED)
    spec = load_problem_file(path)
    (task,) = sweep_tasks([spec], None, ["exact"])
    assert (task.seed, task.time_limit) == (3, 60)
    tasks = sweep_tasks([spec, "small"], None, ["exact"], [1, 2], time_limit=5)
    assert [(t.seed, t.time_limit) for t in tasks] == [(1, 5), (2, 5)] * 2
    (task,) = sweep_tasks(["small"], None, ["exact"])
    assert (task.seed, task.time_limit) == (DEFAULT_SEED, None)
    (task,) = sweep_tasks([spec], None, ["exact"], time_limit=math.inf)  # no limit, over the file's
    assert task.time_limit is None
    argv = ["sweep", "--problem", str(path), "--space", "small", "--solvers", "exact", "--json"]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["seed"], r["time_limit"]) for r in rows] == [("p", 3, 60), ("small", DEFAULT_SEED, None)]
    assert main([*argv, "--seeds", "1", "--time-limit", "5"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["seed"], r["time_limit"]) for r in rows] == [("p", 1, 5), ("small", 1, 5)]
    out = tmp_path / "rows.json"  # a resume matches the rows by the seed they ran with
    assert main([*argv, "--out", str(out)]) == 0
    full = json.loads(out.read_text())
    out.write_text(json.dumps(full[:1]))
    assert main([*argv, "--out", str(out), "--resume"]) == 0, capsys.readouterr().err
    assert [(r["seed"], r["encoding"]) for r in json.loads(out.read_text())] == [(r["seed"], r["encoding"])
                                                                                 for r in full]


def test_without_solvers_each_problem_file_runs_with_its_own_solver(tmp_path, capsys):
    """Before: two problem files naming exact and exhaustive, swept without --solvers, each ran with both solvers
    (the help says: default ea, or each problem file's solver)."""
    one, two = tmp_path / "one.toml", tmp_path / "two.toml"
    one.write_text(SEEDED)
    two.write_text(SEEDED.replace('"exact"', '"exhaustive"'))
    tasks = sweep_tasks([load_problem_file(one), load_problem_file(two), "small"])
    assert [(t.name, t.solver) for t in tasks] == [("small", "exact"), ("small#1", "exhaustive"), ("small#2", "ea")]
    assert main(["sweep", "--problem", str(one), "--problem", str(two), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["solver"]) for r in rows] == [("one", "exact"), ("two", "exhaustive")]
    assert main(["sweep", "--problem", str(one), "--problem", str(two), "--solvers", "exact", "--json"]) == 0
    assert [(r["name"], r["solver"]) for r in json.loads(capsys.readouterr().out)] == [("one", "exact"),
                                                                                       ("two", "exact")]
    with pytest.raises(SweepError, match=r"solver_options given for \['ea'\], which are not swept"):
        sweep_tasks([load_problem_file(one)], solver_options={"ea": {"iterations": 5}})


WORKER = textwrap.dedent(
    """
    import json, sys
    import mpsolve

    url, name, n_trials, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "40G")])
    options = {"storage": url, "study_name": name, "n_trials": n_trials, "n_startup_trials": 4}
    result = mpsolve.solve(problem, "tpe", seed=seed, **options)
    print(json.dumps({"status": result.status, "objective": result.objective}))
    """
)


def _tpe_workers(url: str, trials: int, seeds: tuple[int, ...]) -> list[dict]:
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, "shared", str(trials), str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for seed in seeds
    ]
    out = []
    for w in workers:
        stdout, stderr = w.communicate(timeout=180)
        assert w.returncode == 0, stderr.decode()
        out.append(json.loads(stdout.decode().splitlines()[-1]))
    return out


def test_two_processes_share_one_persistent_tpe_study(tmp_path):
    optuna = pytest.importorskip("optuna")
    if "storage" not in mpsolve.get_solver("tpe").get_options():
        pytest.fail("the tpe backend has no `storage` option")
    url = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.create_study(study_name="shared", storage=url, direction="maximize")  # both workers load it
    rows = _tpe_workers(url, 8, (0, 1))
    assert all(r["status"] == "feasible" for r in rows)
    trials = optuna.load_study(study_name="shared", storage=url).get_trials(deepcopy=False)
    assert 8 <= len(trials) <= 16
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "40G")])
    options = {"storage": url, "study_name": "shared", "n_trials": len(trials) + 3, "n_startup_trials": 4}
    mpsolve.solve(problem, "tpe", seed=2, **options)  # a later run continues the stored study
    assert len(optuna.load_study(study_name="shared", storage=url).trials) == len(trials) + 3


@pytest.mark.parametrize("executor", ["local", "process:1", "dask://local:1"])
def test_ctrl_c_keeps_the_finished_rows_and_exits_130(tmp_path, executor):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) once a run has finished."""
    if executor.startswith("dask"):
        pytest.importorskip("distributed")
    out = tmp_path / "rows.json"
    # Python's Ctrl-C handler even when this test runs where SIGINT is ignored (a shell's background job
    # inherits SIG_IGN, and Python then never raises KeyboardInterrupt): a terminal's mpsolve has it
    cli = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
           "sys.argv[0] = 'mpsolve'; runpy.run_module('mpsolve.cli', run_name='__main__')")
    argv = [sys.executable, "-c", cli, "sweep", "--space", "small", "--over", "flops", "--budgets", "20G",
            "--seeds", ",".join(map(str, range(40))), "--executor", executor, "--out", str(out)]
    root = str(Path(mpsolve.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not out.exists():  # written atomically once the first run finishes
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "no run finished in 300 s"
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    rows = json.loads(out.read_text())
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith(f"mpsolve: interrupted: {len(rows)} of 40 runs finished"), stderr
    assert 1 <= len(rows) < 40 and all(r["status"] == "feasible" for r in rows)
    assert len(stdout.strip().splitlines()) == 1 + len(rows)  # the table of the finished rows
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # no worker process is left behind
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        pytest.fail("worker processes outlived the interrupted sweep")


def test_a_task_keeps_its_reported_costs_across_processes():
    from mpsolve.costs import MemoryCost

    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("params", "60M")],
                              report_costs=["params", MemoryCost(seq_len=128, batch_size=8), "memory"])
    task = sweep_tasks([problem], {"params": ["50M"]}, ["ea"], [0])[0]
    copy = pickle.loads(pickle.dumps(task))  # what a process or dask worker gets (was the default report)
    assert copy.problem.costs == task.problem.costs and len(copy.problem.costs) == 3


def test_a_numpy_time_limit_is_recorded_as_a_float_so_rows_are_json():
    """Before: time_limit=np.float32(30) stayed in each row as given, and json.dumps(rows) raised a TypeError."""
    import numpy as np

    tasks = sweep_tasks(["small"], {"flops": ["20G"]}, ["ea"], [0], time_limit=np.float32(30.0))
    assert type(tasks[0].time_limit) is float and tasks[0].time_limit == 30.0
    assert sweep_tasks(["small"], None, ["ea"], [0], time_limit=np.float64(math.inf))[0].time_limit is None
    rows = sweep(["small"], {"flops": ["20G"]}, ["ea"], [0], time_limit=np.float32(30.0),
                 solver_options={"ea": {"iterations": 64, "init_samples": 64}})
    assert json.loads(json.dumps(rows))[0]["time_limit"] == 30.0


def test_an_interrupted_process_sweep_waits_for_its_workers_deaf_to_another_ctrl_c(monkeypatch) -> None:
    """Leaving a process sweep early (Ctrl-C) ends its workers and waits for them with Ctrl-C ignored: a second
    Ctrl-C while they ended (at exit, in the pool's join) printed a traceback."""
    from concurrent.futures import ProcessPoolExecutor

    seen = []
    shutdown = ProcessPoolExecutor.shutdown

    def shutdown_with_a_second_ctrl_c(self, wait=True, *, cancel_futures=False):
        if wait:
            seen.append(signal.getsignal(signal.SIGINT))
            signal.raise_signal(signal.SIGINT)
        return shutdown(self, wait=wait, cancel_futures=cancel_futures)

    def first_ctrl_c(row):
        raise KeyboardInterrupt

    monkeypatch.setattr(ProcessPoolExecutor, "shutdown", shutdown_with_a_second_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        sweep(["small"], {"flops": ["20G"]}, ["exact"], [0, 1, 2], executor="process:1", on_row=first_ctrl_c)
    assert seen == [signal.SIG_IGN]
