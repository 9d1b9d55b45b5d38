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
