import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import mpsolve
from mpsolve.cli import main
from mpsolve.costs import DecodeFlopsCost, FlopsCost, ParamsCost
from mpsolve.spaces import Architecture, get_architecture


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_design_json_has_the_documented_keys(capsys):
    code, out, _ = run(capsys, "design", "--budget", "flops=12G", "--space", "small", "--json", "--seed", "1",
                       "--option", "iterations=2000")
    assert code == 0
    obj = json.loads(out)  # exactly one JSON object
    assert {"status", "objective", "solver", "wall_time_s", "costs", "architecture"} <= set(obj)
    assert obj["costs"]["flops"] <= 12e9 and obj["solver"] == "ea" and obj["status"] == "feasible"
    arch = obj["architecture"]
    assert {"blocks", "vocab_size", "embed_proj_dim", "max_positions", "shared"} <= set(arch)
    assert set(arch["blocks"][0]) == {"embed_dim", "ffn_ratio", "layers"}


def test_design_table_output(capsys):
    code, out, _ = run(capsys, "design", "--budget", "flops=12G", "--budget", "params=60M", "--space", "small",
                       "--option", "iterations=500")
    assert code == 0 and "status     feasible" in out and "embed_dim" in out


def test_design_says_each_effectiveness_constraints_own_rho(tmp_path, capsys):
    """Before: only the entropy's rho (its beta 1/4) was printed, above the limit the design met with the
    constraint's beta (1/16): the result looked like a broken constraint."""
    from mpsolve.objectives import effectiveness

    problem = tmp_path / "p.toml"
    problem.write_text('[space]\npreset = "small"\n[budgets]\nflops = "10G"\n[constraints]\n'
                       'effectiveness = { rho_max = 0.12, parts = "ffn" }\n[solver]\nname = "exact"\n')
    code, out, _ = run(capsys, "design", "--problem", str(problem))
    [line] = [x for x in out.splitlines() if x.startswith("effectiveness ")]
    blocks = [b for b in out.split("block  embed_dim")[1].splitlines()[1:] if b.split()[0].isdigit()]
    layers, ffn = (np.array([[int(b.split()[c]) for b in blocks]]) for c in (4, 3))
    assert code == 0 and float(line.split()[2]) == pytest.approx(effectiveness(layers, ffn, 1 / 16)[0], rel=1e-5)
    assert line.endswith("<= 0.12 (the constraint's beta 0.0625)") and "rho_mhsa" not in line
    assert float(line.split()[2]) <= 0.12 < max(float(x.split()[1]) for x in out.splitlines() if "  rho_" in x)


def test_design_from_space_file(tmp_path, capsys):
    f = tmp_path / "tiny.toml"
    f.write_text('[space]\npreset = "small"\nnum_blocks = 2\nlayers = [1, 2]\n')
    code, out, _ = run(capsys, "design", "--budget", "flops=20G", "--space", str(f), "--json")
    assert code == 0 and len(json.loads(out)["architecture"]["blocks"]) == 2


@pytest.mark.parametrize(
    "argv, message",
    [
        (["design", "--budget", "flops=160X"], "bad unit"),
        (["design", "--budget", "flops"], "NAME=VALUE"),
        (["design", "--budget", "flops=1G"], "cheapest design's"),
        (["design", "--budget", "flops=160G", "--solver", "nope"], "known solvers"),
        (["design", "--budget", "flops=160G", "--space", "nope"], "known spaces"),
        (["design", "--budget", "latency_ms=50"], "--latency-profile"),
        (["design", "--budget", "decode_ms=5"], "--decode-profile device.json (make one with `mpsolve profile-latency"),
        (["pareto", "--over", "decode_ms", "--budgets", "5,10"], "--decode-profile"),
        (["cost", "nope"], "neither an architecture preset"),
        (["design"], "at least one budget"),
    ],
)
def test_errors_are_one_line_without_traceback(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_decode_budget_and_decode_pareto_front(tmp_path, capsys):
    from mpsolve.costs import DecodeLatencyCost
    from mpsolve.testing.pytest_solvers import synthetic_profile

    prefill, decode = tmp_path / "prefill.json", tmp_path / "decode.json"
    prefill.write_text(json.dumps(synthetic_profile("small", "prefill")))
    decode.write_text(json.dumps(synthetic_profile("small", "decode")))
    code, out, _ = run(capsys, "design", "--space", "small", "--solver", "cpsat", "--budget", "decode_ms=85",
                       "--budget", "latency_ms=1000", "--latency-profile", str(prefill), "--decode-profile",
                       str(decode), "--json")
    result = json.loads(out)
    assert code == 0 and result["costs"]["decode"] <= 85 and result["costs"]["latency"] <= 1000
    code, _, err = run(capsys, "design", "--budget", "decode_ms=85", "--decode-profile", str(prefill))
    assert code == 2 and "needs a decode profile" in err
    code, out, err = run(capsys, "pareto", "--space", "small", "--over", "decode_ms", "--budgets", "80,90,100",
                         "--decode-profile", str(decode), "--latency-profile", str(prefill), "--json")
    front = json.loads(out)
    assert code == 0 and front["over"] == "decode"
    assert err.strip() == "note: --latency-profile is unused unless --over latency_ms"  # was silently ignored
    costs = [p["cost"] for p in front["points"]]
    assert all(c <= b for c, b in zip(costs, (80, 90, 100))) and costs == sorted(costs)
    first = Architecture.from_dict(front["points"][0]["architecture"])
    assert DecodeLatencyCost(str(decode)).of(first) == pytest.approx(costs[0])


def test_bad_json_and_non_monotone_widths(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = run(capsys, "score", str(bad))
    assert code == 2 and "cannot read architecture JSON" in err
    arch = get_architecture("merino-52m").to_dict()
    arch["blocks"].reverse()
    f = tmp_path / "rev.json"
    f.write_text(json.dumps(arch))
    code, _, err = run(capsys, "cost", str(f))
    assert code == 2 and "non-decreasing" in err


def test_cost_and_score(tmp_path, capsys):
    code, out, _ = run(capsys, "cost", "merino-64m", "--json", "--seq-len", "128", "--include-lm-head")
    arch = get_architecture("merino-64m")
    obj = json.loads(out)
    assert obj["costs"]["params"] == ParamsCost().of(arch)
    assert obj["costs"]["flops"] == FlopsCost(128, True).of(arch)
    assert obj["costs"]["decode_flops"] == DecodeFlopsCost(128).of(arch)
    code, out, _ = run(capsys, "cost", "merino-64m", "--seq-len", "128")
    assert code == 0 and "decode_flops 201.6M per generated token (128 cached positions, lm head in)" in out
    code, out, _ = run(capsys, "cost", "merino-52m", "--breakdown", "--graphml", str(tmp_path / "g.graphml"))
    assert code == 0 and "block0.layer0.qkv" in out and (tmp_path / "g.graphml").exists()
    # a single unshared block describes a plain uniform transformer
    plain = {"blocks": [{"embed_dim": 768, "ffn_ratio": 4, "layers": 12}], "shared": False}
    (tmp_path / "gpt.json").write_text(json.dumps(plain))
    code, out, _ = run(capsys, "score", str(tmp_path / "gpt.json"), "--json")
    obj = json.loads(out)
    assert code == 0 and {"entropy", "entropy_mhsa", "entropy_ffn", "rho_mhsa", "rho_ffn"} <= set(obj)


def test_cost_of_its_own_json_counts_the_recorded_workload(capsys, tmp_path):
    """Before: cost of a 'cost --json --seq-len 128 --include-lm-head' output counted 1024 positions, head out."""
    code, out, _ = run(capsys, "cost", "merino-64m", "--json", "--seq-len", "128", "--include-lm-head")
    (tmp_path / "c.json").write_text(out)
    code, again, _ = run(capsys, "cost", str(tmp_path / "c.json"), "--json")
    assert code == 0 and json.loads(again) == json.loads(out)
    code, other, _ = run(capsys, "cost", str(tmp_path / "c.json"), "--json", "--seq-len", "64", "--no-include-lm-head")
    arch = get_architecture("merino-64m")
    assert json.loads(other)["costs"]["flops"] == FlopsCost(64, False).of(arch)  # the flags win
    (tmp_path / "bad.json").write_text(out.replace('"include_lm_head": true', '"include_lm_head": "yes"'))
    code, _, err = run(capsys, "cost", str(tmp_path / "bad.json"))
    assert code == 2 and "include_lm_head must be true or false, got 'yes'" in err


def test_score_of_a_result_uses_the_entropy_it_was_solved_with(capsys, tmp_path):
    problem = tmp_path / "p.toml"
    problem.write_text('[space]\npreset = "small"\n[objective]\nname = "entropy"\npenalty = "exp"\nvariant = "log"\n'
                       'eps = 1e-6\n[[budget]]\ncost = "flops"\nlimit = "20G"\n[solver]\nname = "exact"\n')
    code, out, _ = run(capsys, "design", "--problem", str(problem), "--json")
    assert code == 0
    (tmp_path / "r.json").write_text(out)
    code, out, err = run(capsys, "score", str(tmp_path / "r.json"), "--json")
    scored = json.loads(out)  # before: the default entropy, 16267.8 against the result's 12695.5
    assert code == 0 and err == "" and scored["entropy"] == pytest.approx(json.loads((tmp_path / "r.json").read_text())[
        "objective"], rel=1e-12) and scored["objective"]["penalty"] == "exp"
    (tmp_path / "s.json").write_text(out)  # score's own output names the options it scored with
    code, out, err = run(capsys, "score", str(tmp_path / "s.json"), "--json")
    assert code == 0 and err == "" and json.loads(out) == scored  # before: the default entropy, without a word
    code, out, _ = run(capsys, "design", "--space", "small", "--budget", "flops=20G", "--objective", "params",
                       "--solver", "exact", "--json")
    (tmp_path / "params.json").write_text(out)
    code, out, err = run(capsys, "score", str(tmp_path / "params.json"), "--json")
    assert code == 0 and json.loads(out)["objective"]["penalty"] == "linear"
    assert "was designed for the params objective; scored here with the default entropy" in err


def test_cost_of_a_result_notes_a_budget_on_another_workload(capsys, tmp_path):
    """Before: the result said flops 12G and cost said 28.19G, with nothing to tie the two."""
    problem = tmp_path / "p.toml"
    problem.write_text('space = "small"\n[[budget]]\ncost = "flops"\nlimit = "12G"\nseq_len = 128\n'
                       'include_lm_head = true\n[solver]\nname = "exact"\n')
    (tmp_path / "r.json").write_text(run(capsys, "design", "--problem", str(problem), "--json")[1])
    code, out, err = run(capsys, "cost", str(tmp_path / "r.json"), "--json")
    assert code == 0 and "budgets flops with seq_len=128, include_lm_head=True; shown here with seq_len=1024, " \
                         "include_lm_head=False" in err
    code, out, err = run(capsys, "cost", str(tmp_path / "r.json"), "--seq-len", "128", "--include-lm-head", "--json")
    result = json.loads((tmp_path / "r.json").read_text())
    assert code == 0 and err == "" and json.loads(out)["costs"]["flops"] == result["costs"]["flops"]


def test_cost_beyond_max_positions_is_noted(capsys):
    limit = get_architecture("merino-52m").max_positions
    code, out, err = run(capsys, "cost", "merino-52m", "--seq-len", str(limit + 1), "--json")
    assert code == 0 and json.loads(out)["seq_len"] == limit + 1
    assert f"exceeds the architecture's max_positions {limit}: the model cannot run that workload, so flops and " \
           "decode_flops count" in err
    err = run(capsys, "cost", "merino-52m", "--seq-len", str(limit))[2]  # the generated token needs one more
    assert f"max_positions {limit} less the decoded token: the model cannot run that workload, so decode_flops " in err
    assert run(capsys, "cost", "merino-52m", "--seq-len", str(limit - 1))[2] == ""


def test_a_budget_beyond_max_positions_is_one_warning_line(tmp_path, capsys):
    f = tmp_path / "long.toml"
    f.write_text('space = "small"\nsolver = "exhaustive"\n[budgets]\nflops = { limit = "1T", seq_len = 4096 }\n')
    code, out, err = run(capsys, "design", "--problem", str(f), "--json")
    assert code == 0 and json.loads(out)["status"] == "optimal"
    assert err.splitlines() == ["mpsolve: warning: the flops budget counts a workload of 4096 token positions, "
                                "beyond the space's max_positions 2048: its models cannot run it; lower the cost's "
                                "seq_len or raise max_positions"]


def test_a_warning_is_one_line_once_and_an_error_when_warnings_are_errors(tmp_path, capfd):
    f = tmp_path / "long.toml"
    f.write_text('space = "small"\n[budgets]\nflops = { limit = "1T", seq_len = 4096 }\n')
    # the file's problem and the swept one both warn: one line (was two, and more from process workers)
    code = main(["sweep", "--problem", str(f), "--over", "params", "--budgets", "43M", "--option",
                 "ea.iterations=30", "--executor", "process:2"])
    err = capfd.readouterr().err  # the workers' output too
    assert code == 0 and [line for line in err.splitlines() if "Warning" in line or "warning" in line] == [
        "mpsolve: warning: the flops budget counts a workload of 4096 token positions, beyond the space's "
        "max_positions 2048: its models cannot run it; lower the cost's seq_len or raise max_positions"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PYTHONWARNINGS=error: was a traceback
        code = main(["design", "--problem", str(f), "--option", "iterations=30"])
    err = capfd.readouterr().err
    assert code == 2 and err.startswith("mpsolve: error: the flops budget counts a workload of 4096") and \
        err.count("\n") == 1


def test_outputs_in_missing_folders_are_made(tmp_path, capsys):
    graphml, checkpoint = tmp_path / "a/b/g.graphml", tmp_path / "c/d/run.ckpt"
    csv, plot = tmp_path / "e/f/front.csv", tmp_path / "g/h/front.svg"
    assert run(capsys, "cost", "merino-52m", "--graphml", str(graphml))[0] == 0
    assert run(capsys, "design", "--space", "byte-tiny", "--budget", "params=2M", "--option", "iterations=30",
               "--checkpoint", str(checkpoint))[0] == 0
    assert run(capsys, "pareto", "--space", "small", "--budgets", "10G", "--csv", str(csv), "--plot", str(plot))[0] == 0
    assert graphml.read_text().startswith("<?xml") and json.loads(checkpoint.read_text())["format"]
    assert csv.read_text().startswith("solver,kind") and plot.read_text().startswith("<?xml")


def test_a_problem_files_solver_options_stay_with_its_solver(tmp_path, capsys):
    f = tmp_path / "ea.toml"
    f.write_text('[space]\npreset = "byte-tiny"\n[budgets]\nparams = "2M"\n[solver]\nname = "ea"\niterations = 30\n')
    code, out, err = run(capsys, "design", "--problem", str(f), "--solver", "cpsat", "--json")
    assert code == 0 and json.loads(out)["solver"] == "cpsat", err
    assert "ea options (iterations) do not apply to --solver cpsat" in err


def test_a_device_profile_without_its_budget_is_noted_not_silently_dropped(tmp_path, capsys):
    missing = str(tmp_path / "never-read.json")  # unused: not even opened
    code, out, err = run(capsys, "design", "--space", "byte-tiny", "--budget", "params=2M", "--option",
                         "iterations=30", "--latency-profile", missing, "--decode-profile", missing, "--json")
    assert code == 0 and json.loads(out)["architecture"] is not None, err
    assert "note: --latency-profile is unused without a latency budget; add one, e.g. --budget latency_ms=50" in err
    assert "note: --decode-profile is unused without a decode budget; add one, e.g. --budget decode_ms=5" in err


def test_presets(capsys):
    code, out, _ = run(capsys, "presets", "--json")
    obj = json.loads(out)
    assert {"default", "small", "large8"} <= set(obj["spaces"])
    assert set(obj["architectures"]) == {"merino-52m", "merino-61m", "merino-64m"}


def test_latency_times_a_design_on_its_profiles_workload_and_compares(capsys, tmp_path):
    from mpsolve.costs import latency_cost
    from mpsolve.testing.pytest_solvers import synthetic_profile

    profile = tmp_path / "decode.json"
    profile.write_text(json.dumps(synthetic_profile("byte-tiny", "decode", seq_len=32)))
    design = tmp_path / "design.json"
    code, out, _ = run(capsys, "design", "--space", "byte-tiny", "--budget", "params=300K", "--solver", "exact",
                       "--json")
    assert code == 0
    design.write_text(out)
    code, out, _ = run(capsys, "latency", str(design), "--profile", str(profile), "--min-run-time", "0.05", "--json")
    assert code == 0
    obj = json.loads(out)
    assert obj["workload"] == {"runtime": "torch", "phase": "decode", "seq_len": 32, "threads": 1,
                               "statistic": "median", "batch": 1, "logits": None}
    arch = Architecture.from_dict(obj["architecture"])
    assert obj["predicted_ms"] == latency_cost(profile).of(arch)  # the decode_ms a design budget would use
    assert obj["measured"]["ms"] > 0 and obj["measured"]["blocks"] >= 1
    assert obj["error_percent"] == pytest.approx(100 * (obj["predicted_ms"] / obj["measured"]["ms"] - 1))
    assert "components_ms" not in obj  # an uncalibrated profile: the prediction is the component sum
    code, out, _ = run(capsys, "latency", str(design), "--min-run-time", "0.05", "--threads", "1")
    assert code == 0 and "torch prefill, a 128-token prompt, 1 thread(s)" in out and "predicted" not in out


def test_export_help_gives_the_lean_runs_figures(capsys):
    """The pre-registration (benchmarks/preregistration/onnx_lean.md) has `mpsolve export --help` give the run's
    figures for --lean; it gave none."""
    results = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "onnx_lean.json"
    summary = json.loads(results.read_text())["summary"]
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for key in ("weights_lean_over_default", "prefill_128_lean_over_default", "decode_128_lean_over_default"):
        assert f"{summary[key]['median']:.3f}" in text, key


def test_profile_latency_help_gives_the_lean_runs_figures(capsys):
    """The pre-registration (benchmarks/preregistration/latency_lean.md) has `mpsolve profile-latency --help` give
    the run's figures for --lean: each is checked against the run's JSON, so that it cannot go stale unseen."""
    results = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "latency_lean_s49.json"
    checks = json.loads(results.read_text())["latency_cost"]["checks"]
    with pytest.raises(SystemExit):
        main(["profile-latency", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    lean = [c for c in checks if c["lean"]]
    assert [c["phase"] for c in lean] == ["prefill", "decode"]
    figures = [f"{c[key]:.1f} %" for key in ("mape_components_vs_fastest_round_percent",
                                            "mape_previous_vs_fastest_round_percent") for c in lean]
    assert (f"off by {figures[0]} per prompt and {figures[1]} per generated token (MAPE), the default graph's "
            f"profile by {figures[2]} and {figures[3]} on the same lean timings") in text


def test_profile_latency_help_gives_the_int8_runs_figures(capsys):
    """The pre-registrations (benchmarks/preregistration/latency_int8.md, its replication and the two-thread runs)
    have `mpsolve profile-latency --help` give the runs' figures for --int8, checked against the runs' JSON."""
    results = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
    runs = [json.loads((results / f"latency_int8_{r}.json").read_text())["latency_cost"]["checks"]
            for r in ("s49", "s49_r2", "t2_s49", "t2_s49_r2")]
    with pytest.raises(SystemExit):
        main(["profile-latency", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    int8 = [[c for c in checks if c.get("int8")] for checks in runs]
    fp32 = [c for c in runs[0] if not c.get("int8")]
    assert [c["phase"] for c in int8[0]] == [c["phase"] for c in int8[1]] == [c["phase"] for c in fp32] == [
        "prefill", "decode"]
    mine = [f"{c['mape_components_vs_fastest_round_percent']:.1f} %" for phase in (0, 1) for c in (int8[0][phase],
                                                                                                   int8[1][phase])]
    previous = [f"{c['mape_previous_vs_fastest_round_percent']:.1f} %" for c in int8[0]]
    own = f"{fp32[1]['mape_components_vs_fastest_round_percent']:.1f} %"
    assert (f"off by {mine[0]} and {mine[1]} per prompt, {mine[2]} and {mine[3]} per generated token (MAPE; in the "
            f"first run the fp32 profile missed its own graphs per token as much, {own}), the fp32 profile by "
            f"{previous[0]} and {previous[1]} on the first run's INT8 timings") in text
    two = [[f"{c['mape_components_vs_fastest_round_percent']:.1f} %" for c in run if c.get("int8")] for run in runs[2:]]
    assert (f"with two threads, two runs: {two[0][0]} and {two[1][0]} per prompt, {two[0][1]} and {two[1][1]} per "
            "generated token") in text


def test_latency_of_a_lean_graph_says_so(capsys, monkeypatch):
    """--lean was passed on but neither printed nor in --json: a lean and a default timing read the same."""
    calls = _timed_designs(monkeypatch)
    code, out, _ = run(capsys, "latency", "merino-52m", "--runtime", "onnxruntime", "--lean", "--threads", "1")
    assert code == 0 and calls[-1]["lean"] and "onnxruntime (lean graph) prefill, a 128-token prompt" in out
    code, out, _ = run(capsys, "latency", "merino-52m", "--runtime", "onnxruntime", "--json")
    assert code == 0 and json.loads(out)["lean"] is False and not calls[-1]["lean"]
    code, out, _ = run(capsys, "latency", "merino-52m", "--runtime", "onnxruntime", "--lean", "--json")
    assert code == 0 and json.loads(out)["lean"] is True and calls[-1]["graph_dir"] is None


def test_latency_and_memory_keep_their_graph_in_graph_dir(capsys, monkeypatch, tmp_path):
    """Before: no --graph-dir, so each measurement in ONNX Runtime exported the design's graph again."""
    from mpsolve import merino_model

    calls = _timed_designs(monkeypatch)
    code, _, _ = run(capsys, "latency", "merino-52m", "--runtime", "onnxruntime", "--graph-dir", str(tmp_path / "g"))
    assert code == 0 and calls[-1]["graph_dir"] == tmp_path / "g"
    kept = []
    monkeypatch.setattr(merino_model, "design_memory", lambda arch, seq_len, **options: kept.append(options) or {
        "weights": 1, "peak": 2, "load_peak": 2, "opset": 18})
    code, _, _ = run(capsys, "memory", "merino-52m", "--runtime", "onnxruntime", "--graph-dir", str(tmp_path / "g"))
    assert code == 0 and kept[-1]["graph_dir"] == tmp_path / "g"


def _timed_designs(monkeypatch) -> list[dict]:
    """The options of every ``design_latency`` call the CLI makes from now on (each timed at 1 ms)."""
    from mpsolve import merino_model

    calls: list[dict] = []

    def measured(arch, **options):
        calls.append(options)
        return {"ms": 1.0, "iqr_ms": 0.01, "blocks": 5, "noisy": False}

    monkeypatch.setattr(merino_model, "design_latency", measured)
    return calls


def _graph_profiles(tmp_path, flag: str) -> dict[bool, Path]:
    """Two ONNX Runtime decode profiles of ``default``, with ``flag`` (lean or int8) false and true."""
    from mpsolve.testing.pytest_solvers import synthetic_profile

    profiles = {}
    for value in (False, True):
        profiles[value] = tmp_path / f"{flag}-{value}.json"
        profiles[value].write_text(json.dumps({**synthetic_profile("default", "decode"), "runtime": "onnxruntime",
                                               "logits": "all", flag: value}))
    return profiles


def test_latency_says_noisy_blocks_on_stderr(capsys, monkeypatch):
    """Before: the warning was printed on stdout, among the measurement."""
    from mpsolve import merino_model

    monkeypatch.setattr(merino_model, "design_latency", lambda arch, **options: {"ms": 1.0, "iqr_ms": 0.5,
                                                                                  "blocks": 5, "noisy": True})
    code, out, err = run(capsys, "latency", "merino-52m")
    assert code == 0 and "measured" in out and "warning" not in out
    assert err.startswith("mpsolve: warning: the timed blocks spread more than") and len(err.splitlines()) == 1
    assert err.endswith("when it is idle, or with --statistic min\n")
    code, out, err = run(capsys, "latency", "merino-52m", "--statistic", "min")  # before: advised what it had done
    assert code == 0 and err.endswith("measure again when it is idle\n")


def test_latency_times_a_lean_profiles_workload_on_the_lean_graph(capsys, monkeypatch, tmp_path):
    """A profile made with --lean predicts the lean graph: mpsolve latency --profile times that graph, with or
    without --lean; --lean with a profile of the default graph is refused (it was refused with any profile)."""
    from mpsolve.testing.pytest_solvers import synthetic_profile

    calls, profiles = _timed_designs(monkeypatch), _graph_profiles(tmp_path, "lean")
    for flags in ([], ["--lean"]):
        code, out, _ = run(capsys, "latency", "merino-52m", "--profile", str(profiles[True]), *flags, "--json")
        obj = json.loads(out)
        assert code == 0 and calls[-1]["lean"] is True and obj["lean"] is True and "error_percent" in obj
    code, out, _ = run(capsys, "latency", "merino-52m", "--profile", str(profiles[False]))
    assert code == 0 and calls[-1]["lean"] is False and "(lean graph)" not in out
    code, _, err = run(capsys, "latency", "merino-52m", "--profile", str(profiles[False]), "--lean")
    assert code == 2 and "the profile times the default ONNX graph, and --lean the lean ONNX graph" in err
    profiles[True].write_text(json.dumps({**synthetic_profile("default", "decode"), "lean": True}))
    code, _, err = run(capsys, "latency", "merino-52m", "--profile", str(profiles[True]))
    assert code == 2 and "latency profile says lean (ONNX Runtime's lean graph) of runtime 'torch'" in err


def test_latency_times_an_int8_profiles_workload_on_the_int8_graph(capsys, monkeypatch, tmp_path):
    """A profile made with --int8 predicts the graph's INT8: mpsolve latency --profile times that, with or without
    --int8; --int8 with an fp32 profile, --int8 with torch, and --int8 with --lean are refused in one line."""
    from mpsolve.testing.pytest_solvers import synthetic_profile

    calls, profiles = _timed_designs(monkeypatch), _graph_profiles(tmp_path, "int8")
    for flags in ([], ["--int8"]):
        code, out, _ = run(capsys, "latency", "merino-52m", "--profile", str(profiles[True]), *flags, "--json")
        obj = json.loads(out)
        assert code == 0 and calls[-1]["int8"] is True and obj["int8"] is True and not calls[-1]["lean"]
    code, out, _ = run(capsys, "latency", "merino-52m", "--profile", str(profiles[True]))
    assert code == 0 and "onnxruntime (INT8) decode, one token at 128 cached positions" in out
    code, out, _ = run(capsys, "latency", "merino-52m", "--profile", str(profiles[False]))
    assert code == 0 and calls[-1]["int8"] is False and "(INT8)" not in out
    for argv, message in (
        (["--profile", str(profiles[False]), "--int8"], "the profile times the default ONNX graph, and --int8 the "
                                                       "ONNX graph's INT8: drop --int8"),
        (["--profile", str(profiles[True]), "--lean"], "the profile times the ONNX graph's INT8, and --lean the lean "
                                                      "ONNX graph"),
        (["--int8"], "--int8 is the exported graph's: give it with --runtime onnxruntime"),
        (["--runtime", "onnxruntime", "--int8", "--lean"], "--lean and --int8 together are not timed"),
    ):
        code, _, err = run(capsys, "latency", "merino-52m", *argv)
        assert code == 2 and err.count("\n") == 1 and message in err, err
    profiles[True].write_text(json.dumps({**synthetic_profile("default", "decode"), "int8": True}))
    code, _, err = run(capsys, "latency", "merino-52m", "--profile", str(profiles[True]))
    assert code == 2 and "latency profile says int8 (ONNX Runtime's INT8) of runtime 'torch'" in err
    profiles[True].write_text(json.dumps({**synthetic_profile("default", "decode"), "runtime": "onnxruntime",
                                          "int8": "yes"}))
    code, _, err = run(capsys, "latency", "merino-52m", "--profile", str(profiles[True]))
    assert code == 2 and "latency profile int8 'yes' is not true or false" in err
    for argv in (["--int8"], ["--runtime", "onnxruntime", "--int8", "--lean"]):  # before any timing
        code, _, err = run(capsys, "profile-latency", "--space", "small", "--out", str(tmp_path / "p.json"), *argv)
        assert code == 2 and err.count("\n") == 1 and ("--int8" in err), err


def test_memory_in_onnx_runtime_passes_its_flags_and_says_what_it_measured(capsys, monkeypatch):
    """The command's ONNX Runtime path (design_memory's own is measured in tests/merino_model/test_memory.py)."""
    from mpsolve import merino_model

    calls = []

    def measured(arch, seq_len, **options):
        calls.append((seq_len, options))
        return {"weights": 2_000_000, "peak": 3_000_000, "load_peak": 4_000_000, "opset": options["opset"] or 18}

    monkeypatch.setattr(merino_model, "design_memory", measured)
    code, out, _ = run(capsys, "memory", "merino-52m", "--seq-len", "64", "--runtime", "onnxruntime")
    assert code == 0 and calls[-1] == (64, {"batch_size": 1, "padded": False, "seed": 0, "mmap_threshold": None,
                                            "runtime": "onnxruntime", "opset": None, "lean": False,
                                            "graph_dir": None})
    assert "ONNX Runtime (opset 18 graph) fp32 prefill of 64 tokens" in out and "3MB peak (2MB of weights)" in out
    assert "note: the cost counts torch's model; ONNX Runtime holds the tied embedding twice" in out
    assert "--opset 23 writes one Attention node" in out
    code, out, _ = run(capsys, "memory", "merino-52m", "--runtime", "onnxruntime", "--opset", "23", "--json")
    obj = json.loads(out)
    assert code == 0 and (obj["runtime"], obj["opset"]) == ("onnxruntime", 23) and "opset" not in obj["measured"]
    code, out, _ = run(capsys, "memory", "merino-52m", "--runtime", "onnxruntime", "--lean")
    assert code == 0 and calls[-1][1]["lean"] and "ONNX Runtime (opset 18, lean graph)" in out
    assert "holds the tied embedding once (a lean graph, prepacking off)" in out
    code, _, err = run(capsys, "memory", "merino-52m", "--lean")
    assert code == 2 and "--lean is the exported graph's: give it with --runtime onnxruntime" in err


def test_memory_measures_a_design_against_its_memory_cost(capsys, tmp_path):
    from mpsolve.costs import MemoryCost, ParamsCost

    code, out, _ = run(capsys, "design", "--space", "byte-tiny", "--budget", "params=300K", "--solver", "exact",
                       "--json")
    (tmp_path / "design.json").write_text(out)
    code, out, _ = run(capsys, "memory", str(tmp_path / "design.json"), "--seq-len", "64", "--json")
    obj = json.loads(out)
    arch = Architecture.from_dict(obj["architecture"])
    assert code == 0 and obj["predicted"] == MemoryCost(seq_len=64).of(arch)
    # 1.19 MB of weights measured as 1.33 MB: pages and allocator arenas, a fixed slack at this size
    assert abs(obj["measured"]["weights"] - 4 * ParamsCost().of(arch)) < 2**19
    assert obj["measured"]["peak"] >= obj["measured"]["weights"]
    assert obj["ratio"] == obj["measured"]["peak"] / obj["predicted"]
    code, out, _ = run(capsys, "memory", str(tmp_path / "design.json"), "--seq-len", "16")
    assert code == 0 and "measured / predicted" in out and "prefill of 16 tokens" in out
    assert "the allocator as it is" in out and "--mmap-threshold 131072 measures without glibc's" in out
    code, out, _ = run(capsys, "memory", str(tmp_path / "design.json"), "--seq-len", "16", "--mmap-threshold",
                       "131072")
    assert code == 0 and "mmap threshold 131072 B" in out and "note:" not in out
    # a design budgeted for memory at 256 tokens is measured there (before: at 1024, beyond its 512 positions),
    # and as the budget's batch: two prompts, padded (before: one)
    (tmp_path / "p.toml").write_text('space = "byte-tiny"\n[[budget]]\ncost = "params"\nlimit = "300K"\n[[budget]]\n'
                                     'cost = "memory"\nlimit = "20M"\nseq_len = 256\nbatch_size = 2\npadded = true\n'
                                     '[solver]\nname = "exact"\n')
    code, out, _ = run(capsys, "design", "--problem", str(tmp_path / "p.toml"), "--json")
    (tmp_path / "budgeted.json").write_text(out)
    code, out, _ = run(capsys, "memory", str(tmp_path / "budgeted.json"), "--json")
    obj = json.loads(out)
    assert code == 0 and (obj["seq_len"], obj["batch_size"], obj["padded"]) == (256, 2, True)
    assert obj["predicted"] == MemoryCost(seq_len=256, batch_size=2, padded=True).of(
        Architecture.from_dict(obj["architecture"]))
    code, _, err = run(capsys, "memory", str(tmp_path / "budgeted.json"), "--runtime", "onnxruntime")
    assert code == 2 and "a padded batch needs an attention mask" in err and "--no-padded" in err


@pytest.mark.parametrize(
    ("arch", "with_profile", "flags", "message"),
    [
        ("tiny", True, ["--phase", "prefill"], "--phase prefill differs from the profile's decode: drop --phase"),
        ("tiny", True, ["--seq-len", "64"], "--seq-len 64 differs from the profile's 32"),
        ("merino-52m", True, [], "the latency profile was measured for other model constants: vocab_size=50272"),
        ("merino-52m", False, ["--seq-len", "4096"], "--seq-len 4096 is outside 1..2048"),
        ("tiny", False, ["--min-run-time", "0"], "--min-run-time must be a number of seconds in (0, 60], got 0.0"),
        ("tiny", False, ["--min-run-time", "1e9"],
         "--min-run-time must be a number of seconds in (0, 60], got 1000000000.0"),
        ("tiny", False, ["--lean"], "--lean is the exported graph's: give it with --runtime onnxruntime"),
        ("tiny", True, ["--lean", "--runtime", "onnxruntime"],
         "the profile times torch's model, and --lean the lean ONNX graph: drop --lean to time the profile's "
         "workload, or profile with --runtime onnxruntime --lean"),
        ("tiny", True, ["--lean"],  # before: 'give it with --runtime onnxruntime', then refused for the profile
         "the profile times torch's model, and --lean the lean ONNX graph"),
    ],
)
def test_latency_refuses_what_it_cannot_time_or_compare(capsys, tmp_path, arch, with_profile, flags, message):
    from mpsolve.testing.pytest_solvers import synthetic_profile

    profile = tmp_path / "decode.json"
    profile.write_text(json.dumps(synthetic_profile("byte-tiny", "decode", seq_len=32)))
    if arch == "tiny":  # a byte-level design the profile covers
        arch = str(tmp_path / "design.json")
        Path(arch).write_text(json.dumps({"blocks": [{"embed_dim": 64, "ffn_ratio": 1.0, "layers": 1}],
                                          "vocab_size": 256, "embed_proj_dim": 128, "max_positions": 512}))
    code, out, err = run(capsys, "latency", arch, *(["--profile", str(profile)] if with_profile else []), *flags)
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and message in err


def test_latency_says_when_the_profiles_threads_exceed_this_machines_cpus(capsys, tmp_path):
    """Before: 'threads 4096 exceeds the 2 CPUs ...; use at most 2', though --threads may not differ from the
    profile's: the way out it named was refused next."""
    from mpsolve.testing.pytest_solvers import synthetic_profile

    profile = tmp_path / "decode.json"
    profile.write_text(json.dumps({**synthetic_profile("byte-tiny", "decode", seq_len=32), "threads": 4096}))
    arch = tmp_path / "design.json"
    arch.write_text(json.dumps({"blocks": [{"embed_dim": 64, "ffn_ratio": 1.0, "layers": 1}], "vocab_size": 256,
                                "embed_proj_dim": 128, "max_positions": 512}))
    code, out, err = run(capsys, "latency", str(arch), "--profile", str(profile))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "the profile was measured on 4096 threads, more than the" in err and "profile this machine" in err


def test_table_fails_when_it_cannot_save_the_table(capsys, tmp_path, monkeypatch):
    from mpsolve.objectives._lookup import SpectrumTable

    monkeypatch.setenv("MPSOLVE_CACHE_DIR", str(tmp_path))
    path = SpectrumTable(cache_dir=None).path
    path.mkdir()  # before: "built" with exit 0 and nothing saved
    code, out, err = run(capsys, "table", "--space", "small")
    assert code == 2 and out == "" and err.strip() == f"mpsolve: error: entropy lookup table {str(path)!r} is a " \
                                                      "folder; give a file path"
    (tmp_path / "file").write_text("")
    table = SpectrumTable(draws=2, cache_dir=tmp_path / "file" / "cache")  # a library solve warns and goes on
    with pytest.warns(mpsolve.MpsolveWarning, match=r"cannot be saved \(.*\): it will be built again next time"):
        assert table.spectra([(8, 16)])[0].shape == (2, 8)


def test_a_result_with_a_latency_profile_reruns_from_another_folder(tmp_path, capsys, monkeypatch):
    """Before: the result kept the profile path as typed (relative to where design ran), and a
    rerun read it relative to the result's folder: an error, or silently another profile."""
    from mpsolve.testing.pytest_solvers import synthetic_profile

    monkeypatch.chdir(tmp_path)
    (tmp_path / "prof").mkdir()
    (tmp_path / "prof" / "pre.json").write_text(json.dumps(synthetic_profile("small", "prefill")))
    (tmp_path / "out" / "prof").mkdir(parents=True)  # a decoy where the old rerun looked
    decoy = synthetic_profile("small", "prefill")
    for entry in decoy["layers"]:
        entry["ms"] *= 0.3
    (tmp_path / "out" / "prof" / "pre.json").write_text(json.dumps(decoy))
    code, out, _ = run(capsys, "design", "--space", "small", "--budget", "latency_ms=300", "--latency-profile",
                       "prof/pre.json", "--solver", "exact", "--json")
    assert code == 0
    (tmp_path / "out" / "lat.json").write_text(out)
    code, again, _ = run(capsys, "design", "--problem", "out/lat.json", "--json")
    assert code == 0 and json.loads(again)["objective"] == json.loads(out)["objective"]
    assert json.loads(again)["problem"]["constraints"][0]["options"]["profile"] == str(tmp_path / "prof" / "pre.json")


def test_outputs_may_not_overwrite_a_profile_named_in_a_problem_file(tmp_path, capsys):
    from mpsolve.testing.pytest_solvers import synthetic_profile

    profile = json.dumps(synthetic_profile("small", "prefill"))
    (tmp_path / "p.json").write_text(profile)
    (tmp_path / "prob.toml").write_text('space = "small"\n[[budget]]\ncost = "latency"\nlimit = 300\n'
                                        'profile = "p.json"\n[solver]\nname = "ea"\niterations = 200\n')
    for argv, flag in ((["design", "--problem", str(tmp_path / "prob.toml"), "--checkpoint"], "--checkpoint"),
                       (["sweep", "--problem", str(tmp_path / "prob.toml"), "--out"], "--out")):
        code, _, err = run(capsys, *argv, str(tmp_path / "." / "p.json"))
        assert code == 2 and f"{flag} '" in err and "is the latency profile of the problem: give" in err
    assert (tmp_path / "p.json").read_text() == profile  # before: replaced by a checkpoint or sweep rows


def test_resuming_a_problem_file_run_keeps_the_checkpoints_seed(tmp_path, capsys):
    """Before: the file's unwritten default seed 0 'conflicted' with the checkpoint's seed 3."""
    f = tmp_path / "p.toml"
    f.write_text('space = "small"\n[budgets]\nflops = "20G"\n[solver]\nname = "ea"\niterations = 300\n')
    ckpt = str(tmp_path / "run.ckpt")
    first = json.loads(run(capsys, "design", "--problem", str(f), "--seed", "3", "--checkpoint", ckpt, "--json")[1])
    code, out, err = run(capsys, "design", "--problem", str(f), "--resume", ckpt, "--json")
    assert code == 0, err
    assert json.loads(out)["seed"] == 3 and json.loads(out)["objective"] == first["objective"]


def test_resuming_a_budget_run_keeps_the_checkpoints_seed(tmp_path, capsys):
    """Before: --resume without --seed (as the interrupted run says) ran with the default seed 0,
    and 'seed 0 conflicts with the checkpoint's seed 3 ... (omit the seed)', so no run of another
    seed could be resumed."""
    ckpt = str(tmp_path / "run.ckpt")
    argv = ["design", "--space", "small", "--budget", "flops=20G", "--option", "iterations=300", "--json"]
    first = json.loads(run(capsys, *argv, "--seed", "3", "--checkpoint", ckpt)[1])
    code, out, err = run(capsys, *argv, "--resume", ckpt)
    assert code == 0, err
    assert json.loads(out)["seed"] == 3 and json.loads(out)["objective"] == first["objective"]


@pytest.mark.parametrize("argv", [["cost", "merino-64m", "--breakdown"], ["presets"], ["presets", "--json"],
                                  ["--help"], ["design", "--help"]], ids=["long", "short", "json", "help", "sub-help"])
def test_a_reader_that_leaves_stops_the_command_quietly(argv):
    """`mpsolve cost ... | head`: before, 'mpsolve: error: Broken pipe' and status 2 for a long output,
    and Python's 'Exception ignored ... BrokenPipeError' and status 120 for a short (buffered) one."""
    process = subprocess.Popen([sys.executable, "-m", "mpsolve.cli", *argv], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=_unbuffered_env())
    process.stdout.close()  # closed long before the command (about a second of imports) writes
    err = process.stderr.read()
    assert process.wait(timeout=120) == 141 and err == b"", err


def test_a_closed_pipe_that_is_not_stdout_is_an_error(tmp_path):
    read, write = os.pipe()
    os.close(read)
    try:
        process = subprocess.run([sys.executable, "-m", "mpsolve.cli", "pareto", "--space", "small", "--budgets",
                                  "20G", "--solver", "exact", "--csv", f"/dev/fd/{write}"], pass_fds=[write],
                                 capture_output=True, timeout=120)
    finally:
        os.close(write)
    assert process.returncode == 2
    # the pipe named since a failed write names its file
    assert process.stderr.decode().strip() == f"mpsolve: error: Broken pipe writing '/dev/fd/{write}': give a file"


def test_an_interrupted_design_shows_its_best_so_far_and_exits_130(tmp_path, capsys, monkeypatch):
    """Before: the design table, then status 0, as if the run had finished (pareto, sweep and train say 130)."""
    from mpsolve.cli import design

    ckpt = tmp_path / "run.ckpt"

    def interrupted_at(batch):
        def solve(*args, **kwargs):
            calls = []

            def ctrl_c(ctx):
                calls.append(1)
                if len(calls) == batch:
                    raise KeyboardInterrupt
            return mpsolve.solve(*args, callback=ctrl_c, **kwargs)
        return solve

    monkeypatch.setattr(design, "solve", interrupted_at(1))  # in the EA's first batch: before its first checkpoint
    code, out, err = run(capsys, "design", "--space", "small", "--budget", "flops=40G", "--checkpoint", str(ckpt))
    assert code == 130 and not ckpt.exists()
    assert err.strip().endswith("; it stopped before its first checkpoint: run it again")
    ckpt.write_text("")  # not this run's (an empty file, made by mktemp, say): no --resume of it is offered
    code, out, err = run(capsys, "design", "--space", "small", "--budget", "flops=40G", "--checkpoint", str(ckpt))
    assert code == 130 and err.strip().endswith("; it stopped before its first checkpoint: run it again")
    ckpt.unlink()
    # the 30th batch: past the EA's initial population (scored in a few chunks), so past its first boundary
    monkeypatch.setattr(design, "solve", interrupted_at(30))
    code, out, err = run(capsys, "design", "--space", "small", "--budget", "flops=40G", "--checkpoint", str(ckpt))
    assert code == 130 and "status     interrupted" in out and "embed_dim" in out
    assert err.strip() == (f"mpsolve: interrupted: the best design so far is shown; continue it with --resume {ckpt} "
                           "(the same problem and solver, no --seed)")
    monkeypatch.undo()
    code, out, err = run(capsys, "design", "--space", "small", "--budget", "flops=40G", "--resume", str(ckpt))
    assert code == 0 and "status     feasible" in out


def test_design_does_not_write_over_an_earlier_runs_checkpoint(tmp_path, capsys):
    """Before: a second run given the same --checkpoint (another problem, or the same one without --resume) wrote over
    the first run's checkpoint, hours of search, without a word."""
    ckpt = tmp_path / "run.ckpt"
    argv = ["design", "--space", "small", "--budget", "flops=40G", "--option", "iterations=600", "--checkpoint",
            str(ckpt)]
    assert run(capsys, *argv)[0] == 0
    before = ckpt.read_bytes()
    code, out, err = run(capsys, *argv[:4], "flops=20G", *argv[5:])
    assert (code, out) == (2, "") and ckpt.read_bytes() == before
    assert err.strip() == (f"mpsolve: error: --checkpoint {str(ckpt)!r} holds an earlier run's checkpoint, which "
                           f"this run would write over: continue that run with --resume {ckpt}, or give another "
                           "--checkpoint")
    assert run(capsys, *argv, "--resume", str(ckpt))[0] == 0  # continued in place: its own file


def _unbuffered_env() -> dict[str, str]:
    """The environment without PYTHONUNBUFFERED: stdout buffered, as users run the command."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("argv", [["presets"], ["cost", "merino-64m", "--breakdown"]], ids=["short", "long"])
def test_a_full_disk_is_one_error_line(argv):
    """Before: an error line, then Python's 'Exception ignored ... OSError' and status 120."""
    with open("/dev/full", "w") as full:
        process = subprocess.run([sys.executable, "-m", "mpsolve.cli", *argv], stdout=full, stderr=subprocess.PIPE,
                                 env=_unbuffered_env(), timeout=120)
    err = process.stderr.decode().strip()
    assert process.returncode == 2 and err.startswith("mpsolve: error: No space left on device") and "\n" not in err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("buffered", [True, False])
def test_an_error_with_a_full_stderr_keeps_its_status(buffered):
    """`mpsolve ... 2>/dev/full`: before, status 1 (the error line's OSError escaped) or 120 (Python's
    flush of stderr at exit failed); now the error's own 2, and nothing on stdout."""
    env = _unbuffered_env() if buffered else {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open("/dev/full", "w") as full:
        process = subprocess.run([sys.executable, "-m", "mpsolve.cli", "design", "--budget", "flops=1"],
                                 stdout=subprocess.PIPE, stderr=full, env=env, timeout=120)
    assert (process.returncode, process.stdout) == (2, b"")


def test_a_socket_whose_reader_left_stops_the_command_quietly():
    import socket

    ours, theirs = socket.socketpair()
    theirs.close()
    with ours:
        process = subprocess.run([sys.executable, "-m", "mpsolve.cli", "presets"], stdout=ours,
                                 stderr=subprocess.PIPE, env=_unbuffered_env(), timeout=120)
    assert process.returncode == 141 and process.stderr == b"", process.stderr


def test_a_stdout_the_shell_closed_is_not_a_traceback():
    """`mpsolve presets >&-`: sys.stdout is None (before: AttributeError from the flush; then status 0, the result
    lost without a word); now one error line."""
    for argv in (["presets"], ["presets", "--json"]):
        process = subprocess.run([sys.executable, "-m", "mpsolve.cli", *argv], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, env=_unbuffered_env(), timeout=120,
                                 preexec_fn=lambda: os.close(1))
        assert process.returncode == 2 and process.stderr == (
            b"mpsolve: error: stdout is closed, and mpsolve presets writes its result there: keep stdout open "
            b"(redirect it to a file: > FILE)\n"), process.stderr


def test_a_closed_stdout_is_refused_before_the_work_unless_a_file_takes_the_result(tmp_path, capsys, monkeypatch):
    """`mpsolve design ... >&-`: the design was solved, printed nowhere, and the command said 0."""
    from mpsolve.cli import design

    monkeypatch.setattr(design, "solve", lambda *args, **kwargs: pytest.fail("solved with stdout closed"))
    monkeypatch.setattr(sys, "stdout", None)
    assert main(["design", "--space", "small", "--budget", "flops=20G"]) == 2
    assert capsys.readouterr().err == ("mpsolve: error: stdout is closed, and mpsolve design writes its result there: "
                                       "keep stdout open (redirect it to a file: > FILE)\n")
    argv = ["pareto", "--space", "small", "--budgets", "20G", "--solver", "exhaustive"]
    assert main(argv) == 2
    assert capsys.readouterr().err.endswith(": keep stdout open (redirect it to a file: > FILE), or give --csv FILE or "
                                            "--plot FILE\n")
    assert main([*argv, "--csv", str(tmp_path / "front.csv")]) == 0  # the front goes to its file
    assert (tmp_path / "front.csv").read_text().count("\n") == 2 and capsys.readouterr().err == ""


def test_a_closed_stdout_is_refused_with_json_even_when_a_file_is_given(tmp_path, capsys, monkeypatch):
    """`mpsolve cost ... --graphml g.graphml --json >&-`: the JSON went nowhere and the command said 0; the file
    holds another output, not the JSON asked for on stdout."""
    monkeypatch.setattr(sys, "stdout", None)
    graph = tmp_path / "g.graphml"
    assert main(["cost", "merino-52m", "--graphml", str(graph), "--json"]) == 2
    assert capsys.readouterr().err == ("mpsolve: error: stdout is closed, and mpsolve cost --json writes its result "
                                       "there: keep stdout open (redirect it to a file: > FILE), or leave out --json "
                                       "and give --graphml FILE\n")
    assert not graph.exists()
    front = tmp_path / "front.csv"
    assert main(["pareto", "--space", "small", "--budgets", "20G", "--solver", "exhaustive", "--csv", str(front),
                 "--json"]) == 2
    assert "leave out --json and give --csv FILE or --plot FILE" in capsys.readouterr().err and not front.exists()


def test_an_allocation_no_check_foresaw_is_one_line_and_other_errors_stay_tracebacks(capsys, monkeypatch):
    """A command that runs out of memory past every check (a real failure of torch's allocator, and numpy's) says so in
    one line; any other error is a bug, shown whole."""
    torch = pytest.importorskip("torch")
    from mpsolve.cli import info

    for allocate in (lambda: torch.empty(2**60, dtype=torch.uint8), lambda: np.empty(2**60, dtype=np.uint8)):
        monkeypatch.setattr(info, "cmd_presets", lambda args, allocate=allocate: allocate())
        assert main(["presets"]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1, err
        assert err.startswith("mpsolve: error: mpsolve presets ran out of memory (") and err.endswith(
            "): ask for less (a smaller design, seq_len or batch) or free memory\n"), err
    monkeypatch.setattr(info, "cmd_presets", lambda args: torch.ones(2) @ torch.ones(3))
    with pytest.raises(RuntimeError):
        main(["presets"])


def test_table_with_a_closed_stdout_saves_the_table(tmp_path, capsys, monkeypatch):
    """`mpsolve table >&-` was refused, though the table it builds is saved in the cache; --json still is."""
    from mpsolve.objectives._lookup import SpectrumTable

    monkeypatch.setenv("MPSOLVE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "stdout", None)
    space = tmp_path / "one.toml"  # one shape: its table is built in seconds ("small"'s took 8 s more)
    space.write_text("num_blocks = 1\nembed_dims = [64]\nffn_ratios = [1.0]\nlayers = [1]\nvocab_size = 256\n"
                     "embed_proj_dim = 64\nmax_positions = 32\n")
    assert main(["table", "--space", str(space), "--json"]) == 2
    assert capsys.readouterr().err.endswith("mpsolve table --json writes its result there: keep stdout open (redirect "
                                            "it to a file: > FILE), or leave out --json (the table is saved in the "
                                            "cache all the same)\n")
    assert not SpectrumTable(cache_dir=None).path.exists()
    assert main(["table", "--space", str(space)]) == 0
    assert capsys.readouterr().err == "" and SpectrumTable(cache_dir=None).path.stat().st_size > 0


def test_a_stderr_the_shell_closed_keeps_messages_out_of_stdout(tmp_path):
    """`mpsolve ... 2>&-`: print(file=sys.stderr) fell back to stdout, into the --json output."""
    problem = tmp_path / "long.toml"
    problem.write_text('space = "small"\nsolver = "exhaustive"\n[budgets]\nflops = {limit = "1T", seq_len = 4096}\n')
    for argv, code in ((["design", "--problem", str(problem), "--json"], 0),  # warns: beyond max_positions
                       (["design", "--problem", str(tmp_path / "none.toml")], 2)):
        process = subprocess.run([sys.executable, "-m", "mpsolve.cli", *argv], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, env=_unbuffered_env(), timeout=120,
                                 preexec_fn=lambda: os.close(2))
        out = process.stdout.decode()
        assert process.returncode == code and "mpsolve:" not in out, out
        if code == 0:
            assert json.loads(out)["status"] == "optimal"


def test_a_ctrl_c_while_the_library_loads_is_one_line() -> None:
    """Before: a Ctrl-C in the first ~0.5 s of a command (the imports) printed a 26-line traceback.
    The child sends itself SIGINT when the import of numpy begins, deep inside the library's loading."""
    child = (
        "import importlib.abc, os, signal, sys\n"
        # Python's handler, as a terminal's command has (a test run as a shell's background job inherits SIG_IGN)
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "class Interrupt(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'numpy':\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "from mpsolve.cli import main\n"
        "sys.exit(main(['presets']))\n"
    )
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr, done.stdout) == (130, "mpsolve: interrupted\n", "")


def test_importing_the_library_is_cheap_and_every_public_name_resolves() -> None:
    code = ("import sys, mpsolve\n"
            "heavy = sorted(m for m in ('numpy', 'scipy', 'networkx', 'torch') if m in sys.modules)\n"
            "assert not heavy, heavy\n"
            "assert sorted(mpsolve.__all__) == sorted(mpsolve._HOME)\n"
            "assert all(getattr(mpsolve, name) is not None for name in mpsolve.__all__)\n"
            "assert mpsolve.costs.FlopsCost and 'Problem' in dir(mpsolve)\n"
            "assert not any(hasattr(mpsolve, n) for n in ('x.y', '.', 'cli.__main__', '_command', 'costs._latency'))\n"
            "try:\n"
            "    mpsolve.nope\n"
            "except AttributeError as exc:\n"
            "    assert str(exc) == \"module 'mpsolve' has no attribute 'nope'\", exc\n"
            "else:\n"
            "    raise SystemExit('no AttributeError')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_front_file_that_cannot_be_written_keeps_the_front_shown(capsys):
    """``pareto --csv /dev/full`` passes the checks before the work and fails when written: the front is
    printed first (before: solved, then only the error, the front lost)."""
    code = main(["pareto", "--space", "small", "--over", "flops", "--budgets", "20G,40G", "--solver", "exact",
                 "--csv", "/dev/full"])
    out, err = capsys.readouterr()
    assert code == 2 and "No space left on device" in err
    assert "certified: yes (2 of 2 points proved)" in out


def test_a_result_without_a_design_exits_1_with_or_without_json(tmp_path, capsys):
    """Before: 1 for the table, 0 for ``--json`` (a script could not tell from the status)."""
    problem = tmp_path / "p.toml"
    problem.write_text('[space]\npreset = "default"\n[objective]\nname = "params"\n[[budget]]\ncost = "flops"\n'
                       'limit = "160G"\n[constraints]\neffectiveness = 1e-6\n')  # feasible budgets, no design
    for extra in ([], ["--json"]):
        assert main(["design", "--problem", str(problem), "--solver", "exact", *extra]) == 1
        out = capsys.readouterr().out
        shown = json.loads(out)["status"] == "infeasible" if extra else "no design meets the constraints (proved" in out
        assert shown


def test_pareto_without_seed_runs_every_solve_with_the_default_seed(capsys, monkeypatch):
    """Before: ``mpsolve pareto`` without --seed solved with seed None (fresh entropy), so two runs of the same
    command with a seeded solver (ea, nsga2, tpe) printed different designs; design and sweep use seed 0."""
    from mpsolve.cli import pareto as pareto_cli
    from mpsolve.utils.random import DEFAULT_SEED

    seeds, original = [], pareto_cli.pareto

    def recorded(*args, **kwargs):
        seeds.append(kwargs["seed"])
        return original(*args, **kwargs)

    monkeypatch.setattr(pareto_cli, "pareto", recorded)
    assert run(capsys, "pareto", "--space", "small", "--budgets", "10G,12G", "--solver", "exact")[0] == 0
    assert run(capsys, "pareto", "--space", "small", "--budgets", "10G", "--solver", "exact", "--seed", "3")[0] == 0
    assert seeds == [DEFAULT_SEED, 3]


def test_python_dash_m_mpsolve_is_the_command() -> None:
    """Before: ``python -m mpsolve`` said 'No module named mpsolve.__main__' (only ``-m mpsolve.cli`` ran)."""
    done = subprocess.run([sys.executable, "-m", "mpsolve", "presets"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "merino-64m" in done.stdout, done.stderr


@pytest.mark.parametrize("value", ["null", '"x"', "-1", "1000000000000"])
def test_cost_of_its_own_json_names_the_file_of_a_bad_recorded_seq_len(capsys, tmp_path, value):
    """Before: 'seq_len must be a positive integer, got None', of an option the user never gave, no way out."""
    code, out, _ = run(capsys, "cost", "merino-64m", "--json", "--seq-len", "128")
    bad = tmp_path / "bad.json"
    bad.write_text(out.replace('"seq_len": 128', f'"seq_len": {value}'))
    code, _, err = run(capsys, "cost", str(bad))
    assert code == 2 and f"{bad}: seq_len " in err and "fix the file or give --seq-len" in err
    code, again, _ = run(capsys, "cost", str(bad), "--json", "--seq-len", "64")  # the flag wins
    assert code == 0 and json.loads(again)["seq_len"] == 64


def test_memory_notes_a_design_result_budgeted_at_other_bytes_per_value(capsys, tmp_path, monkeypatch):
    """Before: a design budgeted at fp16 (bytes_per_param=2) was measured and predicted in fp32 without a word, the
    prediction twice the budget the design was solved under."""
    from mpsolve import merino_model

    monkeypatch.setattr(merino_model, "design_memory", lambda *a, **k: {"weights": 1, "peak": 2})
    code, out, _ = run(capsys, "design", "--space", "byte-tiny", "--budget", "memory=20M", "--solver", "exact",
                       "--json")
    data = json.loads(out)
    data["problem"]["constraints"][0]["options"].update({"seq_len": 64, "bytes_per_param": 2})
    (tmp_path / "design.json").write_text(json.dumps(data))
    code, out, err = run(capsys, "memory", str(tmp_path / "design.json"), "--json")
    assert code == 0 and json.loads(out)["seq_len"] == 64
    assert "budgets memory with bytes_per_param=2; measured here in fp32" in err
    data["problem"]["constraints"][0]["options"]["bytes_per_param"] = 4.0  # fp32, as measured: nothing to note
    (tmp_path / "design.json").write_text(json.dumps(data))
    code, out, err = run(capsys, "memory", str(tmp_path / "design.json"), "--json")
    assert code == 0 and "note:" not in err


@pytest.mark.parametrize(("key", "value", "flag"), [("padded", "yes", "--padded or --no-padded"),
                                                    ("batch_size", 0, "--batch-size"), ("seq_len", "128", "--seq-len")])
def test_memory_names_the_design_results_bad_budget_option_and_its_flag(capsys, tmp_path, monkeypatch, key, value,
                                                                         flag):
    """A design result whose memory budget holds an option MemoryCost refuses: the error says it is the result's,
    and names the flag that measures it otherwise (before: 'padded must be True or False, got 'yes'', an option the
    user never gave); the flag given, the result's option is not read."""
    from mpsolve import merino_model

    monkeypatch.setattr(merino_model, "design_memory", lambda *a, **k: {"weights": 1, "peak": 2})
    code, out, _ = run(capsys, "design", "--space", "byte-tiny", "--budget", "memory=20M", "--solver", "exact",
                       "--json")
    data = json.loads(out)
    data["problem"]["constraints"][0]["options"].update({"seq_len": 128, key: value})
    (tmp_path / "design.json").write_text(json.dumps(data))
    code, _, err = run(capsys, "memory", str(tmp_path / "design.json"))
    assert code == 2 and f"the design result's memory budget has {key} {value!r}" in err and flag in err
    assert len(err.strip().splitlines()) == 1
    given = {"padded": ["--no-padded"], "batch_size": ["--batch-size", "1"], "seq_len": ["--seq-len", "64"]}[key]
    code, _, _ = run(capsys, "memory", str(tmp_path / "design.json"), *given)
    assert code == 0
