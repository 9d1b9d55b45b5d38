"""Checkpoint and resume, for every backend that declares ``resumable = True``."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mpsolve
from mpsolve.core.checkpoint import CheckpointError, load_checkpoint

#: small runs per backend (a backend not listed runs with its defaults)
LEAN: dict[str, dict[str, Any]] = {
    "ea": {"iterations": 3000, "population": 64, "parents": 16, "batch_size": 32, "init_samples": 256},
    "nsga2": {"generations": 12, "pop_size": 24},
    "tpe": {"n_trials": 40, "n_startup_trials": 10},
    "cpsat": {"workers": 1},
}


def _resumable() -> list[str]:
    return [name for name in mpsolve.list_solvers() if type(mpsolve.get_solver(name)).resumable]


def _solver(name: str) -> mpsolve.Solver:
    cls = type(mpsolve.get_solver(name))
    options = {k: v for k, v in LEAN.get(name, {}).items() if k in mpsolve.get_solver(name).get_options()}
    return cls(**options)


@pytest.fixture(scope="module")
def problem() -> mpsolve.Problem:
    return mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "40G")])


class _InterruptAt:
    """A callback that raises KeyboardInterrupt at its ``n``-th call (one call per evaluated batch)."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def __call__(self, ctx: mpsolve.SolveContext) -> None:
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt


def _batches(name: str, problem: mpsolve.Problem, seed: int) -> tuple[mpsolve.Result, int]:
    """An uninterrupted run and how many batches it evaluated."""
    counter = _InterruptAt(0)
    return _solver(name).solve(problem, seed=seed, callback=counter), counter.calls


def _answer(name: str, result: mpsolve.Result) -> tuple[Any, ...]:
    """What a resumed run must reproduce: a stochastic backend replays its run exactly (same
    evaluation count); a deterministic one (cpsat) warm-starts from the stored incumbent."""
    answer = (result.status, result.x.tolist(), result.objective)
    return (*answer, result.n_evals) if type(mpsolve.get_solver(name)).stochastic else answer


def test_ea_is_resumable():
    assert "ea" in _resumable()


@pytest.mark.parametrize("name", _resumable())
def test_interrupted_run_resumes_to_the_uninterrupted_answer(name, problem, tmp_path):
    full, batches = _batches(name, problem, seed=7)
    assert batches >= 2, "the run is too short to interrupt"
    path = tmp_path / "run.ckpt"
    cut = _solver(name).solve(problem, seed=7, checkpoint=path, callback=_InterruptAt(batches // 2 + 1))
    assert cut.status == "interrupted"
    assert path.exists()
    resumed = _solver(name).solve(problem, resume=path)
    assert _answer(name, resumed) == _answer(name, full)
    assert resumed.seed == 7


@pytest.mark.parametrize("name", _resumable())
def test_twice_interrupted_run_resumes_to_the_same_answer(name, problem, tmp_path):
    full, batches = _batches(name, problem, seed=3)
    path = tmp_path / "run.ckpt"
    _solver(name).solve(problem, seed=3, checkpoint=path, callback=_InterruptAt(batches // 2 + 1))
    _solver(name).solve(problem, resume=path, callback=_InterruptAt(batches // 3 + 1))
    assert _answer(name, _solver(name).solve(problem, resume=path)) == _answer(name, full)


class _StopAt(_InterruptAt):
    """A callback that ends the run with ``ctx.stop()`` at its ``n``-th call."""

    def __call__(self, ctx: mpsolve.SolveContext) -> None:
        self.calls += 1
        if self.calls == self.n:
            ctx.stop()


@pytest.mark.parametrize("name", _resumable())
def test_a_stopped_run_resumes_to_the_uninterrupted_answer(name, problem, tmp_path):
    full, batches = _batches(name, problem, seed=5)
    path = tmp_path / "run.ckpt"
    stopped = _solver(name).solve(problem, seed=5, checkpoint=path, callback=_StopAt(batches // 2 + 1))
    assert stopped.status == "feasible" and not stopped.proved
    assert _answer(name, _solver(name).solve(problem, resume=path)) == _answer(name, full)


SIGINT_RUN = """
import signal, sys
import mpsolve

# a test run started in the background inherits SIGINT ignored; this test needs Python's handler
signal.signal(signal.SIGINT, signal.default_int_handler)

problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "40G")])
if sys.argv[2] != "-":  # a run of another backend earlier in the same process
    mpsolve.solve(problem, sys.argv[2])
options = {"iterations": 3000, "population": 64, "parents": 16, "batch_size": 32, "init_samples": 256}
full = mpsolve.solve(problem, "ea", seed=11, **options)
calls = []

def sigint(ctx):  # delivered wherever the run happens to be
    calls.append(1)
    if len(calls) == 40:
        signal.raise_signal(signal.SIGINT)

cut = mpsolve.solve(problem, "ea", seed=11, checkpoint=sys.argv[1], callback=sigint, **options)
resumed = mpsolve.solve(problem, "ea", resume=sys.argv[1], **options)
assert cut.status == "interrupted", cut
assert (resumed.x.tolist(), resumed.n_evals) == (full.x.tolist(), full.n_evals), (resumed, full)
"""


@pytest.mark.parametrize("before", ["-", *[n for n in ("cpsat",) if n in mpsolve.list_solvers()]])
def test_a_real_sigint_midway_resumes_to_the_uninterrupted_answer(tmp_path, before):
    """In a subprocess: a SIGINT that kills the process would take the whole test run with it."""
    run = subprocess.run(
        [sys.executable, "-c", SIGINT_RUN, str(tmp_path / "run.ckpt"), before], capture_output=True, timeout=120
    )
    assert run.returncode != -signal.SIGINT, (
        f"SIGINT killed the process instead of raising KeyboardInterrupt (after a {before!r} run): "
        "something reset the SIGINT handler to SIG_DFL"
    )
    assert run.returncode == 0, run.stderr.decode()


def test_periodic_checkpoints_are_written(problem, tmp_path, monkeypatch):
    path = tmp_path / "run.ckpt"
    written = []
    real = os.replace

    def replace(src, dst):
        real(src, dst)
        with open(dst, "rb") as fh:
            written.append(json.load(fh)["n_evals"])

    monkeypatch.setattr(os, "replace", replace)
    result = _solver("ea").solve(problem, seed=0, checkpoint=path, checkpoint_every=0.0)
    assert len(written) > 10 and written == sorted(written)
    assert written[-1] == result.n_evals


def test_checkpoint_of_another_problem_is_refused(problem, tmp_path):
    path = tmp_path / "run.ckpt"
    _solver("ea").solve(problem, seed=0, checkpoint=path)
    other = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "50G")])
    with pytest.raises(CheckpointError, match="belongs to another problem.*same space, objective and constraints"):
        _solver("ea").solve(other, resume=path)


def test_checkpoint_of_another_solver_configuration_is_refused(problem, tmp_path):
    path = tmp_path / "run.ckpt"
    _solver("ea").solve(problem, seed=0, checkpoint=path)
    with pytest.raises(CheckpointError, match=r"was written by solver 'ea' .*: resume with the solver and options it "
                       "was written with"):  # before: the two option sets, and no way out
        mpsolve.solve(problem, "ea", resume=path, iterations=10)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "does not exist"), (b"not json", "unreadable"), (b'{"a": 1}', "not an mpsolve checkpoint"),
     (pickle.dumps({"a": 1}), "unreadable")],
)
def test_unusable_checkpoint_files_are_refused(problem, tmp_path, content, message):
    path = tmp_path / "run.ckpt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        _solver("ea").solve(problem, resume=path)


def test_non_resumable_solver_refuses_checkpoints(problem, tmp_path):
    class OneShot(mpsolve.Solver):
        name = "one-shot-test"

        def _solve(self, ctx):
            ctx.evaluate(ctx.feasible_seeds)

    with pytest.raises(mpsolve.SolverError, match="does not support checkpoints"):
        OneShot().solve(problem, checkpoint=tmp_path / "x.ckpt")
    # the way out is named (before: "solver 'exact' does not support checkpoints", and nothing else)
    with pytest.raises(mpsolve.SolverError, match=r"^solver 'exact' does not support checkpoints: run it without "
                                                  r"checkpoint and resume, or use a resumable backend \(ea, cpsat"):
        mpsolve.solve(problem, "exact", checkpoint=tmp_path / "x.ckpt")


@pytest.mark.parametrize("target", ["os.replace", "os.fsync"])
def test_crash_during_a_write_keeps_the_last_good_checkpoint(problem, tmp_path, monkeypatch, target):
    path = tmp_path / "run.ckpt"
    _solver("ea").solve(problem, seed=1, checkpoint=path)
    good = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, target.split(".")[1], crash)
    with pytest.raises(OSError, match="simulated"):
        _solver("ea").solve(problem, seed=2, checkpoint=path)
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]  # no temporary file left behind
    assert load_checkpoint(path, problem, _solver("ea"))["seed"] == 1


def test_resume_continues_the_clock_and_history(problem, tmp_path):
    path = tmp_path / "run.ckpt"
    full, batches = _batches("ea", problem, seed=5)
    _solver("ea").solve(problem, seed=5, checkpoint=path, callback=_InterruptAt(batches // 2))
    state = load_checkpoint(path, problem, _solver("ea"))
    resumed = _solver("ea").solve(problem, resume=path)
    assert resumed.wall_time >= state["elapsed"]
    assert [h[1:] for h in resumed.history[: len(state["history"])]] == [h[1:] for h in state["history"]]
    assert np.array_equal(resumed.x, full.x)


def test_facade_passes_checkpoint_and_resume(problem, tmp_path):
    path = Path(tmp_path) / "facade.ckpt"
    options = LEAN["ea"]
    first = mpsolve.solve(problem, "ea", seed=4, checkpoint=path, **options)
    again = mpsolve.solve(problem, "ea", resume=path, **options)
    assert np.array_equal(first.x, again.x) and again.n_evals == first.n_evals


class _Payload:
    """Runs a shell command if unpickled: the attack a pickled checkpoint allowed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("embedded", [False, True], ids=["bare", "inside-a-valid-checkpoint"])
def test_a_pickled_payload_never_runs(problem, tmp_path, embedded):
    path, marker = tmp_path / "run.ckpt", tmp_path / "pwned"
    if embedded:
        _solver("ea").solve(problem, seed=0, checkpoint=path)
        data = json.loads(path.read_text())
        data["solver_state"] = {"__pickle__": pickle.dumps(_Payload(marker)).hex()}
        path.write_bytes(pickle.dumps({"checkpoint": data, "x": _Payload(marker)}))
    else:
        path.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(CheckpointError, match="unreadable"):
        _solver("ea").solve(problem, resume=path)
    assert not marker.exists()


def test_a_checkpoint_path_that_holds_other_data_is_refused_before_the_run(problem, tmp_path):
    """Before: solve(checkpoint="notes.txt") wrote the run's state over the user's notes without a word. A checkpoint
    (an earlier run's) and an empty file are still written over."""
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    calls = []
    with pytest.raises(CheckpointError, match=r"'[^']*notes\.txt' is a file that holds no mpsolve checkpoint, "
                                              r"which the run would write over: give another checkpoint, or delete"):
        _solver("ea").solve(problem, seed=0, checkpoint=notes, callback=calls.append)
    assert notes.read_text() == "my notes\n" and not calls
    empty = tmp_path / "empty.ckpt"
    empty.touch()
    _solver("ea").solve(problem, seed=0, checkpoint=empty)
    _solver("ea").solve(problem, seed=1, checkpoint=empty)  # now a checkpoint
    assert json.loads(empty.read_text())["seed"] == 1


def _edited(problem, tmp_path, edit) -> Path:
    path = tmp_path / "run.ckpt"
    full, batches = _batches("ea", problem, seed=2)
    _solver("ea").solve(problem, seed=2, checkpoint=path, callback=_InterruptAt(batches // 2))
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(best_f=1e300), r"does not fit this problem: its incumbent scores .* the file was edited"),
        (lambda d: d.pop("history"), "history is not a list"),
        (lambda d: d.update(n_evals="many"), "n_evals is not a non-negative integer"),
        (lambda d: d.update(rng={"bit_generator": "MT19937"}), "rng is not a valid PCG64 generator state"),
        (lambda d: d["history"][0].__setitem__(1, float("inf")), "history is not a list of finite"),
        (lambda d: d["history"][0].__setitem__(2, float("nan")), "history is not a list of finite"),
        (lambda d: d["solver_state"]["rng"]["state"].update(state=-1), "the ea checkpoint is malformed"),
        (lambda d: d.update(best_x={"__array__": {"dtype": "int64", "shape": [99], "data": [0]}}), "malformed"),
        (lambda d: d.update(best_x={"__array__": {"dtype": "object", "shape": [1], "data": [0]}}), "malformed"),
        (lambda d: d.update(elapsed=float("nan")), "elapsed is not a non-negative number"),
        (lambda d: d["solver_state"].update(pop_X=[[1, 2]]), "the ea checkpoint is malformed"),
        (lambda d: d["solver_state"].update(done=-3), "the ea checkpoint is malformed"),
        (lambda d: d.update(version=1), "not an mpsolve checkpoint of version 2"),
        (lambda d: d.update(fingerprint="0" * 16), "belongs to another problem"),
        (lambda d: d.update(best_x=None), "best_x is null, but best_f or the history records an incumbent"),
    ],
    ids=["best_f", "no-history", "n_evals", "rng", "history-inf", "history-nan", "ea-rng", "best_x-shape",
         "object-array", "elapsed", "pop_X", "done",
         "version", "fingerprint", "incumbent-dropped"],
)
def test_hand_edited_checkpoints_are_refused_with_one_line(problem, tmp_path, edit, message):
    path = _edited(problem, tmp_path, edit)
    with pytest.raises(mpsolve.MpsolveError, match=message) as info:
        _solver("ea").solve(problem, resume=path)
    assert "\n" not in str(info.value)


def test_a_checkpoint_of_another_version_names_its_version_and_the_way_out(problem, tmp_path):
    """Before: 'is not an mpsolve checkpoint of version 2', the same words as for any other JSON file, and no way
    out."""
    path = _edited(problem, tmp_path, lambda d: d.update(version=1))
    with pytest.raises(CheckpointError, match=r"not an mpsolve checkpoint of version 2: it was written by another "
                       r"version of mpsolve \(checkpoint version 1\); start the run again without resuming it$"):
        _solver("ea").solve(problem, resume=path)


@pytest.mark.parametrize(("name", "edit", "message"), [
    ("ea", lambda st: st.update(pop_X={"__array__": {"dtype": "int64", "shape": [0, 9], "data": []}}),
     "its population is empty or"),
    ("ea", lambda st: st.update(done=10**9), "its population is empty or its 1000000000 children exceed"),
    ("nsga2", lambda st: st.update(generations=10**9), "it records 1000000000 generations, more than the run's"),
    ("tpe", lambda st: st.update(trials=10**9), "it records 1000000000 trials, more than the run's"),
    # was echoed whole: 4001 digits (found by the security audit)
    ("ea", lambda st: st.update(done=10**4000), r"its population is empty or its 1e\+4000 children exceed"),
    ("nsga2", lambda st: st.update(generations=10**4000), r"it records 1e\+4000 generations, more than the run's"),
])
def test_a_checkpoint_past_its_runs_end_is_refused(problem, tmp_path, name, edit, message):
    """Before: the resumed run ended at once and reported its incumbent as a finished run's answer."""
    path = tmp_path / "run.ckpt"
    _, batches = _batches(name, problem, seed=2)
    _solver(name).solve(problem, seed=2, checkpoint=path, callback=_InterruptAt(max(2, batches // 2)))
    data = json.loads(path.read_text())
    edit(data["solver_state"])
    path.write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match=f"the {name} checkpoint is malformed: {message}"):
        _solver(name).solve(problem, resume=path)


def test_a_tpe_checkpoint_polished_before_its_last_trial_is_refused(problem, tmp_path):
    """Before: the resumed run skipped its polish, and ended short of the uninterrupted answer."""
    path = tmp_path / "run.ckpt"
    _solver("tpe").solve(problem, seed=2, checkpoint=path, callback=_InterruptAt(10))  # at trial 10 of 40
    data = json.loads(path.read_text())
    assert data["solver_state"]["trials"] < 40
    data["solver_state"]["polished"] = True
    path.write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match=r"the tpe checkpoint is malformed: it records a polish after \d+ of "
                       "the run's 40 trials"):
        _solver("tpe").solve(problem, resume=path)


def test_a_tampered_population_is_re_scored_not_trusted(problem, tmp_path):
    full, _ = _batches("ea", problem, seed=2)
    path = _edited(problem, tmp_path, lambda d: d["solver_state"].update(pop_f={"__array__": {
        "dtype": "float64", "shape": [len(d["solver_state"]["pop_f"]["__array__"]["data"])],
        "data": [1e300] * len(d["solver_state"]["pop_f"]["__array__"]["data"])}}))
    resumed = _solver("ea").solve(problem, resume=path)
    assert (resumed.x.tolist(), resumed.objective) == (full.x.tolist(), full.objective)


def test_huge_and_deeply_nested_checkpoints_are_refused(problem, tmp_path):
    from mpsolve.core.checkpoint import MAX_CHECKPOINT_BYTES

    deep, big = tmp_path / "deep.ckpt", tmp_path / "big.ckpt"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with big.open("wb") as fh:
        fh.truncate(MAX_CHECKPOINT_BYTES + 1)
    with pytest.raises(CheckpointError, match="unreadable"):
        _solver("ea").solve(problem, resume=deep)
    with pytest.raises(CheckpointError, match="larger than"):
        _solver("ea").solve(problem, resume=big)


def test_checkpoint_paths_are_checked_before_the_work(problem, tmp_path):
    with pytest.raises(mpsolve.SolverError, match="is a folder"):
        _solver("ea").solve(problem, checkpoint=tmp_path)
    path = tmp_path / "run.ckpt"
    _solver("ea").solve(problem, seed=1, checkpoint=path)
    with pytest.raises(mpsolve.SolverError, match="conflicts with the checkpoint's seed 1"):
        _solver("ea").solve(problem, seed=2, resume=path)


def test_a_second_writer_of_one_checkpoint_is_refused_and_a_stale_lock_taken_over(problem, tmp_path):
    path = tmp_path / "run.ckpt"
    lock = tmp_path / "run.ckpt.lock"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock.write_text(str(holder.pid))  # a live run holds the checkpoint
        with pytest.raises(CheckpointError, match=f"being written by another run \\(pid {holder.pid}\\)"):
            _solver("ea").solve(problem, seed=0, checkpoint=path)
        assert not path.exists()
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone: its lock is stale and the next run takes it over, then releases it
    result = _solver("ea").solve(problem, seed=0, checkpoint=path)
    assert result.status == "feasible" and path.exists() and not lock.exists()
    lock.write_text("")  # an empty (unreadable) lock has no live writer (os.kill(0, 0) signals our own group)
    assert _solver("ea").solve(problem, seed=0, checkpoint=path).status == "feasible" and not lock.exists()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("make", [os.mkfifo, lambda lock: lock.symlink_to("/dev/zero")], ids=["fifo", "dev_zero"])
def test_a_lock_that_is_not_a_regular_file_is_taken_over_unread(problem, tmp_path, make):
    """Before: the lock was read whole: a FIFO waited forever for a writer, a link to /dev/zero filled the memory
    (MemoryError). Neither holds a pid: like an empty lock, it has no live writer."""
    path = tmp_path / "run.ckpt"
    lock = tmp_path / "run.ckpt.lock"
    make(lock)
    assert _solver("ea").solve(problem, seed=0, checkpoint=path).status == "feasible" and not os.path.lexists(lock)


@pytest.mark.parametrize("solver", ["nsga2", "tpe"])
@pytest.mark.parametrize("rng_start", [{}, {"bit_generator": "PCG64", "state": {"state": -1, "inc": 1},
                                            "has_uint32": 0, "uinteger": 0}])
def test_a_replayed_backends_edited_start_state_is_refused(problem, tmp_path, solver, rng_start):
    path = tmp_path / "run.ckpt"
    _solver(solver).solve(problem, seed=0, checkpoint=path)
    data = json.loads(path.read_text())
    data["solver_state"]["rng_start"] = rng_start
    path.write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match=f"the {solver} checkpoint is malformed: it needs .* and rng_start "
                       r"\(a PCG64 generator state\)$"):
        _solver(solver).solve(problem, resume=path)


@pytest.mark.parametrize("name", ["nsga2", "tpe"])
def test_a_resume_stopped_while_replaying_keeps_its_checkpoint(name, problem, tmp_path):
    """A replaying backend marks no step until it is past the resumed one. Before, a time limit
    (or Ctrl-C) during the replay wrote the replay's earlier step over the file (TPE 276 trials
    became 0), and the next resume repeated the lost work and counted it."""
    full, batches = _batches(name, problem, seed=5)
    path = tmp_path / "run.ckpt"
    _solver(name).solve(problem, seed=5, checkpoint=path, callback=_InterruptAt(batches - 2))
    saved = path.read_bytes()
    # replaying the steps so far takes far longer than 1 ms (each is a TPE trial or an NSGA-II generation)
    with pytest.warns(mpsolve.MpsolveWarning, match=r"the time limit of 0.001 s ran out before the resumed run "
                      r"evaluated a new design .*: nothing was added to it; resume it with a longer time limit"):
        _solver(name).solve(problem, resume=path, time_limit=1e-3)  # before: a 'feasible' result, without a word
    assert path.read_bytes() == saved
    assert _answer(name, _solver(name).solve(problem, resume=path)) == _answer(name, full)


@pytest.mark.parametrize("name", _resumable())
def test_resuming_a_finished_run_repeats_nothing(name, problem, tmp_path):
    """Before: resuming a finished tpe run polished again, and counted it (4484, then 8868 evaluations)."""
    path = tmp_path / "run.ckpt"
    full = _solver(name).solve(problem, seed=2, checkpoint=path)
    assert _answer(name, _solver(name).solve(problem, resume=path)) == _answer(name, full)


class _FailAt(_InterruptAt):
    """A callback with a bug: it raises RuntimeError at its ``n``-th call."""

    def __call__(self, ctx: mpsolve.SolveContext) -> None:
        self.calls += 1
        if self.calls == self.n:
            raise RuntimeError("a bug in the callback")


@pytest.mark.parametrize("name", _resumable())
def test_a_run_whose_callback_fails_keeps_its_work_for_resume(name, problem, tmp_path):
    """The callback's error propagates, but the run so far is in the checkpoint (before: no file, the run lost)."""
    full, batches = _batches(name, problem, seed=9)
    path = tmp_path / "run.ckpt"
    with pytest.raises(RuntimeError, match="a bug in the callback") as info:
        _solver(name).solve(problem, seed=9, checkpoint=path, callback=_FailAt(batches // 2 + 1))
    assert path.exists() and f"the run so far is saved in {str(path)!r}" in "".join(info.value.__notes__)
    assert _answer(name, _solver(name).solve(problem, resume=path)) == _answer(name, full)


def test_a_run_interrupted_before_its_first_evaluation_returns_the_best_known_design(problem):
    """The feasibility check scored the corner designs; a Ctrl-C before the backend evaluated anything
    returns the best of them as ``interrupted`` (before: no design, though feasible ones were known)."""

    class CtrlCAtOnce(mpsolve.Solver):
        name = "ctrl-c-at-once"
        stochastic = False

        def _solve(self, ctx: mpsolve.SolveContext) -> None:
            ctx.time_up()
            raise KeyboardInterrupt

    result = CtrlCAtOnce().solve(problem)
    corners = problem.check_feasible()
    best = max(problem.evaluate(corners).objective)
    assert result.status == "interrupted" and not result.proved and result.objective == best
    assert problem.evaluate(result.x[None]).feasible[0]


def test_a_huge_value_in_a_checkpoint_is_echoed_short(tmp_path) -> None:
    """Before: a checkpoint's fingerprint, solver and options were printed whole: an error line of megabytes (found
    by the security audit)."""
    import json

    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "20G")])
    path = tmp_path / "ck.json"
    mpsolve.solve(problem, "ea", seed=0, iterations=40, checkpoint=str(path))
    saved = json.loads(path.read_text())
    for key in ("fingerprint", "solver", "solver_options"):
        path.write_text(json.dumps({**saved, key: "x" * 2_000_000}))
        with pytest.raises(mpsolve.MpsolveError, match="xxx") as info:
            mpsolve.solve(problem, "ea", resume=str(path), iterations=40)
        assert len(str(info.value)) < 1000
