"""``benchmarks/latency.py --report``: the accuracy figures of a saved run, recomputed from its timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
