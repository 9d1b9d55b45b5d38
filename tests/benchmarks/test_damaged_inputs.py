"""Damaged cache files and late-checked options of the benchmark scripts: a damaged cached run is
trained again (never a traceback), a bad plan or option is refused in one line before any work."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
DAMAGED = ('{"key": "0123', "", "[]", "{}", "null")


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return lambda name: importlib.import_module(name)


def one_line(capsys: pytest.CaptureFixture[str], entry, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        entry(argv)
    assert exc.value.code != 0
    message = exc.value.code if isinstance(exc.value.code, str) else capsys.readouterr().err.strip().splitlines()[-1]
    assert "Traceback" not in message and "\n" not in message
    return message


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
    message = one_line(capsys, script("replication").main, ["--plan", str(path), "--no-train",
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
])
def test_latency_options_used_late_are_checked_first(script, capsys: pytest.CaptureFixture[str], argv: list[str],
                                                     message: str) -> None:
    """Before: these reached the latency-cost check (or a worker) only after part 1's timings."""
    assert message in one_line(capsys, script("latency").parse_args, argv)


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
