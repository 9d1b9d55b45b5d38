"""Smoke test: ``benchmarks/proxy_correlation.py --quick`` trains 3 tiny models and reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_run_writes_a_complete_report(tmp_path: Path) -> None:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "proxy_correlation.py"), "--quick", "--out", str(tmp_path)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "proxy_correlation.json").read_text())
    assert result["finished"] == result["planned"] == 3 and not result["partial"]
    cached = [json.loads(p.read_text()) for p in (tmp_path / "proxy_runs").glob("*.json")]
    assert len(cached) == 4 and all(r["device"] == "cpu" for r in cached)  # 3 models + one second seed, on the default
    for run in result["runs"]:
        assert set(run["checkpoints"]) == {"0.5", "0.75", "1.0"}
        assert 0 < run["val_loss"] < 6  # nats per byte; a uniform guess is log(256) = 5.5
    corr = result["correlations"]
    for name in (result["provisional_entropy"], "params", "decoder_params", "ntk", "dss"):
        assert -1 <= corr[name]["spearman"] <= 1 and len(corr[name]["spearman_ci"]) == 2
    assert result["seed_noise"]["pairs"] == 1
    assert (tmp_path / "proxy_correlation.png").stat().st_size > 0
    assert "Proxy correlation" in (tmp_path / "proxy_correlation.md").read_text()

    rerun = subprocess.run([*cmd, "--no-train"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert json.loads((tmp_path / "proxy_correlation.json").read_text())["finished"] == 3  # resumed from the cache
