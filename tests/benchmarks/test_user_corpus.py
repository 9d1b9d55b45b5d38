"""The training benchmarks run on a corpus the user names (a file or a folder), not only the default."""

from __future__ import annotations

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


def test_proxy_correlation_on_a_corpus_folder(corpus: Path, tmp_path: Path) -> None:
    run("proxy_correlation.py", "--corpus", str(corpus), "--out", str(tmp_path))
    result = json.loads((tmp_path / "proxy_correlation.json").read_text())
    assert result["corpus"]["name"] == str(corpus) and result["finished"] == 3
    assert result["corpus"]["train_bytes"] + result["corpus"]["val_bytes"] == size(corpus / "a.txt", corpus / "b.md")


def test_a_missing_or_tiny_corpus_is_a_clear_error(tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("too short. " * 100, encoding="utf-8")  # under 40 bytes the library's Corpus refuses it first
    for corpus, message in ((tmp_path / "nope", "neither"), (tiny, "need at least")):
        cmd = [sys.executable, str(ROOT / "benchmarks" / "designs.py"), "--quick", "--corpus", str(corpus),
               "--out", str(tmp_path / "out")]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode != 0 and message in done.stderr


@pytest.mark.parametrize("script", ["designs.py", "proxy_correlation.py", "replication.py", "token_budget.py"])
def test_a_device_torch_cannot_train_on_is_a_clear_error(script: str, tmp_path: Path) -> None:
    import torch

    bogus = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--device", "tpu", "--out",
                            str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bogus.returncode == 2 and "argument --device: 'tpu' is not cpu, cuda or cuda:N" in bogus.stderr
    beyond = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--device", "cuda:64", "--no-train",
                             "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    message = "sees no CUDA device here; use --device cpu" if not torch.cuda.is_available() else "CUDA devices here"
    assert beyond.returncode == 2 and message in beyond.stderr and "Traceback" not in bogus.stderr + beyond.stderr
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
