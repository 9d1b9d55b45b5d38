"""``benchmarks/latency.py --report``: the accuracy figures of a saved run, recomputed from its timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mpsolve.spaces import load_space

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "benchmarks" / "results" / "latency_confirm.json"


def test_report_recomputes_the_committed_figures_from_the_timings(tmp_path: Path) -> None:
    saved = json.loads(RUN.read_text())
    # the committed run with its fastest-round figures removed: --report must give them back
    stripped = json.loads(RUN.read_text())
    for c in stripped["latency_cost"]["checks"]:
        for key in ("mape_vs_fastest_round_percent", "mape_components_vs_fastest_round_percent"):
            del c[key]
    source = tmp_path / "run.json"
    source.write_text(json.dumps(stripped))
    cmd = [sys.executable, str(ROOT / "benchmarks" / "latency.py"), "--report", str(source),
           "--out", str(tmp_path / "out.json"), "--md", str(tmp_path / "out.md")]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((tmp_path / "out.json").read_text()) == saved
    report = (tmp_path / "out.md").read_text()
    assert "No calibration in this run" in report and report.count("| torch |") == 2


def test_a_report_whose_timings_do_not_match_is_refused(tmp_path: Path) -> None:
    """Before: numpy broadcast a one-number prediction list over every design and the figures came out wrong
    without a word; a missing list was a KeyError traceback."""
    latency = _latency_module()
    saved = json.loads(RUN.read_text())
    check = saved["latency_cost"]["checks"][0]
    edits = {"short": {"predicted_ms": check["predicted_ms"][:1]}, "missing": {"components_ms": None},
             "flat": {"measured_ms": check["measured_ms"][0]}, "zero": {"measured_ms": [[0.0] * len(row) for row in
                                                                                       check["measured_ms"]]},
             "text": {"previous_components_ms": "fast"}}
    for name, edit in edits.items():
        source = tmp_path / f"{name}.json"
        run = json.loads(RUN.read_text())
        run["latency_cost"]["checks"][0].update(edit)
        source.write_text(json.dumps(run))
        with pytest.raises(SystemExit, match=f"^error: --report: the {check['runtime']} {check['phase']} check's "
                                             "timings are not as latency.py writes them"):
            latency.main(["--report", str(source), "--md", str(tmp_path / f"{name}.md")])
        assert not (tmp_path / f"{name}.md").exists()
    # a profile, and a run saved before the report's format (before: KeyError tracebacks)
    for name, said in (("latency_profile.json", "no settings"), ("latency_run1.json", "KeyError: 'command'")):
        with pytest.raises(SystemExit, match=rf"^error: --report: '.*{name}' is not a run this latency.py renders "
                                             rf"\({said}\): give the --out JSON of a run of this version$"):
            latency.main(["--report", str(RUN.parent / name), "--out", str(tmp_path / "o.json"),
                          "--md", str(tmp_path / "o.md")])
    assert not (tmp_path / "o.json").exists() and not (tmp_path / "o.md").exists()


def test_fastest_round_is_the_estimator_of_the_undisturbed_latency() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from latency import accuracy
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    measured = [[10.0, 20.0], [12.0, 25.0], [11.0, 40.0]]  # (rounds, designs)
    acc = accuracy([10.0, 20.0], [11.0, 22.0], measured)
    assert acc["mape_vs_fastest_round_percent"] == 0.0
    assert acc["mape_components_vs_fastest_round_percent"] == pytest.approx(10.0)
    assert acc["bias_components_vs_fastest_round_percent"] == pytest.approx(10.0)
    assert acc["mape_percent_by_round"][0] == 0.0 and acc["mape_percent"] > 0
    assert acc["round_spread_percent_median"] == pytest.approx(100 * (2 / 11 + 20 / 25) / 2)
    assert "ape_gain_vs_previous_percent" not in acc
    # paired with a previous model: 20 % and 10 % off before, 10 % and 0 % now, so 10 points better
    paired = accuracy([10.0, 20.0], [11.0, 20.0], measured, previous=[12.0, 22.0])
    assert paired["mape_previous_vs_fastest_round_percent"] == pytest.approx(15.0)
    assert paired["bias_previous_vs_fastest_round_percent"] == pytest.approx(15.0)
    assert paired["ape_gain_vs_previous_percent"] == pytest.approx(10.0)
    assert paired["ape_gain_vs_previous_ci95"] == pytest.approx([10.0, 10.0])


def test_the_previous_model_is_the_profile_without_its_timed_repeats() -> None:
    from mpsolve.costs import LatencyCost
    from mpsolve.spaces import SearchSpace
    from mpsolve.testing.pytest_solvers import synthetic_profile

    space = SearchSpace(num_blocks=2, embed_dims=(64,), ffn_ratios=(1.0,), layers=(1, 3), vocab_size=256,
                        embed_proj_dim=64, max_positions=32)
    profile = synthetic_profile(space)
    profile["layers"][0]["warm_ms"] = 0.5
    previous = _latency_module().without_repeats({**profile, "calibration": {"ms": 0.0, "per_layer_ms": 0.1}})
    assert "repeated" in profile["layers"][0] and "repeated" not in previous["layers"][0]
    assert "calibration" not in previous  # fitted to the repeats; version 2's bound may refuse it
    arch = space.decode([0, 0, 1, 0, 0, 0])  # three applications, then one
    ms = profile["layers"][0]["ms"]
    assert LatencyCost(previous).of(arch) - LatencyCost(previous).of(space.decode([0, 0, 0] * 2)) == (
        pytest.approx(2 * 0.5))
    assert LatencyCost(profile).of(arch) - LatencyCost(profile).of(space.decode([0, 0, 0] * 2)) == (
        pytest.approx(profile["layers"][0]["repeated"]["ms"][0] - ms))


def test_a_lean_or_int8_profile_is_paired_against_the_default_graphs_profile(capsys) -> None:
    """``--lean`` / ``--int8``: the lean or INT8 profile's component sum is paired against the default graph's profile
    on the lean or INT8 timings (the default graph's, as before, against version 2's model); each needs ONNX Runtime
    and designs to check."""
    from mpsolve.spaces import get_space
    from mpsolve.testing.pytest_solvers import synthetic_profile

    latency = _latency_module()
    space = get_space("small")
    default = {**synthetic_profile(space), "runtime": "onnxruntime", "logits": "all", "noisy_entries": []}
    lean = {**default, "lean": True, "head_ms": default["head_ms"] + 1.0}
    X = space.sample(3, random_state=0)
    batch, args = space.decode_batch(X), latency.parse_args(["--lean", "--runtimes", "onnxruntime"])
    timed = [[{"ms": 5.0 + i + r, "noisy": False} for i in range(3)] for r in range(2)]
    int8 = {**default, "int8": True, "head_ms": default["head_ms"] - 1.0}
    profiles = {"default": default, "lean": lean, "int8": int8}
    checks = {graph: latency.cost_check(profiles, graph, timed, 1.0, batch, space, args) for graph in profiles}
    for graph, shift in (("lean", 1.0), ("int8", -1.0)):
        assert checks[graph][graph] and checks[graph]["previous"] == "the default graph's profile"
        assert checks[graph]["previous_components_ms"] == checks["default"]["components_ms"]
        assert np.allclose(np.subtract(checks[graph]["components_ms"], checks["default"]["components_ms"]), shift)
    assert checks["default"]["previous"] == "profile version 2" and not checks["default"]["lean"]
    assert not (checks["default"]["int8"] or checks["lean"]["int8"] or checks["int8"]["lean"])
    assert latency.runtime_label(checks["lean"]) == "onnxruntime (lean graph)"
    assert latency.runtime_label(checks["int8"]) == "onnxruntime (INT8)"
    timed_int8 = [[{"ms": 2 * t["ms"], "noisy": False} for t in row] for row in timed]  # INT8 twice as fast
    pair = [checks["default"], {**checks["int8"], "measured_ms": [[t["ms"] for t in row] for row in timed_int8]}]
    assert np.allclose(latency.graph_ratios(pair, "int8")["prefill"], 2.0) and not latency.graph_ratios(pair, "lean")
    with pytest.raises(SystemExit):
        latency.parse_args(["--lean", "--runtimes", "torch"])
    with pytest.raises(SystemExit):
        latency.parse_args(["--lean", "--mape-archs", "0"])
    assert "--lean checks a lean profile on part 2's designs: give --mape-archs above 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        latency.parse_args(["--int8", "--runtimes", "torch"])
    assert "--int8 is ONNX Runtime's graph" in capsys.readouterr().err


def _latency_module():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import latency
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return latency


def test_model_rounds_are_merged_and_the_speedup_is_paired_within_a_round() -> None:
    latency = _latency_module()

    def run(model: str, prefill: float, decode: float, gflops: bool) -> dict:
        timing = {p: {"ms": ms, "iqr_ms": ms / 100, "blocks": 10, "noisy": False}
                  for p, ms in (("prefill", prefill), ("decode", decode))}
        extra = {"gflops": {"prefill": 77.6 if model == "OPT-350M" else 15.2, "decode": 0.66 if model == "OPT-350M"
                            else 0.2}} if gflops else {}
        return {"model": model, "precision": "fp32", "runtime": "torch", "params_m": 331.2 if model == "OPT-350M"
                else 64.1, "rss_model_mb": prefill, "peak_mb": decode, **timing, **extra}

    # MeRino's second round is slow; OPT's third: the ratio pairs each round's two timings
    merino = latency.merge_rounds([run("MeRino-64M", 10, 4, True), run("MeRino-64M", 20, 5, True),
                                   run("MeRino-64M", 12, 3, True)])
    opt = latency.merge_rounds([run("OPT-350M", 50, 12, True), run("OPT-350M", 60, 14, False),
                                run("OPT-350M", 90, 30, False)])
    assert merino["prefill"]["ms"] == 12 and merino["decode"]["ms"] == 4  # the median round, per phase
    assert merino["rounds_ms"] == {"prefill": [10, 20, 12], "decode": [4, 5, 3]}
    assert merino["rss_model_mb"] == 20 and merino["peak_mb"] == 5  # the largest of the rounds
    ort = {**run("MeRino-64M", 11, 4, False), "runtime": "onnxruntime"}
    rows = [merino, opt, ort]
    latency.add_flops(rows)
    assert ort["gflops"] == merino["gflops"]  # counted once per model, in torch fp32
    median, by_round, flops = latency.speedups(rows)
    assert by_round["prefill_torch_fp32"] == [5.0, 3.0, 7.5]
    assert median["prefill_torch_fp32"] == 5.0 and median["decode_torch_fp32"] == 3.0
    assert flops == pytest.approx({"prefill": 77.6 / 15.2, "decode": 0.66 / 0.2})
    report = latency.speedup_lines({"speedup_merino64m_vs_opt350m": median, "speedup_by_round": by_round,
                                    "gflops_ratio_merino64m_vs_opt350m": flops, "models": rows})
    assert "| torch | fp32 | 5.00x (5.00, 3.00, 7.50) | 3.00x (3.00, 2.80, 10.00) |" in report
    assert any("matmul GFLOPs 5.11x prefill, 3.30x decode; parameters 5.17x" in line for line in report)


def test_a_run_from_before_the_rounds_still_renders(tmp_path: Path) -> None:
    source = ROOT / "benchmarks" / "results" / "latency.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "latency.py"), "--report", str(source),
           "--md", str(tmp_path / "out.md")]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    report = (tmp_path / "out.md").read_text()
    assert "MeRino-64M vs OPT-350M, measured in this run (goal >= 5x): prefill torch fp32 4.57x" in report
    assert report.count("| OPT-350M |") == 4


def test_designs_are_named_by_their_architecture_and_bad_ones_refused(tmp_path: Path) -> None:
    latency = _latency_module()
    result = tmp_path / "design.json"  # a design result holds its architecture under "architecture"
    result.write_text(json.dumps({"status": "optimal", "architecture": {"blocks": [
        {"embed_dim": 256, "ffn_ratio": 1.0, "layers": 2}, {"embed_dim": 512, "ffn_ratio": 2.0, "layers": 1}]}}))
    args = latency.parse_args(["--design", f"fast={result}", "--design", "preset=merino-52m", "--models"])
    fast, preset = args.designs["fast"], args.designs["preset"]
    assert fast["architecture"].startswith("[2x(E=256, r=1), 1x(E=512, r=2)]") and fast["file"] == str(result)
    assert len(fast["digest"]) == 12 and fast["digest"] != preset["digest"]
    prefill, decode = latency.graph_paths("fast", "int8", args)
    assert prefill.name == f"fast-{fast['digest']}-n128-s0-prefill-int8.onnx"
    assert decode.name == f"fast-{fast['digest']}-n128-s0-decode-int8.onnx"
    assert latency.graph_paths("OPT-350M", "fp32", args)[0].name == "OPT-350M-n128-s0-prefill-fp32.onnx"
    for spec, message in ((f"OPT-350M={result}", "the name 'OPT-350M' is already taken"),
                          ("fast", "expected NAME=FILE"), (f"a b={result}", "expected NAME=FILE"),
                          (f"x={tmp_path / 'missing.json'}", "neither an architecture preset")):
        with pytest.raises(ValueError, match=message):
            latency.parse_designs([spec])
    with pytest.raises(ValueError, match="already taken"):
        latency.parse_designs([f"x={result}", "x=merino-52m"])
    cmd = [sys.executable, str(ROOT / "benchmarks" / "latency.py"), "--design", "x=nope", "--models"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("latency.py: error: --design 'x=nope': 'nope' is neither")


def test_every_compared_model_gets_its_ratios_to_opt350m() -> None:
    latency = _latency_module()

    def row(model: str, runtime: str, prefill: list[float], decode: list[float]) -> dict:
        return {"model": model, "precision": "fp32", "runtime": runtime, "params_m": 331.2 if model == "OPT-350M"
                else 40.0, "rounds_ms": {"prefill": prefill, "decode": decode},
                **{p: {"ms": sorted(ms)[1], "iqr_ms": 0.1, "noisy": False}
                   for p, ms in (("prefill", prefill), ("decode", decode))}}

    rows = [row("OPT-350M", rt, [600, 500, 550], [100, 90, 95]) for rt in latency.RUNTIMES]
    rows += [row("fast", rt, [60, 50, 50], [10, 20, 19]) for rt in latency.RUNTIMES]
    rows += [row("MeRino-64M", "torch", [120, 100, 110], [25, 30, 25])]
    ratio, by_round, flops = latency.speedups(rows, "fast")
    assert by_round["decode_onnxruntime_fp32"] == [10.0, 4.5, 5.0] and ratio["decode_onnxruntime_fp32"] == 5.0
    assert ratio["prefill_torch_fp32"] == 10.0 and flops == {}
    assert latency.speedups(rows)[0] == {"prefill_torch_fp32": 5.0, "decode_torch_fp32": 3.8}
    results = {"models": rows, "speedups_vs_opt350m": {
        name: dict(zip(("ratio", "by_round", "gflops_ratio"), latency.speedups(rows, name)))
        for name in ("fast", "MeRino-64M")}}
    report = "\n".join(latency.speedup_lines(results))
    assert "fast vs OPT-350M (goal >= 5x): OPT-350M ms / fast ms" in report
    assert "| onnxruntime | fp32 | 10.00x (10.00, 10.00, 11.00) | 5.00x (10.00, 4.50, 5.00) |" in report
    assert "MeRino-64M vs OPT-350M (goal >= 5x)" in report and report.count("| torch | fp32 |") == 2


@pytest.mark.slow
def test_a_design_of_ones_own_is_timed_in_both_runtimes(tmp_path: Path) -> None:
    """``latency.py --design`` end to end on a tiny design: every entry timed, its graphs cached under
    the design's digest, ONNX Runtime INT8 compared with fp32 on the last position of several prompts."""
    latency = _latency_module()
    design = tmp_path / "tiny.json"
    design.write_text(json.dumps({"blocks": [{"embed_dim": 32, "ffn_ratio": 2.0, "layers": 2},
                                             {"embed_dim": 64, "ffn_ratio": 1.0, "layers": 1}],
                                  "vocab_size": 300, "embed_proj_dim": 64, "max_positions": 64, "head_dim": 16}))
    out = tmp_path / "run.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "latency.py"), "--models", "--design", f"tiny={design}",
           "--seq-len", "16", "--model-rounds", "1", "--min-run-time", "0.01", "--mape-archs", "0",
           "--cache", str(tmp_path / "cache"), "--out", str(out), "--md", str(tmp_path / "run.md")]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    digest = results["designs"]["tiny"]["digest"]
    rows = {(r["runtime"], r["precision"]): r for r in results["models"]}
    assert set(rows) == {(rt, p) for rt in latency.RUNTIMES for p in ("fp32", "int8")}
    assert all(r["model"] == "tiny" and r["prefill"]["ms"] > 0 and r["decode"]["ms"] > 0 for r in rows.values())
    assert rows["torch", "fp32"]["gflops"]["prefill"] > rows["torch", "fp32"]["gflops"]["decode"] > 0
    ort = rows["onnxruntime", "int8"]["vs_fp32"]
    assert ort["prompts"] == latency.TOP1_PROMPTS and 0 <= ort["top1_agreement"] <= 1
    assert ort["top1_agreement"] * ort["prompts"] == round(ort["top1_agreement"] * ort["prompts"])
    assert sorted(p.name for p in (tmp_path / "cache").glob("*.onnx")) == sorted(
        f"tiny-{digest}-n16-s0-{phase}-{precision}.onnx" for phase in ("prefill", "decode")
        for precision in ("fp32", "int8"))
    assert results["speedups_vs_opt350m"] == {}  # no OPT-350M in this run
    assert f"the last position of {latency.TOP1_PROMPTS} random prompts" in (tmp_path / "run.md").read_text()


@pytest.mark.slow
def test_the_latency_cost_check_times_designs_as_mpsolve_latency_does(tmp_path: Path) -> None:
    """``latency.py``'s accuracy part end to end on a tiny space (both runtimes and phases, one round):
    every sampled design predicted and measured, its ONNX graph kept under its digest as
    ``mpsolve latency`` keeps it, and the report written."""
    space = tmp_path / "tiny.toml"
    # one width: every component an export in ONNX Runtime, and projections are profile-latency's tests' part
    space.write_text("num_blocks = 2\nembed_dims = [64]\nffn_ratios = [1.0]\nlayers = [1, 2]\n"
                     "vocab_size = 256\nembed_proj_dim = 64\nmax_positions = 32\n")
    out, cache = tmp_path / "run.json", tmp_path / "cache"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "latency.py"), "--models", "--space", str(space),
           "--mape-archs", "2", "--rounds", "1", "--seq-len", "16", "--calibrate", "0", "--profile-run-time", "0.01",
           "--mape-run-time", "0.01", "--cache", str(cache), "--out", str(out), "--md", str(tmp_path / "run.md")]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())["latency_cost"]
    checks = {(c["runtime"], c["phase"]): c for c in results["checks"]}
    assert set(checks) == {(rt, ph) for rt in ("torch", "onnxruntime") for ph in ("prefill", "decode")}
    for check in checks.values():
        assert len(check["predicted_ms"]) == 2 and len(check["measured_ms"]) == 1 and len(check["measured_ms"][0]) == 2
        assert all(ms > 0 for ms in check["measured_ms"][0]) and check["predicted_ms"] == check["components_ms"]
        assert len(check["previous_components_ms"]) == 2 and "ape_gain_vs_previous_wilcoxon_p" in check
    sampled = load_space(str(space)).sample(2, random_state=0)  # two designs: each an export in ONNX Runtime
    assert results["architectures"] == [str(load_space(str(space)).decode(x)) for x in sampled]
    assert {p.name for p in cache.glob("design-*.onnx")} == {
        f"design-{load_space(str(space)).decode(x).digest()}-s0-all.onnx" for x in sampled}
    assert "calibrated MAPE %" in (tmp_path / "run.md").read_text()
    report = (tmp_path / "run.md").read_text()
    assert "The component sum against the previous one" in report and "| decode | profile version 2 |" in report


def test_two_runs_of_the_same_designs_are_paired_per_design(tmp_path: Path, capsys) -> None:
    """``latency_pair.py``: the lean and INT8 runs timed the same designs' default graphs; each side of a pair is
    that run's own figure, and a run paired with itself has moved by nothing."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import latency_pair
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    results = ROOT / "benchmarks" / "results"
    later, earlier = (latency_pair.read_run(results / f"latency_{name}_s49.json") for name in ("int8", "lean"))
    rows = latency_pair.pair(later, earlier, seed=0)
    assert [(r["runtime"], r["phase"]) for r in rows] == [("onnxruntime", "prefill"), ("onnxruntime", "decode")]
    for row in rows:
        [mine] = [c for c in later["latency_cost"]["checks"] if not c["int8"] and c["phase"] == row["phase"]]
        [theirs] = [c for c in earlier["latency_cost"]["checks"] if not c["lean"] and c["phase"] == row["phase"]]
        assert row["mape_vs_fastest_percent"] == pytest.approx(mine["mape_components_vs_fastest_round_percent"])
        assert row["earlier_mape_vs_fastest_percent"] == pytest.approx(
            theirs["mape_components_vs_fastest_round_percent"])
        low, high = row["ape_change_ci95"]
        assert low <= row["ape_change_points"] <= high
    for row in latency_pair.pair(later, later, seed=0):
        assert row["ape_change_points"] == 0 and row["ape_change_ci95"] == [0, 0]
        assert row["fastest_ratio"] == row["components_ratio"] == {"median": 1, "min": 1, "max": 1}
    for seed in ("-1", str(2**32)):  # before: numpy's ValueError, a traceback
        with pytest.raises(SystemExit):
            latency_pair.parse_args([str(results / "latency_int8_s49.json"), str(results / "latency_lean_s49.json"),
                                     "--seed", seed])
        assert "argument --seed: " in capsys.readouterr().err
    with pytest.raises(SystemExit, match="^error: run and earlier are the same file .*: give the --out JSONs of two"):
        latency_pair.main([str(results / "latency_int8_s49.json"), str(results / ".." / "results" /
                                                                         "latency_int8_s49.json")])
    (tmp_path / "copy.json").write_bytes((results / "latency_int8_s49.json").read_bytes())  # before: a report
    with pytest.raises(SystemExit, match=r"^error: run and earlier hold the same timings \('.*latency_int8_s49\.json'"
                                         r" and '.*copy\.json'\): one is a copy of the other; give the --out JSONs "
                                         "of two runs$"):  # that nothing moved, as with the same file given twice
        latency_pair.main([str(results / "latency_int8_s49.json"), str(tmp_path / "copy.json")])
    with pytest.raises(SystemExit, match="^error: the two runs timed different designs"):
        latency_pair.main([str(results / "latency_int8_s49.json"), str(results / "latency_confirm.json")])
    with pytest.raises(SystemExit, match="has no latency-cost checks"):
        latency_pair.main([str(results / "latency_int8_s49.json"), str(results / "latency_profile.json")])
    for flag, value in (("seq_len", 256), ("threads", 2), ("statistic", "median")):
        other = json.loads((results / "latency_int8_s49.json").read_text())
        other["settings"][flag] = value
        (tmp_path / "other.json").write_text(json.dumps(other))
        said = f"--{flag.replace('_', '-')} {value} and"
        with pytest.raises(SystemExit, match=f"^error: the two runs timed another workload \\({said}"):
            latency_pair.main([str(tmp_path / "other.json"), str(results / "latency_int8_s49.json")])
    for commit in (None, 5):
        other = json.loads((results / "latency_int8_s49.json").read_text())
        (tmp_path / "other.json").write_text(json.dumps({**other, "git_commit": commit}))
        assert latency_pair.main([str(tmp_path / "other.json"), str(results / "latency_lean_s49.json")]) == 0
        assert f"Later run: `{tmp_path / 'other.json'}` (commit {commit or '?'})" in capsys.readouterr().out
    tampered = json.loads((results / "latency_int8_s49.json").read_text())
    check = tampered["latency_cost"]["checks"][0]
    for key in ("predicted_ms", "components_ms", "previous_components_ms"):  # one design's, broadcast over 20
        if check.get(key) is not None:
            check[key] = check[key][:1]
    check["measured_ms"] = [row[:1] for row in check["measured_ms"]]
    (tmp_path / "one.json").write_text(json.dumps(tampered))
    with pytest.raises(SystemExit, match="check has not one positive component sum for each of the run's 20 designs"):
        latency_pair.main([str(results / "latency_int8_s49.json"), str(tmp_path / "one.json")])
    single = json.loads((results / "latency_int8_s49.json").read_text())  # one design a run
    single["latency_cost"]["architectures"] = single["latency_cost"]["architectures"][:1]
    for check in single["latency_cost"]["checks"]:
        for key in ("predicted_ms", "components_ms", "previous_components_ms"):
            if check.get(key) is not None:
                check[key] = check[key][:1]
        check["measured_ms"] = [row[:1] for row in check["measured_ms"]]
    for name in ("single.json", "single2.json"):
        (tmp_path / name).write_text(json.dumps(single))
    with pytest.raises(SystemExit, match=r"single\.json' timed 1 design\(s\): a pair needs runs of two or more"):
        latency_pair.main([str(tmp_path / "single.json"), str(tmp_path / "single2.json")])  # was scipy's ValueError
    negative = json.loads((results / "latency_int8_s49.json").read_text())
    negative["latency_cost"]["checks"][1]["measured_ms"][0][0] = -1.0
    (tmp_path / "negative.json").write_text(json.dumps(negative))  # before: the message named latency.py's --report
    with pytest.raises(SystemExit, match=r"^error: '.*negative\.json': the onnxruntime prefill check's timings are "
                       "not as latency.py writes them"):
        latency_pair.main([str(tmp_path / "negative.json"), str(results / "latency_lean_s49.json")])
    twice = json.loads((results / "latency_int8_s49.json").read_text())
    twice["latency_cost"]["checks"].append(twice["latency_cost"]["checks"][0])
    (tmp_path / "twice.json").write_text(json.dumps(twice))  # before: its rows paired twice with one check
    with pytest.raises(SystemExit, match=r"twice\.json' has two onnxruntime prefill checks: which one to pair"):
        latency_pair.main([str(tmp_path / "twice.json"), str(results / "latency_lean_s49.json")])
    del tampered["latency_cost"]["checks"][0]["phase"]
    (tmp_path / "nophase.json").write_text(json.dumps(tampered))
    with pytest.raises(SystemExit, match="is not a run as latency.py saves it"):
        latency_pair.main([str(tmp_path / "nophase.json"), str(results / "latency_int8_s49.json")])
