"""The benchmark scripts refuse bad input before any work, in one line, never write a smoke test
over the committed results, and train a damaged cached run again (never a traceback)."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
#: damaged cache files: cut short, empty, not a run record
DAMAGED = ('{"key": "0123', "", "[]", "{}", "null")


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch):
    """Import a benchmark script by name (its folder on ``sys.path``, as when it runs)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return lambda name: importlib.import_module(name)


def refused(capsys: pytest.CaptureFixture[str], entry: Callable[[list[str]], object], argv: list[str]) -> str:
    """The one-line message a script's ``main`` or ``parse_args`` exits with on ``argv`` (argparse's or its own)."""
    with pytest.raises(SystemExit) as exc:
        entry(argv)
    assert exc.value.code != 0
    message = exc.value.code if isinstance(exc.value.code, str) else capsys.readouterr().err.strip().splitlines()[-1]
    assert "Traceback" not in message and "\n" not in message
    return message


@pytest.mark.parametrize(("name", "default"), [("designs", ""), ("proxy_correlation", ""),
                                               ("replication", "replication"), ("token_budget", "")])
def test_a_quick_run_without_out_writes_to_the_ignored_scratch_folder(script, name: str, default: str) -> None:
    mod = script(name)
    C = script("_common")
    assert mod.parse_args(["--quick"]).out == C.RESULTS / "quick" / default
    assert mod.parse_args([]).out == C.RESULTS / default
    assert mod.parse_args(["--quick", "--out", "/tmp/x"]).out == Path("/tmp/x")
    ignored = subprocess.run(["git", "check-ignore", "-q", str(C.RESULTS / "quick" / default / "report.md")],
                             cwd=ROOT)
    assert ignored.returncode == 0


def test_a_quick_token_budget_run_reads_the_committed_architecture_sample(script) -> None:
    C = script("_common")
    args = script("token_budget").parse_args(["--quick"])
    assert Path(args.architectures) == C.RESULTS / "proxy_architectures.json" and Path(args.architectures).is_file()


def test_a_corpus_that_is_not_utf8_is_refused_not_altered(script, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(("café au lait. " * 30_000).encode("latin-1"))
    C = script("_common")
    with pytest.raises(C.MpsolveError, match="is not UTF-8 text"):
        C.load_corpus(str(latin1))
    out = tmp_path / "out"
    message = refused(capsys, script("designs").main, ["--quick", "--corpus", str(latin1), "--out", str(out)])
    assert message.startswith("error: corpus file") and "convert it to UTF-8" in message and not out.exists()


@pytest.mark.parametrize(("name", "argv", "message"), [
    ("designs", ["--max-runs", "-1"], "argument --max-runs: '-1' is not an integer >= 0"),
    ("proxy_correlation", ["--workers", "0"], "argument --workers: '0' is not an integer >= 1"),
    ("proxy_correlation", ["--bootstrap", "0"], "argument --bootstrap: '0' is not an integer >= 1"),
    ("token_budget", ["--bootstrap", "-5"], "argument --bootstrap: '-5' is not an integer >= 1"),
    ("token_budget", ["--second-seed", "-1"], "argument --second-seed: '-1' is not an integer >= 0"),
    ("replication", ["--max-runs", "x"], "argument --max-runs: 'x' is not an integer >= 0"),
    ("designs", ["--seq-len", "1"], "argument --seq-len: '1' is not an integer >= 2"),
    ("designs", ["--seeds", "0,x"], "argument --seeds: 'x' is not an integer >= 0"),
    ("token_budget", ["--budgets", "abc"], "argument --budgets: bad unit in 'abc'"),
    ("token_budget", ["--budgets", "2M,nan"], "argument --budgets: 'nan' is not a finite quantity"),
    ("token_budget", ["--budgets=-4M"], "argument --budgets: '-4M' is not a finite quantity >= 1"),
    ("token_budget", ["--budgets", "1e400"], "argument --budgets: '1e400' is not a finite quantity >= 1"),
    ("proxy_correlation", ["--targets", ""], "argument --targets: give at least one quantity"),
    ("designs", ["--tokens", "0.5"], "argument --tokens: '0.5' is not a finite quantity >= 1"),
])
def test_bad_counts_are_usage_errors(script, capsys: pytest.CaptureFixture[str], name: str, argv: list[str],
                                     message: str) -> None:
    assert message in refused(capsys, script(name).parse_args, argv)


def test_zero_runs_may_be_asked_for(script) -> None:
    assert script("designs").parse_args(["--max-runs", "0"]).max_runs == 0


@pytest.mark.parametrize(("name", "argv", "message"), [
    ("cpsat_presolve", ["--cases", "-3"], "argument --cases: '-3' is not an integer >= 1"),
    ("cpsat_presolve", ["--budgets", "60G,abc"], "argument --budgets: bad unit in 'abc'"),
    ("ea", ["--seeds", "x"], "argument --seeds: 'x' is not an integer >= 0"),
    ("ea", ["--budgets", "0"], "argument --budgets: '0' is not a finite quantity >= 1"),
    ("solvers", ["--jobs", "0"], "argument --jobs: '0' is not an integer >= 1"),
    ("optimality", ["--large8-budget", "huge"], "argument --large8-budget: bad unit in 'huge'"),
    ("torch_int8", ["--seq-len", "0"], "argument --seq-len: '0' is not an integer >= 1"),
    ("exact", ["--repeats", "0"], "argument --repeats: '0' is not an integer >= 1"),
    ("exact", ["--time-limit", "-1"], "argument --time-limit: '-1' is not a finite number > 0"),
    ("exact", ["--cases", "large8"], "argument --cases: 'large8': write SPACE:NAME=VALUE[,NAME=VALUE...]"),
    ("exact", ["--cases", "large8:flops="], "argument --cases: 'large8:flops=': write SPACE:NAME=VALUE"),
    ("onnx_logits", ["--min-run-time", "nan"], "argument --min-run-time: 'nan' is not a finite number > 0"),
    ("onnx_logits", ["--rounds", "0"], "argument --rounds: '0' is not an integer >= 1"),
])
def test_bad_counts_of_the_solver_scripts_are_usage_errors(script, capsys: pytest.CaptureFixture[str], name: str,
                                                           argv: list[str], message: str) -> None:
    assert message in refused(capsys, script(name).main, argv)


def test_output_paths_are_checked_before_any_work(script, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cpsat = script("cpsat_presolve").main
    same = tmp_path / "same.md"
    message = refused(capsys, cpsat, ["--cases", "1", "--budgets", "", "--out", str(same), "--md", str(same)])
    assert message == f"error: --out and --md are the same file {str(same)!r}: give each its own file name"
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    message = refused(capsys, cpsat, ["--cases", "1", "--budgets", "", "--out", str(blocker / "cp.json")])
    assert "cannot be written" in message and not same.exists()
    for name, argv in (("ea", ["--json", str(blocker / "x.json")]),
                       ("exact", ["--cases", "small:flops=40G", "--json", str(blocker / "x.json")]),
                       ("optimality", ["--budgets", "60G", "--cpsat-limit", "1", "--skip-exhaustive",
                                       "--skip-large8", "--out", str(blocker / "opt")]),
                       ("solvers", ["--solvers", "exact", "--budgets", "60G", "--jobs", "1", "--out",
                                    str(blocker / "solvers")]),
                       ("expectation", ["--spaces", "small", "--work", "1e4", "--out", str(blocker / "folder")]),
                       ("onnx_logits", ["--models", "merino-52m", "--rounds", "1", "--min-run-time", "0.01",
                                        "--no-int8", "--md", str(blocker / "x.md")]),
                       ("torch_int8", ["--out", str(blocker / "x.json")]),
                       ("latency", ["--mape-archs", "0", "--models", "--md", str(blocker / "x.md")]),
                       ("memory", ["--designs", "1", "--seq-lens", "16", "--out", str(blocker / "memory")]),
                       ("allocator", ["--designs", "0", "--out", str(blocker / "allocator")])):
        assert f"{str(blocker)!r} is not a writable folder" in refused(capsys, script(name).main, argv), name
    for name in ("designs", "proxy_correlation", "replication", "token_budget"):
        argv = ["--quick", "--no-train", "--out", str(blocker / "out")]
        assert "is not a writable folder" in refused(capsys, script(name).main, argv), name


def test_a_missing_output_folder_is_created_and_nothing_is_lost(script, tmp_path: Path) -> None:
    out, md = tmp_path / "new" / "cp.json", tmp_path / "new" / "cp.md"
    assert script("cpsat_presolve").main(["--cases", "1", "--budgets", "", "--out", str(out), "--md", str(md)]) == 0
    assert out.stat().st_size > 0 and "random custom spaces" in md.read_text()


def test_cpsat_presolve_writes_both_files_where_one_is_sent(script, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: ``--out`` alone sent the JSON there and the Markdown over the committed results/cpsat_presolve.md
    (``--md`` alone: the JSON over the committed .json), so the committed pair described two different runs."""
    mod, C = script("cpsat_presolve"), script("_common")
    monkeypatch.setattr(C, "RESULTS", tmp_path / "committed")
    assert mod.main(["--cases", "1", "--budgets", "", "--out", str(tmp_path / "a" / "cp.json")]) == 0
    assert "random custom spaces" in (tmp_path / "a" / "cp.md").read_text()
    assert mod.main(["--cases", "1", "--budgets", "", "--md", str(tmp_path / "b" / "cp.md")]) == 0
    assert json.loads((tmp_path / "b" / "cp.json").read_text())["small_spaces"]["cases"] == 1
    assert not (tmp_path / "committed").exists()


def test_an_output_over_an_input_is_refused(script, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sample = tmp_path / "token_budget.json"
    sample.write_text("[]")
    argv = ["--quick", "--architectures", str(sample), "--out", str(tmp_path)]
    message = refused(capsys, script("token_budget").main, argv)
    assert message == (f"error: --out file token_budget.json {str(sample)!r} is --architectures: give --out file "
                       "token_budget.json its own file name")
    assert sample.read_text() == "[]"


def test_library_errors_and_missing_inputs_are_one_line(script, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    ea = script("ea").main
    assert refused(capsys, ea, ["--space", "nosuch"]).startswith("error: unknown search space 'nosuch'")
    message = refused(capsys, ea, ["--budgets", "60G,1G"])  # refused before the timing of 60G
    assert message.startswith("error: infeasible problem: flops budget 1G is below the cheapest design's")
    exact = script("exact").main
    message = refused(capsys, exact, ["--cases", "small:flops=40G", "small:params=1K"])  # before the first case
    assert message.startswith("error: infeasible problem: params budget 1K is below the cheapest design's")
    assert "unknown cost 'bogus'" in refused(capsys, exact, ["--cases", "small:bogus=1G"])
    argv = ["--architectures", str(tmp_path / "nonexistent.json"), "--out", str(tmp_path / "out")]
    message = refused(capsys, script("token_budget").main, argv)
    assert message == f"error: --architectures {str(tmp_path / 'nonexistent.json')!r} does not exist"
    argv = ["--tokens", "100", "--no-train", "--out", str(tmp_path / "out")]
    assert "less than one batch" in refused(capsys, script("designs").main, argv)  # the library's TrainConfig
    assert not (tmp_path / "out").exists()


def test_latency_budgets_and_architecture_files_are_checked_before_any_work(script, tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Before: optimality.py's latency budgets went unchecked (and its profile raised ImportError)
    after the FLOPs runs; token_budget.py raised KeyError on a record without "group"."""
    optimality = script("optimality").main
    base = ["--budgets", "60G", "--skip-exhaustive", "--skip-large8", "--out", str(tmp_path / "opt")]
    profile = str(ROOT / "benchmarks" / "results" / "latency_profile.json")
    for argv, message in (
        (["--latency-profile", profile, "--latency-budgets", "50,x"], "argument --latency-budgets: 'x' is not a "
                                                                       "finite number > 0"),
        (["--latency-budgets", "50"], "--latency-budgets and --latency-profile go together"),
        (["--latency-profile", profile], "--latency-budgets and --latency-profile go together"),
        (["--latency-profile", str(tmp_path / "none.json"), "--latency-budgets", "50"],
         f"error: latency profile {str(tmp_path / 'none.json')!r} does not exist"),
        (["--latency-profile", profile, "--latency-budgets", "0.0001"], "error: infeasible problem: latency budget"),
    ):
        assert message in refused(capsys, optimality, base + argv), argv
    assert not (tmp_path / "opt.json").exists()
    token_budget = script("token_budget").main
    for text, message in (('[{"arch": {}}]', "must be a JSON list of"), ('{"group": 0}', "must be a JSON list of"),
                          ('[{"group": 0, "arch": {"blocks": 3}}]', "blocks")):
        sample = tmp_path / "sample.json"
        sample.write_text(text)
        argv = ["--architectures", str(sample), "--no-train", "--out", str(tmp_path / "out")]
        assert message in refused(capsys, token_budget, argv), text


@pytest.fixture
def solvers_unrun(script, monkeypatch: pytest.MonkeyPatch):
    """solvers.py's ``main`` with its sweep replaced by a failure: a refusal must come before any run."""
    mod = script("solvers")
    monkeypatch.setattr(mod, "run_sweep", lambda *a, **k: pytest.fail("the sweep started"))
    return mod.main


def test_solvers_without_a_backend_is_a_usage_error(solvers_unrun, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Before: ``--solvers ''`` ran an empty sweep, wrote empty result files and raised matplotlib's ValueError."""
    for names in ("", ","):
        argv = ["--solvers", names, "--budgets", "60G", "--out", str(tmp_path / "s")]
        assert "argument --solvers: give at least one backend" in refused(capsys, solvers_unrun, argv)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("option", "message"), [
    ("ea:iterations=-3", "error: ea: iterations must be a positive integer, got -3"),
    ("ea:bogus=1", "error: bad options for solver 'ea': got an unexpected keyword argument 'bogus'"),
])
def test_solvers_checks_backend_options_before_any_run(solvers_unrun, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str], option: str,
                                                       message: str) -> None:
    """Before: a bad --option reached its backend only when its first run started, after the runs of the
    backends before it, and stopped the sweep with every finished run lost."""
    argv = ["--solvers", "exact,ea", "--budgets", "60G", "--option", option, "--out", str(tmp_path / "s")]
    assert refused(capsys, solvers_unrun, argv).startswith(message)


def test_solvers_latency_budgets_need_their_profile(solvers_unrun, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Before: --latency-budgets without --latency-profile were ignored without a word (the sweep ran FLOPs
    budgets alone), and their values were not checked as numbers by the command line."""
    base = ["--solvers", "exact", "--budgets", "60G", "--out", str(tmp_path / "s")]
    profile = str(ROOT / "benchmarks" / "results" / "latency_profile.json")
    for argv, message in (
        (["--latency-budgets", "40"], "--latency-budgets and --latency-profile go together"),
        (["--latency-profile", profile], "--latency-budgets and --latency-profile go together"),
        (["--latency-profile", profile, "--latency-budgets", "40,x"],
         "argument --latency-budgets: 'x' is not a finite number > 0"),
    ):
        assert message in refused(capsys, solvers_unrun, base + argv), argv


@pytest.mark.parametrize(("argv", "message"), [
    (["--solvers", "exact,ea,exact"], "--solvers: 'exact' is given twice"),
    (["--seeds", "0,1,0"], "--seeds: 0 is given twice"),
    (["--budgets", "60G,60000M"], "--budgets: '60000M' is given twice (as '60G')"),
])
def test_solvers_refuses_a_value_given_twice(solvers_unrun, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             argv: list[str], message: str) -> None:
    """Before: a backend, seed or budget given twice ran the same runs twice and put both in one front:
    ``--solvers exact,exact --budgets 60G`` reported a front over 2 FLOPs budgets with 2/2 points proved."""
    argv = ["--solvers", "exact", "--budgets", "60G", *argv, "--out", str(tmp_path / "s")]
    assert message in refused(capsys, solvers_unrun, argv)


def test_solvers_reports_budgets_that_no_design_meets(script, tmp_path: Path) -> None:
    """Before: when every FLOPs budget was below the cheapest design, the certified front's hypervolume was 0 and
    the report divided by it (ZeroDivisionError after solvers.json was written; no .md, no plot)."""
    out = tmp_path / "s"
    assert script("solvers").main(["--solvers", "exact", "--budgets", "1G", "--jobs", "1", "--out", str(out)]) == 0
    (front,) = json.loads(out.with_suffix(".json").read_text())["fronts"]
    assert front["hypervolume"] == 0 and front["certified"]
    assert "| exact | 1 | 0.00 | - | yes | 1/1 |" in out.with_suffix(".md").read_text()
    assert (tmp_path / "s_convergence.png").stat().st_size > 0


def test_solvers_reports_a_failed_run_as_a_failed_point(script, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: a run that failed (status 'error') was a budget proved infeasible, its backend's front certified,
    and the gap to the optimum another backend proved a TypeError after the runs. Now its point has status error,
    proves nothing, and has no gap."""
    import mpsolve

    sweep = importlib.import_module("mpsolve.workflows.sweep")  # the module: the package exports its function
    solve = sweep.solve

    def ea_fails(problem, solver, *args, **kwargs):
        if solver == "ea":
            raise mpsolve.SolverError("no luck")
        return solve(problem, solver, *args, **kwargs)

    monkeypatch.setattr(sweep, "solve", ea_fails)
    out = tmp_path / "s"
    argv = ["--solvers", "exact,ea", "--seeds", "0", "--budgets", "20G", "--jobs", "1", "--out", str(out)]
    with pytest.warns(mpsolve.MpsolveWarning, match="1 of 2 runs failed"):
        assert script("solvers").main(argv) == 0
    results = json.loads(out.with_suffix(".json").read_text())
    fronts = {f["solver"]: f for f in results["fronts"]}
    assert fronts["exact"]["certified"] and not fronts["ea"]["certified"] and fronts["ea"]["proved"] == 0
    assert [(r["status"], r["gap_to_optimum"]) for r in results["runs"]] == [("optimal", 0), ("error", None)]


@pytest.mark.parametrize("name", ["solvers", "optimality"])
def test_an_output_stem_that_names_a_folder_is_refused(script, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str], name: str) -> None:
    """Before: ``--out DIR`` or ``--out DIR/`` (the stem of solvers.py's and optimality.py's files) wrote
    DIR.json, DIR.md (and DIR_convergence.png) beside the folder, over any files of those names there."""
    mod = script(name)
    monkeypatch.setattr(mod.mpsolve, "solve", lambda *a, **k: pytest.fail("a solve started"))
    monkeypatch.setattr(mod, "run_sweep", lambda *a, **k: pytest.fail("the sweep started"), raising=False)
    folder = tmp_path / "results"
    folder.mkdir()
    for out in (str(folder), f"{folder}/", str(tmp_path / "new") + "/"):
        argv = ["--budgets", "60G", "--out", out] + (["--skip-large8", "--skip-exhaustive"] if name == "optimality"
                                                     else ["--solvers", "exact"])
        assert f"argument --out: {out!r} is a folder" in refused(capsys, mod.main, argv)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_expectation_leaves_the_library_table_rule_as_it_was(script, tmp_path: Path) -> None:
    """Before: ``--work`` set the library's ``AUTO_WORK`` and left it set, so after ``main`` every lookup table
    of the process (and the disk cache it writes under the same name) drew 8 matrices per shape, not 2048."""
    from mpsolve.objectives import _lookup

    before = _lookup.draws_for(64, 64, "auto")
    assert script("expectation").main(["--spaces", "byte-tiny", "--work", "1e4", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "expectation.json").read_text())["rows"]
    assert {r["draws"] for r in rows} == {_lookup.AUTO_MIN_DRAWS}  # the run itself used --work
    assert _lookup.draws_for(64, 64, "auto") == before == _lookup.AUTO_MAX_DRAWS


def test_expectation_refuses_a_space_given_twice(script, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: ``--spaces byte-tiny,byte-tiny`` compared every shape twice and reported 32 shapes of 16."""
    argv = ["--spaces", "byte-tiny,byte-tiny", "--work", "1e4", "--out", str(tmp_path)]
    assert "argument --spaces: 'byte-tiny' is given twice" in refused(capsys, script("expectation").main, argv)
    assert not (tmp_path / "expectation.json").exists()


def test_a_script_exits_with_the_message_alone() -> None:
    done = subprocess.run([sys.executable, str(BENCHMARKS / "ea.py"), "--space", "nosuch"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.startswith("error: unknown search space 'nosuch'")
    assert len(done.stderr.strip().splitlines()) == 1


def test_replication_runs_from_any_folder(script, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert script("replication").main(["--quick", "--no-train", "--out", str(out)]) == 0
    assert "Plan: `benchmarks/preregistration/replication.toml`" in (out / "report.md").read_text()


def test_the_shared_wrapper_passes_results_and_other_errors_through(script) -> None:
    C = script("_common")
    assert C.one_line_errors(lambda: 3)() == 3
    with pytest.raises(SystemExit, match="^error: bad$"):
        C.one_line_errors(lambda: (_ for _ in ()).throw(C.MpsolveError("bad")))()
    with pytest.raises(KeyError):
        C.one_line_errors(lambda: {}["x"])()


def test_exact_script_records_every_run_and_the_library_it_timed(script, tmp_path: Path) -> None:
    out = tmp_path / "exact.json"
    assert script("exact").main(["--cases", "small:flops=40G,params=60M", "--repeats", "2", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    (case,) = data["cases"]
    assert case["case"] == "small:flops=40G,params=60M" and len(case["runs"]) == 2
    assert all(run["status"] == "optimal" and run["gap"] == 0.0 for run in case["runs"])
    assert data["library_commit"] == data["git_commit"] and "exact.py" in data["command"]


def test_a_damaged_cached_run_is_not_a_result(script, tmp_path: Path) -> None:
    C = script("_common")
    job = C.Job({"blocks": []}, {}, 0, C.DEFAULT_CORPUS, str(tmp_path))
    for text in DAMAGED:
        job.path.write_text(text)
        assert C.cached(job) is None, text


def test_designs_reports_over_damaged_files_in_its_run_cache(script, tmp_path: Path) -> None:
    """Before: a truncated JSON in design_runs/ (or one that is no run record) raised a traceback."""
    runs = tmp_path / "design_runs"
    runs.mkdir()
    for i, text in enumerate(DAMAGED):
        (runs / f"{i:016x}.json").write_text(text)
    assert script("designs").main(["--quick", "--no-train", "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "designs.json").read_text())["other_runs"] == []


def test_a_damaged_proxy_score_cache_is_recomputed(script, tmp_path: Path) -> None:
    C, P = script("_common"), script("proxy_correlation")
    arch = P.select_architectures([300e6], 1, 0.1, 0)[0]["arch"]
    corpus = C.load_corpus(C.DEFAULT_CORPUS)
    cache = tmp_path / "proxy_scores.json"
    cache.write_text('{"abc": {"ntk": 1.0, "d')
    scores = P.torch_proxies([arch], corpus, cache)
    assert set(scores) == {"ntk", "dss"} and len(json.loads(cache.read_text())) == 1


@pytest.mark.parametrize("plan", ["", "[sample]\ntargets = [1e8]\n", "sample = 3\n"])
def test_an_incomplete_plan_is_refused_in_one_line(script, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   plan: str) -> None:
    """Before: a --plan without [training] (or any other registered key) raised KeyError."""
    path = tmp_path / "plan.toml"
    path.write_text(plan)
    message = refused(capsys, script("replication").main, ["--plan", str(path), "--no-train",
                                                            "--out", str(tmp_path / "out")])
    assert message.startswith(f"error: --plan {str(path)!r} lacks ") and "replication.toml" in message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("argv", "message"), [
    (["--space", "nosuch"], "argument --space: unknown search space 'nosuch'"),
    (["--seed", "-1"], "argument --seed: '-1' is not an integer >= 0"),
    (["--mape-archs", "-3"], "argument --mape-archs: '-3' is not an integer >= 0"),
    (["--calibrate", "-1"], "argument --calibrate: '-1' is not an integer >= 0"),
    (["--min-run-time", "0"], "argument --min-run-time: '0' is not a finite number > 0"),
    (["--profile-run-time", "nan"], "argument --profile-run-time: 'nan' is not a finite number > 0"),
    (["--mape-run-time", "-1"], "argument --mape-run-time: '-1' is not a finite number > 0"),
    (["--jobs", "0"], "argument --jobs: '0' is not an integer >= 1"),
    (["--jobs", "2", "--runtimes", "torch"], "--jobs exports ONNX Runtime's graphs: give --runtimes with onnxruntime"),
])
def test_latency_options_used_late_are_checked_first(script, capsys: pytest.CaptureFixture[str], argv: list[str],
                                                     message: str) -> None:
    """Before: these reached the latency-cost check (or a worker) only after part 1's timings."""
    assert message in refused(capsys, script("latency").parse_args, argv)


def test_a_run_planned_twice_is_trained_once(script, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: a second seed drawn twice for one member (``--second-seed`` above the group size) planned
    the same run twice, trained at once by two workers and counted twice against ``--max-runs``."""
    C = script("_common")
    corpus = tmp_path / "text.txt"
    corpus.write_text("a few words of text. " * 20000, encoding="utf-8")  # 420 KB: the benchmarks take it
    arch = {"blocks": [{"embed_dim": 64, "ffn_ratio": 1.0, "layers": 1}], "vocab_size": 256}
    one, other = (C.Job(arch, {"tokens": 1000}, seed, str(corpus), str(tmp_path / "runs")) for seed in (0, 1))
    given: list[list] = []
    monkeypatch.setattr(C, "run_jobs", lambda jobs, **_: given.append(jobs) or [])
    C.run_planned([one, other, one], no_train=False, max_runs=3, workers=2, desc="runs")
    assert given == [[one, other]]


def _spawned_workers(group: int) -> list[int]:
    """The processes of process group ``group`` that are multiprocessing's spawned workers (Linux's /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.getpgid(int(entry.name)) == group and (
                    b"spawn_main" in (entry / "cmdline").read_bytes()):
                found.append(int(entry.name))
        except OSError:  # ended meanwhile
            pass
    return found


def _ignores_ctrl_c(pid: int) -> bool:
    """Whether process ``pid`` ignores SIGINT now (its ``SigIgn`` mask in Linux's /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return bool(int(status.split("SigIgn:")[1].split()[0], 16) >> (signal.SIGINT - 1) & 1)


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the workers in Linux's /proc")
@pytest.mark.parametrize("stop", ["ctrl-c", "worker killed"])
def test_a_stopped_training_pool_ends_in_one_line_and_leaves_no_worker(tmp_path: Path, stop: str) -> None:
    """Once the training pool's workers exist: Ctrl-C (SIGINT to the process group, as a terminal sends it), or one
    worker killed (as the out-of-memory killer does). Before: with Ctrl-C the workers, importing, printed
    KeyboardInterrupt tracebacks (or "Fatal Python error"); a killed worker was a BrokenProcessPool traceback."""
    cli = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
           "sys.argv[0] = 'proxy_correlation.py'; runpy.run_path(sys.argv[0], run_name='__main__')")
    # runs long enough (minutes) that one cached after the stop shows a worker that was not ended
    argv = [sys.executable, "-c", cli, "--quick", "--workers", "2", "--tokens", "4M", "--out", str(tmp_path)]
    proc = subprocess.Popen(argv, cwd=BENCHMARKS, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        # both workers started, and the parent past the start, where it ignores a Ctrl-C (a user presses again)
        while len(_spawned_workers(proc.pid)) < 2 or _ignores_ctrl_c(proc.pid):
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the training workers did not start in 300 s"
            time.sleep(0.05)
        if stop == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(_spawned_workers(proc.pid)[0], signal.SIGKILL)
        stderr = proc.communicate(timeout=120)[1]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "Traceback" not in stderr and "Fatal" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    if stop == "ctrl-c":
        assert proc.returncode == 130 and last.startswith("interrupted (Ctrl-C): no report written"), stderr
    else:
        assert proc.returncode == 1 and last == (
            "error: a training process died (killed, or out of memory) after 0 of 4 runs: the finished ones are "
            "cached; run the same command to go on (with fewer --workers if memory ran out)"), stderr
    assert not list((tmp_path / "proxy_runs").glob("*.json"))  # the runs under way were ended, not finished
    deadline = time.monotonic() + 60
    while _spawned_workers(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _spawned_workers(proc.pid), "training workers outlived the stopped run"


def test_solvers_py_keeps_the_finished_runs_on_ctrl_c(script, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Before: Ctrl-C lost every finished run (the files were written only at the end of the sweep)."""
    solvers = script("solvers")
    real = solvers.run_sweep

    def ctrl_c_after_three(tasks, executor):
        rows = real(tasks[:3], executor)
        raise solvers.SweepInterrupted(rows, len(tasks))

    monkeypatch.setattr(solvers, "run_sweep", ctrl_c_after_three)
    out = tmp_path / "run"
    argv = ["--space", "small", "--budgets", "10G,20G", "--solvers", "exact,ea", "--seeds", "0", "--jobs", "1",
            "--out", str(out)]
    assert solvers.main(argv) == 130
    assert "interrupted: 3 of 4 runs finished (Ctrl-C)" in capsys.readouterr().err
    written = json.loads(out.with_suffix(".json").read_text())
    assert written["interrupted"] == "3 of 4 runs finished (Ctrl-C)" and len(written["runs"]) == 3
    assert [(f["solver"], f["budgets"]) for f in written["fronts"]] == [("exact", [10e9, 20e9])]  # ea's: one budget
    assert out.with_suffix(".md").read_text().count("**Interrupted**: 3 of 4 runs") == 1


def test_optimality_py_stops_on_ctrl_c_and_keeps_the_finished_runs(script, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Before: a solver answered Ctrl-C with an ``interrupted`` result and the benchmark went on to the next
    solve (a 20-minute run needed a Ctrl-C per solve), and one that stopped it lost every finished run."""
    import dataclasses

    import mpsolve

    real, calls = mpsolve.solve, []

    def ctrl_c_in_the_third(*args, **kwargs):
        calls.append(args[1])
        result = real(*args, **kwargs)
        return dataclasses.replace(result, status="interrupted") if len(calls) == 3 else result

    monkeypatch.setattr(mpsolve, "solve", ctrl_c_in_the_third)
    out = tmp_path / "opt"
    argv = ["--budgets", "60G,110G", "--cpsat-limit", "1", "--skip-exhaustive", "--skip-large8", "--out", str(out)]
    assert script("optimality").main(argv) == 130
    assert calls == ["exact", "cpsat", "ea"] and "interrupted" in capsys.readouterr().err
    written = json.loads(out.with_suffix(".json").read_text())
    assert [r["solver"] for r in written["default"]["60G"]] == ["exact", "cpsat"] and "interrupted" in written
    assert "**Interrupted**" in out.with_suffix(".md").read_text()


@pytest.mark.parametrize(("name", "argv"), [
    ("exact", ["--cases", "small:flops=40G", "--repeats", "2"]),
    ("ea", ["--space", "small", "--budgets", "20G", "--seeds", "0,1"]),
])
def test_a_solve_cut_by_ctrl_c_stops_the_script_instead_of_being_timed(script, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       capsys: pytest.CaptureFixture[str],
                                                                       name: str, argv: list[str]) -> None:
    """Before: a solver answered Ctrl-C with an ``interrupted`` result, which the script timed as a run (exact.py's
    median, ea.py's seconds and objective) and went on."""
    import dataclasses

    import mpsolve

    real, calls = mpsolve.solve, []

    def ctrl_c_in_the_first(*args, **kwargs):
        calls.append(args[1])
        return dataclasses.replace(real(*args, **kwargs), status="interrupted")

    monkeypatch.setattr(mpsolve, "solve", ctrl_c_in_the_first)
    out = tmp_path / "run.json"
    with pytest.raises(SystemExit) as exc:
        script(name).main([*argv, "--json", str(out)])
    assert exc.value.code == 130 and len(calls) == 1 and not out.exists()
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("interrupted (Ctrl-C): no report written")


def test_memory_reports_each_design_and_refuses_lengths_beyond_the_space(script, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    memory = script("memory")
    out = tmp_path / "m"
    # one design, two lengths, two repeats: four fresh processes (two designs took 37 s of the suite)
    assert memory.main(["--space", "small", "--designs", "1", "--seq-lens", "16,32", "--repeats", "2", "--out",
                        str(out), "--mmap-threshold", "131072"]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["complete"] and len(report["rows"]) == 2 and [e["seq_len"] for e in report["summary"]] == [16, 32]
    assert report["mmap_threshold"] == 131072
    assert "mmap threshold fixed at 131072 B" in out.with_suffix(".md").read_text()
    for row in report["rows"]:
        assert len(row["runs"]) == 2 and row["ratio"] == pytest.approx(row["peak"] / row["predicted"])
        assert 0.5 < row["ratio"] < 2  # the weights alone are within 2 % of 4 bytes a parameter
    assert "| 16 |" in out.with_suffix(".md").read_text()
    message = refused(capsys, memory.main, ["--space", "small", "--seq-lens", "4096", "--out", str(tmp_path / "x")])
    assert "up to the space's max_positions" in message
    message = refused(capsys, memory.main, ["--opset", "23", "--out", str(tmp_path / "x")])
    assert "--opset is the exported graphs': give it with --runtime onnxruntime" in message
    message = refused(capsys, memory.main, ["--padded", "--runtime", "onnxruntime", "--out", str(tmp_path / "x")])
    assert "--padded needs an attention mask, which the exported graph does not take" in message
    tiny = tmp_path / "tiny.toml"  # a graph that exports in seconds
    tiny.write_text("num_blocks = 1\nembed_dims = [64]\nffn_ratios = [1.0]\nlayers = [1]\nvocab_size = 256\n"
                    "embed_proj_dim = 64\nmax_positions = 32\n")
    assert memory.main(["--space", str(tiny), "--designs", "1", "--seq-lens", "16", "--repeats", "1", "--out",
                        str(tmp_path / "ort"), "--runtime", "onnxruntime", "--opset", "23"]) == 0
    report = json.loads((tmp_path / "ort.json").read_text())
    assert report["complete"] and (report["runtime"], report["opset"]) == ("onnxruntime", 23)
    assert report["rows"][0]["peak"] > report["rows"][0]["weights"] > 0 and "opset" not in report["rows"][0]["runs"][0]
    assert report["rows"][0]["runs"][0]["load_peak"] > 0
    assert "ONNX Runtime, the design's KV-cache graph exported at opset 23" in (tmp_path / "ort.md").read_text()
    assert not list(tmp_path.glob("x*"))


def test_allocator_refuses_bad_phases_and_lengths(script, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    allocator = script("allocator")
    for phases in ("train", "prefill,prefill", ""):
        message = refused(capsys, allocator.main, ["--phases", phases, "--out", str(tmp_path / "a")])
        assert "--phases must be prefill, decode or both" in message
    message = refused(capsys, allocator.main, ["--designs", "0", "--seq-len", "2048", "--out", str(tmp_path / "a")])
    assert "--seq-len 2048 is beyond a design's max_positions" in message  # decode adds one position
    # before: glibc ignored the environment's threshold without a word, and "fixed" timed the dynamic one
    message = refused(capsys, allocator.main, ["--threshold", str(2**25 + 1), "--out", str(tmp_path / "a")])
    assert "--threshold 33554433 is above the largest mmap threshold glibc documents, 33554432" in message
    assert not list(tmp_path.iterdir())


def test_allocator_summary_leaves_out_a_design_interrupted_between_its_settings(script) -> None:
    """Before: a design timed with one setting only (Ctrl-C between the two) gave a NaN ratio (the median of no
    timings), and the phase's median, interval and range in the interrupted run's report were all NaN."""
    allocator = script("allocator")
    rows = [{"design": d, "phase": "prefill", "setting": s, "round": 0, "ms": ms, "noisy": False}
            for d, s, ms in (("a", "default", 10.0), ("a", "fixed", 12.0), ("b", "default", 10.0))]
    (entry,) = allocator.summary(rows, seed=0)
    assert entry["designs"] == 1 and entry["ratios"] == [pytest.approx(1.2)]
    assert entry["median"] == entry["min"] == entry["max"] == pytest.approx(1.2)
    assert allocator.summary(rows[2:], seed=0) == []  # no design with both settings: no phase entry


def test_a_run_interrupted_before_its_first_row_says_nothing_was_written(
    script, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: "the designs measured so far are written" when none were, and nothing was."""
    memory = script("memory")

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(memory, "measure", interrupted)
    assert memory.main(["--space", "small", "--designs", "1", "--seq-lens", "16", "--out", str(tmp_path / "m")]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == ("interrupted (Ctrl-C) before any designs were "
                                                                 "measured: no report written")
    assert not list(tmp_path.iterdir())


def test_memory_padded_judges_the_registered_expectations_on_two_runs(script, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The pre-registered analysis on synthetic runs of two designs, one whose attention working set with SDPA's
    copy of the mask is its largest (the copy counted) and one whose FFN stays the largest (the mask alone)."""
    from mpsolve.costs import MemoryCost
    from mpsolve.spaces import Architecture, Block

    analysis = script("memory_padded")
    narrow = Architecture(blocks=(Block(64, 1.0, 1),), vocab_size=256, embed_proj_dim=64, max_positions=2048)
    wide = Architecture(blocks=(Block(1024, 4.0, 1),), vocab_size=256, embed_proj_dim=64, max_positions=2048)

    def run(padded: bool) -> dict:
        rows = []
        for n in (1024, 2048):
            for arch in (narrow, wide):
                predicted = MemoryCost(seq_len=n, batch_size=2, padded=padded).of(arch)
                peak = 1.01 * predicted  # measured as counted, and 1 % of slack
                rows.append({"arch": arch.to_dict(), "arch_str": str(arch), "seq_len": n, "predicted": predicted,
                             "peak": peak, "ratio": peak / predicted})
        return {"runtime": "torch", "padded": padded, "batch_size": 2, "rows": rows, "command": "memory.py",
                "git_commit": "abc", "machine": "here", "note": "", "designs": 2, "space": "s", "seed": 46,
                "mmap_threshold": 131072}

    for padded in (True, False):
        (tmp_path / f"{padded}.json").write_text(json.dumps(run(padded)))
    argv = ["--padded", str(tmp_path / "True.json"), "--unpadded", str(tmp_path / "False.json")]
    assert analysis.main([*argv, "--out", str(tmp_path / "a")]) == 0
    result = json.loads((tmp_path / "a.json").read_text())
    for e in result["lengths"]:
        assert e["copy_counted"] == 1 and e["ratio"]["median"] == pytest.approx(1.01)
        assert e["added_over_cost"]["median"] == pytest.approx(1.01) and e["added_over_mask"]["median"] > 1.5
        assert [r["copy_counted"] for r in e["rows"]] == [True, False]
    assert result["expectations"] == {"P1": True, "P2": True} and "P2 (" in (tmp_path / "a.md").read_text()
    swapped = ["--padded", str(tmp_path / "False.json"), "--unpadded", str(tmp_path / "True.json")]
    message = refused(capsys, analysis.main, [*swapped, "--out", str(tmp_path / "b")])
    assert "must be torch memory.py runs, with and without --padded" in message


def test_memory_onnx_judges_the_registered_expectations_on_two_runs(script, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The pre-registered analysis on two synthetic runs of one design: paired quotient, k and O1-O3."""
    from mpsolve.costs import MemoryCost, ParamsCost
    from mpsolve.spaces import Architecture, Block

    analysis = script("memory_onnx")
    arch = Architecture(blocks=(Block(128, 1.0, 1),), vocab_size=256, embed_proj_dim=128, max_positions=2048)
    weights, table = 4 * ParamsCost().of(arch), 4 * 256 * 128

    def run(opset: int, k: float) -> dict:
        rows = []
        for n in (128, 1024, 2048):
            predicted = MemoryCost(seq_len=n).of(arch)
            peak = predicted + table + k * 4 * 2 * n * n  # two heads of 64
            rows.append({"arch": arch.to_dict(), "arch_str": str(arch), "seq_len": n, "predicted": predicted,
                         "predicted_weights": weights, "peak": peak, "weights": weights + table,
                         "ratio": peak / predicted, "beyond_weights_ratio": (peak - weights - table) /
                         (predicted - weights), "runs": [{"load_peak": 2 * weights}]})
        return {"runtime": "onnxruntime", "opset": opset, "rows": rows, "command": f"memory.py --opset {opset}",
                "git_commit": "abc", "machine": "here", "note": "", "designs": 1, "space": "s", "seed": 44}

    for opset, k in ((18, 5.5), (23, 1.5)):
        (tmp_path / f"op{opset}.json").write_text(json.dumps(run(opset, k)))
    argv = ["--first", str(tmp_path / "op18.json"), "--second", str(tmp_path / "op23.json")]
    assert analysis.main([*argv, "--out", str(tmp_path / "a")]) == 0
    result = json.loads((tmp_path / "a.json").read_text())
    assert [e["k"]["median"] for e in result["runs"]["opset 18"]] == pytest.approx([5.5] * 3)
    paired = {e["seq_len"]: e for e in result["paired"]}
    assert paired[2048]["second_lower"] == 1 and paired[2048]["beyond_weights_second_over_first"]["median"] < 0.6
    assert result["expectations"]["O2"] and "O2 (" in (tmp_path / "a.md").read_text()
    message = refused(capsys, analysis.main, [*argv, "--out", str(tmp_path / "op18")])  # its own input
    assert "op18" in message and not (tmp_path / "op18.md").exists()


def test_onnx_lean_measures_pairs_resumes_and_refuses_another_runs_settings(script, tmp_path: Path, monkeypatch,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The script's plumbing, on stand-ins for the measurements (design_memory's and design_latency's lean graphs are
    measured in tests/merino_model/test_memory.py and test_onnx.py): each workload timed default, lean, lean,
    default on the graphs measured for memory; a run resumed; another run's settings refused."""
    from mpsolve import merino_model
    from mpsolve.merino_model import _profile

    lean = script("onnx_lean")
    calls = []

    def memory(arch, seq_len, *, runtime, lean, graph_dir, seed):
        calls.append(("memory", lean))
        table = 4 * arch.vocab_size * arch.embed_proj_dim
        return {"weights": 1000 + (0 if lean else table), "peak": 2000 + (0 if lean else table), "lean": lean}

    def graph(arch, seed, logits, folder, external_data, lean):
        assert (logits, external_data) == ("last", False)  # the one file design_memory measures
        return folder / ("lean.onnx" if lean else "default.onnx")

    def latency(path, tokens, threads, *, phase, min_run_time, seed):
        calls.append((phase, tokens, Path(path).name))
        return {"ms": 2.0 if "lean" in Path(path).name else 1.0, "iqr_ms": 0.0, "blocks": 5, "noisy": False}

    monkeypatch.setattr(merino_model, "design_memory", memory)
    monkeypatch.setattr(merino_model, "model_latency", latency)
    monkeypatch.setattr(_profile, "design_graph", graph)
    out = tmp_path / "lean"
    argv = ["--space", "small", "--designs", "2", "--memory-seq-len", "64", "--out", str(out)]
    assert lean.main(argv) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["complete"] and len(report["rows"]) == 2
    assert calls[:3] == [("memory", False), ("memory", True), ("prefill", 128, "default.onnx")]
    timed = [name for *_, name in calls[2:14]]
    assert timed == ["default.onnx", "lean.onnx", "lean.onnx", "default.onnx"] * 3
    summary = report["summary"]
    assert summary["weights_saved_over_table"]["median"] == 1.0 and summary["decode_128_lean_over_default"]["max"] == 2
    text = out.with_suffix(".md").read_text()
    assert "- E1 (weights saved / table" in text and "- E4 (decode 128" in text and "**not met**" in text
    message = refused(capsys, lean.main, argv)
    assert "holds a run: give --resume to go on from it, or another --out" in message
    calls.clear()
    assert lean.main([*argv, "--resume"]) == 0 and calls == []  # nothing left to measure: the report again
    assert json.loads(out.with_suffix(".json").read_text())["rows"] == report["rows"]
    message = refused(capsys, lean.main, [*argv, "--resume", "--memory-seq-len", "32"])
    assert "differs in memory_seq_len: resume it with its own settings" in message
    message = refused(capsys, lean.main, ["--space", "byte-tiny", "--out", str(tmp_path / "x")])
    assert "the workloads need 1024 positions, more than the space's max_positions 512" in message
    assert not list(tmp_path.glob("x*"))
