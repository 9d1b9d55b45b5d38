"""The training benchmarks run on a corpus the user names (a file or a folder), not only the default."""

from __future__ import annotations

import importlib
import json
import lzma
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 400 KB of English in two files: far smaller than the default corpus (one validation block)."""
    from pydoc_data.topics import topics

    folder = tmp_path_factory.mktemp("corpus")
    text = "\n\n".join(topics[k].strip() for k in sorted(topics))
    (folder / "a.txt").write_text(text[:300_000].strip(), encoding="utf-8")
    (folder / "b.md").write_text(text[300_000:400_000].strip(), encoding="utf-8")
    return folder


def size(*files: Path) -> int:
    return sum(len(f.read_bytes()) for f in files) + 2 * (len(files) - 1)  # joined by blank lines


def run(script: str, *args: str) -> None:
    cmd = [sys.executable, str(ROOT / "benchmarks" / script), "--quick", *args]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def test_designs_on_a_corpus_file(corpus: Path, tmp_path: Path) -> None:
    run("designs.py", "--corpus", str(corpus / "a.txt"), "--out", str(tmp_path))
    result = json.loads((tmp_path / "designs.json").read_text())  # --out named: the usual file names
    assert result["corpus"]["name"] == str(corpus / "a.txt")
    assert result["corpus"]["train_bytes"] + result["corpus"]["val_bytes"] == size(corpus / "a.txt")
    assert result["corpus"]["val_bytes"] > 0
    designs = {d["design"]: d for d in result["designs"]}
    assert set(designs) == {"entropy", "params", "uniform", "entropy_noproj", "params_noproj"}
    assert all(len({b["embed_dim"] for b in designs[d]["architecture"]["blocks"]}) == 1
               for d in ("entropy_noproj", "params_noproj"))
    assert all([r["seed"] for r in d["runs"]] == [0, 1] and 0 < d["summary"]["mean"] < 6 for d in designs.values())
    assert designs["params"]["vs_entropy"]["seeds"] == [0, 1]


def test_proxy_correlation_quick_run_on_a_corpus_folder_writes_a_complete_report(corpus: Path, tmp_path: Path) -> None:
    """``proxy_correlation.py --quick`` trains 3 tiny models (and a second seed) on a folder, reports, and resumes."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / "proxy_correlation.py"), "--quick", "--corpus", str(corpus),
           "--out", str(tmp_path)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "proxy_correlation.json").read_text())
    assert result["corpus"]["name"] == str(corpus)
    assert result["corpus"]["train_bytes"] + result["corpus"]["val_bytes"] == size(corpus / "a.txt", corpus / "b.md")
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


def _refused(capsys: pytest.CaptureFixture[str], script: str, argv: list[str]) -> str:
    """The one-line error ``benchmarks/<script>.py`` exits with on ``argv`` (in this process: no torch import)."""
    module = importlib.import_module(script)
    with pytest.raises(SystemExit) as exc:
        module.main(argv)
    assert exc.value.code not in (0, None)
    err = capsys.readouterr().err.strip()  # argparse: its usage, then the one-line error
    message = exc.value.code if isinstance(exc.value.code, str) else err.splitlines()[-1]
    assert "Traceback" not in err and message and "\n" not in message and "Traceback" not in message
    return message


def test_a_missing_or_tiny_corpus_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("too short. " * 100, encoding="utf-8")  # under 40 bytes the library's Corpus refuses it first
    for corpus, message in ((tmp_path / "nope", "neither"), (tiny, "need at least")):
        assert message in _refused(capsys, "designs", ["--quick", "--corpus", str(corpus),
                                                       "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("script", ["designs", "proxy_correlation", "replication", "token_budget"])
def test_a_device_torch_cannot_train_on_is_a_clear_error(script: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    bogus = _refused(capsys, script, ["--device", "tpu", "--out", str(tmp_path)])
    assert "argument --device: 'tpu' is not cpu, cuda or cuda:N" in bogus
    beyond = _refused(capsys, script, ["--device", "cuda:64", "--no-train", "--out", str(tmp_path)])
    message = "sees no CUDA device here; use --device cpu" if not torch.cuda.is_available() else "CUDA devices here"
    assert message in beyond
    assert not any(tmp_path.iterdir())  # refused before any work


def test_the_kept_kernel_documentation_is_the_corpus_of_the_studies(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import _common as C

    corpus = C.load_corpus(C.LINUX_DOC)  # read from the repository, not from an installed package
    assert corpus.fingerprint == C.LINUX_DOC_FINGERPRINT and len(corpus.train) > 16_000_000
    damaged = tmp_path / "linux-doc.txt.xz"
    damaged.write_bytes(lzma.compress(lzma.decompress(C.LINUX_DOC_FILE.read_bytes())[:-1], preset=0))
    monkeypatch.setattr(C, "LINUX_DOC_FILE", damaged)
    C.load_corpus.cache_clear()
    with pytest.raises(SystemExit, match="fingerprint .* not a3bd529ef4e94c6b: restore it with git checkout"):
        C.load_corpus(C.LINUX_DOC)
