"""The library training loop: recipe, evaluation, checkpoints and resume, the benchmarks' parity."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mpsolve.merino_model import (  # noqa: E402
    TrainConfig,
    load_corpus,
    train,
)

ROOT = Path(__file__).resolve().parents[2]
TINY = TrainConfig(tokens=20 * 4 * 32, seq_len=32, batch_size=4, eval_tokens=256, checkpoints=(0.5, 1.0))


def _text(n_bytes: int) -> str:
    """Deterministic English-like text: seeded words from a small vocabulary."""
    words = "the model learns to predict the next byte of text from the bytes before it and".split()
    rng = np.random.default_rng(7)
    out, size = [], 0
    while size < n_bytes:
        sentence = " ".join(rng.choice(words, size=int(rng.integers(4, 12)))) + ". "
        out.append(sentence)
        size += len(sentence)
    return "".join(out)


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 270 KB: the smallest corpus the benchmarks accept (four 64 KiB blocks)."""
    path = tmp_path_factory.mktemp("corpus") / "text.txt"
    path.write_text(_text(270_000), encoding="utf-8")
    return path


def test_benchmark_training_is_the_library_loop(corpus_file, make_tiny_architecture, tmp_path):
    """A benchmark job trains through the library loop with the same numbers as before it moved."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import _common as C
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    arch = make_tiny_architecture(shared=True)
    job = C.Job(arch=arch.to_dict(), config=TINY.to_dict(), seed=3, corpus=str(corpus_file), cache_dir=str(tmp_path))
    record = C.train(job)
    run = train(arch, load_corpus(corpus_file, block_size=1 << 16), TINY, seed=3, progress=False, device="cpu")
    assert [c["val_loss"] for c in record["checkpoints"]] == [e["val_loss"] for e in run.evaluations]
    assert [c["train_loss"] for c in record["checkpoints"]] == [e["train_loss"] for e in run.evaluations]
    assert record["val_loss"] == run.val_loss
