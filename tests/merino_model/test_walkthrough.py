"""From design to device, end to end on a tiny scale: the walk-through a user follows.

design (solve a tiny space under a parameter budget) -> train on a small byte-level corpus ->
evaluate -> export to ONNX with a KV cache -> verify and generate in ONNX Runtime -> INT8.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

pytestmark = pytest.mark.slow

TEXT = "".join(f"{n} times {m} is {n * m}. " for n in range(2, 10) for m in range(2, 10)) * 8


def test_design_train_evaluate_export_generate(tmp_path):
    import mpsolve
    from mpsolve import Budget, Problem
    from mpsolve.merino_model import (
        Corpus,
        TrainConfig,
        compare_onnx,
        evaluate,
        export_onnx,
        onnx_generate,
        quantize_onnx,
        train,
        verify_onnx,
    )
    from mpsolve.spaces import SearchSpace

    # 1. design: the highest-entropy 2-block model of at most 150k parameters (byte vocabulary)
    space = SearchSpace(2, (64, 128), (1.0, 2.0), (1, 2), vocab_size=256, embed_proj_dim=64, max_positions=64,
                        head_dim=32)
    result = mpsolve.solve(Problem(space, constraints=[Budget("params", 150_000)]), "exhaustive", seed=0)
    assert result.status == "optimal" and result.costs["params"] <= 150_000

    # 2. train on the corpus (byte-level; 5 % held out), saving a Hugging Face checkpoint
    corpus = Corpus.from_bytes(TEXT.encode())
    config = TrainConfig(tokens=200 * 8 * 32, seq_len=32, batch_size=8, lr=3e-3, eval_tokens=1024)
    run = train(result.architecture, corpus, config, out_dir=tmp_path / "run", progress=False, seed=0)
    assert (tmp_path / "run" / "config.json").is_file() and (tmp_path / "run" / "model.safetensors").is_file()

    # 3. evaluate: bits per byte on the held-out text (measured 0.75), far below the 8 of a uniform guess
    quality = evaluate(run.model, corpus, seq_len=32)
    assert quality["bits_per_byte"] < 2.0, quality

    # 4. export with a KV cache and check ONNX Runtime against torch (prompt + 16 decoding steps)
    model = run.model.eval()
    path = export_onnx(model, tmp_path / "model.onnx", kv_cache=True)
    report = verify_onnx(model, path, decode_steps=16)
    tolerance = 1e-5 * report["max_abs_logit"]  # measured 3.7e-7 relative: see test_onnx.FP32_REL_TOL
    assert report["prefill_max_abs_diff"] < tolerance and report["decode_max_abs_diff"] < tolerance, report

    # 5. generate in ONNX Runtime: the same bytes as torch, text in the corpus's format (measured:
    #    "7 times 8 is 2. 2 times 2": the format is learned in 200 steps, the arithmetic is not)
    prompt = np.frombuffer(b"7 times 8 is ", dtype=np.uint8)[None].astype(np.int64)
    tokens = onnx_generate(path, prompt, max_new_tokens=12)
    assert np.array_equal(tokens, model.generate(torch.from_numpy(prompt), max_new_tokens=12).numpy())
    text = bytes(tokens[0].tolist()).decode()
    assert text.startswith("7 times 8 is ") and " times " in text[13:], text

    # 6. INT8 for the device: ORT dynamic quantisation, same top-1 on the held-out text (measured 1.0)
    int8 = quantize_onnx(path, tmp_path / "model-int8.onnx")
    held_out = corpus.val[: 2 * 32].astype(np.int64).reshape(2, 32)
    assert compare_onnx(path, int8, held_out)["top1_agreement"] > 0.9
