"""ONNX export, ONNX Runtime inference against torch, and ORT dynamic INT8."""

from __future__ import annotations

import copy

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
torch = pytest.importorskip("torch")

from onnx import TensorProto, helper, save_model  # noqa: E402

from mpsolve.merino_model import (  # noqa: E402
    Corpus,
    ModelInputError,
    TrainConfig,
    build,
    compare_onnx,
    export_onnx,
    model_latency,
    onnx_generate,
    quantize,
    quantize_onnx,
    train,
    verify_onnx,
)
from mpsolve.utils.errors import MpsolveError  # noqa: E402

pytestmark = pytest.mark.slow

#: ORT vs torch fp32 logits, max abs diff over max |logit|: measured 2.7e-7 (trained shared model,
#: 1.9e-6 at logits up to 7.0), 5.7e-7 (untrained unshared, 3e-7 at 0.53) and 3.7e-7 (the
#: walk-through, 3.6e-6 at 9.7): a few fp32 epsilons; the tolerance leaves a margin of 17x and more
FP32_REL_TOL = 1e-5
TEXT = b"the quick brown fox jumps over the lazy dog. " * 40


def _trained(architecture) -> torch.nn.Module:
    """The tiny model after 100 steps on repetitive text: confident, non-trivial logits."""
    config = TrainConfig(tokens=100 * 8 * 32, seq_len=32, batch_size=8, eval_tokens=64, checkpoints=(1.0,))
    return train(architecture, Corpus.from_bytes(TEXT), config, progress=False).model.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, make_tiny_architecture):
    """The trained shared tiny model (projections, shared blocks) and its two ONNX graphs."""
    folder = tmp_path_factory.mktemp("onnx")
    model = _trained(make_tiny_architecture(shared=True))
    return model, export_onnx(model, folder / "prefill.onnx"), export_onnx(model, folder / "kv.onnx", kv_cache=True)


def _prompt(n: int = 12, batch: int = 2) -> torch.Tensor:
    return torch.stack([torch.tensor(list(TEXT[i * 7 : i * 7 + n])) for i in range(batch)])


@pytest.mark.parametrize("graph", ["prefill", "kv"])
def test_onnx_logits_match_torch_for_prefill_and_16_decode_steps(exported, graph):
    model, prefill, kv = exported
    report = verify_onnx(model, prefill if graph == "prefill" else kv, _prompt(), decode_steps=16)
    assert report["graph"] == ("prefill" if graph == "prefill" else "kv_cache")
    assert report["decode_steps"] == 16
    assert report["max_abs_logit"] > 1.0  # trained: the tolerance is not met by tiny logits
    assert report["prefill_max_abs_diff"] < FP32_REL_TOL * report["max_abs_logit"]
    assert report["decode_max_abs_diff"] < FP32_REL_TOL * report["max_abs_logit"]
    assert report["top1_agreement"] == 1.0


def test_unshared_design_exports_with_a_cache_slot_per_layer(tmp_path, make_tiny_architecture):
    model = build(make_tiny_architecture(shared=False), seed=1).eval()
    path = export_onnx(model, tmp_path / "kv.onnx", kv_cache=True)
    import onnxruntime as ort

    inputs = [i.name for i in ort.InferenceSession(str(path)).get_inputs()]
    assert inputs == ["input_ids", *(f"past_key_values.{i}.{kv}" for i in range(5) for kv in ("key", "value"))]
    report = verify_onnx(model, path, decode_steps=16)
    tolerance = FP32_REL_TOL * report["max_abs_logit"]
    assert report["prefill_max_abs_diff"] < tolerance and report["decode_max_abs_diff"] < tolerance


def test_ort_greedy_generation_equals_torch(exported):
    model, prefill, kv = exported
    prompt = _prompt(n=10)
    expected = model.generate(prompt, max_new_tokens=24).numpy()
    assert np.array_equal(onnx_generate(kv, prompt, max_new_tokens=24), expected)
    assert np.array_equal(onnx_generate(prefill, prompt, max_new_tokens=24), expected)
    assert not np.array_equal(expected[:, 10:], np.full_like(expected[:, 10:], expected[0, 10]))  # not one token
    one = onnx_generate(kv, prompt[:1, :1], max_new_tokens=5)  # a one-token prompt: past and seq of 1
    assert np.array_equal(one, model.generate(prompt[:1, :1], max_new_tokens=5).numpy())


def test_a_padded_batch_is_refused_not_continued_as_text(exported):
    """Tokenizers now pad (with byte 0's token) as a checkpoint's AutoTokenizer does; the graphs take no mask."""
    from mpsolve.merino_model import byte_tokenizer

    _, _, kv = exported
    batch = byte_tokenizer()(["7 times 8 is", "9 times"], padding=True, return_tensors="np")
    with pytest.raises(ModelInputError, match="attention_mask marks padding, which ONNX graphs cannot skip"):
        onnx_generate(kv, **batch, max_new_tokens=2)
    alone = byte_tokenizer()(["7 times 8 is"], return_tensors="np")  # a mask of ones: accepted
    assert np.array_equal(onnx_generate(kv, **alone, max_new_tokens=2), onnx_generate(kv, alone["input_ids"], 2))


def test_a_last_logits_graph_generates_the_same_and_is_checked_on_its_position(exported, tmp_path):
    model, _, kv = exported
    last = export_onnx(model, tmp_path / "last.onnx", kv_cache=True, logits="last")
    import onnxruntime as ort

    session = ort.InferenceSession(str(last))
    prompt = _prompt(n=10)
    report = verify_onnx(model, last, prompt, decode_steps=16)
    assert report["max_abs_logit"] > 1.0 and report["top1_agreement"] == 1.0
    assert report["prefill_max_abs_diff"] < FP32_REL_TOL * report["max_abs_logit"]
    assert report["decode_max_abs_diff"] < FP32_REL_TOL * report["max_abs_logit"]
    empty = {i.name: np.zeros((2, i.shape[1], 0, i.shape[3]), np.float32) for i in session.get_inputs()[1:]}
    assert session.run(["logits"], {"input_ids": prompt.numpy(), **empty})[0].shape == (2, 1, 256)
    assert np.array_equal(onnx_generate(last, prompt, max_new_tokens=24), model.generate(prompt, 24).numpy())
    with pytest.raises(ModelInputError, match="the candidate graph returns the last position's logits only"):
        compare_onnx(kv, last, prompt)
    with pytest.raises(ModelInputError, match="logits must be one of all, last"):
        export_onnx(model, tmp_path / "x.onnx", logits="first")


def test_onnx_generate_stops_at_eos_and_pads(exported):
    model, _, kv = exported
    prompt = _prompt(n=10)
    eos = int(model.generate(prompt[:1], max_new_tokens=3)[0, -1])
    expected = model.generate(prompt, max_new_tokens=20, eos_token_id=eos, pad_token_id=0).numpy()
    assert np.array_equal(onnx_generate(kv, prompt, 20, eos_token_id=eos, pad_token_id=0), expected)


def test_bad_inputs_raise_clear_errors(exported, tmp_path):
    model, prefill, kv = exported
    with pytest.raises(ModelInputError, match="max_positions=64"):
        onnx_generate(kv, _prompt(n=60), max_new_tokens=10)
    with pytest.raises(ModelInputError, match="MeRinoForCausalLM"):
        export_onnx(torch.nn.Linear(2, 2), tmp_path / "x.onnx")
    with pytest.raises(ModelInputError, match="shape"):
        onnx_generate(kv, [1, 2, 3])
    with pytest.raises(ModelInputError, match=r"must be in \[0, 256\) \(the vocabulary\), got ids from 3 to 999"):
        onnx_generate(kv, np.array([[3, 999]]))
    for graph in (prefill, kv):  # an empty batch came back empty
        with pytest.raises(ModelInputError, match="^generate needs at least one prompt, got input_ids with no rows$"):
            onnx_generate(graph, np.zeros((0, 3), dtype=np.int64))
    text = tmp_path / "notes.txt"
    text.write_text("not a graph")
    for bad, message in ((tmp_path / "missing.onnx", "missing.onnx' does not exist; give the path export_onnx wrote"),
                         (tmp_path, "is not an ONNX file"), (text, "ONNX Runtime cannot load")):
        with pytest.raises(ModelInputError, match=message):
            verify_onnx(model, bad)
        with pytest.raises(ModelInputError, match=message):
            quantize_onnx(bad, tmp_path / "q.onnx")
        with pytest.raises(ModelInputError, match=message):
            onnx_generate(bad, _prompt())
    with pytest.raises(ModelInputError, match="is the fp32 model"):
        quantize_onnx(kv, kv)
    foreign = tmp_path / "foreign.onnx"  # a valid graph that is no language model
    save_model(helper.make_model(helper.make_graph(
        [helper.make_node("Identity", ["input_ids"], ["y"])], "g",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, None])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, [1, None])])), str(foreign))
    cases = [  # before: ORT's Gather wrapped -1 round, and raw numpy, broadcast or TypeErrors
        (lambda: compare_onnx(kv, kv, [[-1, 2]]), r"must be in \[0, 256\) \(the vocabulary\), got ids from -1"),
        (lambda: onnx_generate(kv, [[1, 2], [3]], 2), r"shape \(batch, seq\): rows of one length"),
        (lambda: compare_onnx(kv, foreign, [[1, 2]]), "is not a causal-LM graph"),
        (lambda: verify_onnx(model, kv, decode_steps=-1), "decode_steps must be a non-negative integer, got -1"),
        (lambda: export_onnx(model, tmp_path / "o.onnx", opset="x"), "opset must be an integer >= 17, got 'x'"),
        (lambda: export_onnx(model, tmp_path / "o.onnx", opset=13), "opset must be an integer >= 17, got 13"),
        # before: a ConversionError's traceback from torch's exporter, after the export's seconds
        (lambda: export_onnx(model, tmp_path / "o.onnx", opset=2**40), r"^opset 1099511627776 is beyond the latest "
         "the installed onnx .* knows"),
        (lambda: quantize_onnx(kv, tmp_path), "must end in .onnx"),
        # a truthy string was taken as True, silently
        (lambda: export_onnx(model, tmp_path / "o.onnx", kv_cache="no"), "^kv_cache must be True or False, got 'no'$"),
        (lambda: export_onnx(model, tmp_path / "o.onnx", external_data="no"), "^external_data must be True or False"),
        (lambda: quantize_onnx(kv, tmp_path / "q4.onnx", per_channel="no"), "^per_channel must be True or False"),
        (lambda: export_onnx(quantize(model, "int8"), tmp_path / "q3.onnx"),
         "export the fp32 model and quantise the ONNX file with quantize_onnx"),  # was a TorchExportError
    ]
    (tmp_path / "dir.onnx").mkdir()
    cases.append((lambda: quantize_onnx(kv, tmp_path / "dir.onnx"), "is a folder; give a file path"))
    symbolic = tmp_path / "symbolic.onnx"  # a KV-cache graph whose vocabulary dimension has no size
    save_model(helper.make_model(helper.make_graph(
        [helper.make_node("Identity", ["past_key_values.0.key"], ["logits"])], "g",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, None]),
         helper.make_tensor_value_info("past_key_values.0.key", TensorProto.FLOAT, [1, None, "vocab"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, None, "vocab"])])), str(symbolic))
    cases += [
        (lambda: model_latency(symbolic, 4, 1, phase="decode", min_run_time=0.01), "vocabulary size symbolic"),
        (lambda: model_latency(prefill, 4, 1, phase="decode", min_run_time=0.01), "is a prefill graph"),
    ]
    for call, message in cases:
        with pytest.raises(MpsolveError, match=message):
            call()
    broken = copy.deepcopy(model)
    with torch.no_grad():
        next(broken.parameters()).fill_(float("nan"))
    with pytest.raises(ModelInputError, match="logits are not finite"):
        verify_onnx(broken, kv, _prompt())


def test_an_opset_the_exporter_cannot_write_is_refused(exported, tmp_path, capfd):
    """Before: the converter's traceback on stderr, and a file mixing opsets that ONNX Runtime refused to load.
    The installed onnx's latest opset, which torch's exporter does not write (one beyond it is refused before the
    export)."""
    import onnx

    model, latest = exported[0], onnx.defs.onnx_opset_version()
    with pytest.raises(ModelInputError, match=rf"^torch's ONNX exporter cannot write this model in opset {latest} "
                                              r"\(its graph kept opset 18\): give a lower opset"):
        export_onnx(model, tmp_path / "o.onnx", opset=latest)
    assert "Traceback" not in capfd.readouterr().err and not (tmp_path / "o.onnx").exists()


def test_missing_or_cut_external_weights_are_said_so(tmp_path):
    """ONNX Runtime's reason came after the 200 characters kept (missing), or not at all (cut short)."""
    weights = helper.make_tensor("w", TensorProto.FLOAT, [256], np.ones(256, np.float32).tobytes(), raw=True)
    x, y = (helper.make_tensor_value_info(name, TensorProto.FLOAT, [256]) for name in "xy")
    graph = helper.make_model(helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y],
                                                initializer=[weights]))
    save_model(graph, str(tmp_path / "m.onnx"), save_as_external_data=True, location="m.onnx.data", size_threshold=0)
    data = tmp_path / "m.onnx.data"
    data.write_bytes(data.read_bytes()[:100])
    with pytest.raises(ModelInputError, match=r"weights file \(stored beside it\) is shorter than the graph says"):
        onnx_generate(tmp_path / "m.onnx", _prompt())
    data.unlink()
    with pytest.raises(ModelInputError, match=r"^ONNX Runtime cannot load '.*m\.onnx': its weights file '.*m\.onnx\."
                                              r"data' is missing: keep the weights file .* or export it again$"):
        onnx_generate(tmp_path / "m.onnx", _prompt())


def test_ort_dynamic_int8_agrees_wherever_the_fp32_margin_is_clear(exported, tmp_path):
    _, _, kv = exported
    int8 = quantize_onnx(kv, tmp_path / "kv-int8.onnx")
    assert int8.stat().st_size < 0.8 * kv.stat().st_size
    ids = np.stack([np.frombuffer(TEXT[i * 50 : i * 50 + 64], dtype=np.uint8) for i in range(4)]).astype(np.int64)
    report = compare_onnx(kv, int8, ids)
    import onnxruntime as ort

    ref = ort.InferenceSession(str(kv))
    past = {i.name: np.zeros((4, i.shape[1], 0, i.shape[3]), np.float32) for i in ref.get_inputs()[1:]}
    fp32 = ref.run(["logits"], {"input_ids": ids, **past})[0]
    cand = ort.InferenceSession(str(int8)).run(["logits"], {"input_ids": ids, **past})[0]
    error = np.abs(fp32 - cand).max()
    assert error == pytest.approx(report["max_abs_diff"], rel=1e-6)
    top2 = np.sort(fp32, axis=-1)[..., -2:]
    clear = top2[..., 1] - top2[..., 0] > 2 * error
    # a margin above twice the max error cannot flip the argmax; measured: max error 0.12, 95 % clear
    assert clear.mean() > 0.5
    assert (fp32.argmax(-1) == cand.argmax(-1))[clear].all()
    # measured: loss 0.7208 (fp32) vs 0.7206 (INT8) nats per byte, |change| 2e-4 (250x margin)
    assert abs(report["loss_candidate"] - report["loss_reference"]) < 0.05
    assert report["top1_agreement"] > 0.9


def test_a_lean_graph_stores_its_table_once_and_computes_the_same(exported, tmp_path):
    """``lean=True`` stores the tied table once, as the head's ``(D, V)`` weight (the embedding gathers its columns):
    the logits and generations are the graph's own, the metadata says so, and onnx_session (and INT8) follow it."""
    import onnx

    from mpsolve.merino_model import onnx_session

    model, _, kv = exported
    lean = export_onnx(model, tmp_path / "lean.onnx", kv_cache=True, lean=True)
    prompt = _prompt(n=10)
    report = verify_onnx(model, lean, prompt, decode_steps=16)
    assert report["max_abs_logit"] > 1.0 and report["top1_agreement"] == 1.0
    assert report["prefill_max_abs_diff"] < FP32_REL_TOL * report["max_abs_logit"]
    assert report["decode_max_abs_diff"] < FP32_REL_TOL * report["max_abs_logit"]
    assert np.array_equal(onnx_generate(lean, prompt, 24), model.generate(prompt, 24).numpy())
    vocab, width = model.embed_tokens.weight.shape

    def tables(path):
        graph = onnx.load(str(path)).graph
        return sorted(list(t.dims) for t in graph.initializer if sorted(t.dims) == sorted([vocab, width]))

    assert tables(kv) == [[vocab, width]] and tables(lean) == [[width, vocab]]
    assert {p.key: p.value for p in onnx.load(str(lean)).metadata_props}["mpsolve.lean"] == "true"
    for path, off in ((kv, False), (lean, True)):
        options = onnx_session(path, 1).get_session_options()
        if off:
            assert options.get_session_config_entry("session.disable_prepacking") == "1"
        else:
            with pytest.raises(RuntimeError, match="does not have configuration"):
                options.get_session_config_entry("session.disable_prepacking")
    # INT8 of a lean graph keeps the table once (the default's folds the head's transpose into a second copy)
    int8, lean8 = quantize_onnx(kv, tmp_path / "int8.onnx"), quantize_onnx(lean, tmp_path / "lean-int8.onnx")
    assert len(tables(int8)) == 2 and tables(lean8) == [[width, vocab]]
    assert onnx_session(lean8, 1).get_session_options().get_session_config_entry("session.disable_prepacking") == "1"
    with pytest.raises(ModelInputError, match="lean must be True or False, got .no."):
        export_onnx(model, tmp_path / "x.onnx", lean="no")


def test_model_metadata_is_read_without_parsing_the_graph(exported, tmp_path):
    """The metadata scan reads what onnx reads, from a file, its bytes, or a graph whose weights are stored apart;
    bytes that are no model give nothing (ONNX Runtime then says why it cannot load them)."""
    import onnx

    from mpsolve.merino_model._onnx import _model_metadata

    _, prefill, _ = exported
    apart = tmp_path / "apart.onnx"  # its weights stored apart, and marked lean as export_onnx(lean=True) marks it
    graph = onnx.load(str(prefill))
    onnx.helper.set_model_props(graph, {**{p.key: p.value for p in graph.metadata_props}, "mpsolve.lean": "true"})
    onnx.save(graph, str(apart), save_as_external_data=True, all_tensors_to_one_file=True, size_threshold=0)
    assert apart.stat().st_size < prefill.stat().st_size / 2
    for path in (prefill, apart):
        expected = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        assert "mpsolve.architecture" in expected
        assert _model_metadata(path) == expected == _model_metadata(path.read_bytes())
    assert _model_metadata(apart)["mpsolve.lean"] == "true" and "mpsolve.lean" not in _model_metadata(prefill)
    for junk in (b"", b"not a model" * 100, b"\xff" * 100, prefill.read_bytes()[:1000]):
        assert isinstance(_model_metadata(junk), dict)


def _identity_model():
    """A one-node graph (``y = x``, float ``[1]``, opset 18): a loadable model that is no causal LM."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_a_lean_graph_is_found_lean_after_a_large_metadata_entry(tmp_path):
    """INT8's tools write the metadata in another order, so a BPE tokenizer's entry (over 1 MiB) can come before
    ``mpsolve.lean``: the scan skips it (it stopped there, and the INT8 of a lean graph was loaded with prepacking
    on)."""
    import onnx

    from mpsolve.merino_model import onnx_session
    from mpsolve.merino_model._onnx import _model_metadata

    model = _identity_model()
    helper.set_model_props(model, {"mpsolve.tokenizer": "t" * (2 << 20), "mpsolve.lean": "true"})
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    assert _model_metadata(path) == {"mpsolve.lean": "true"} == _model_metadata(path.read_bytes())
    options = onnx_session(path, 1).get_session_options()
    assert options.get_session_config_entry("session.disable_prepacking") == "1"


@pytest.mark.parametrize("threads", [1, 3])
def test_a_session_without_threads_takes_torchs_setting(tmp_path, threads):
    """Before: ONNX Runtime's own default, a thread a physical core spinning between calls, whatever torch (or
    ``OMP_NUM_THREADS``) was set to: two test processes on two cores each kept both busy with it."""
    from mpsolve.merino_model import onnx_session
    from mpsolve.merino_model._onnx import _session

    path = tmp_path / "m.onnx"
    save_model(_identity_model(), str(path))
    torch.set_num_threads(threads)  # the autouse one_torch_thread fixture restores it
    for session in (onnx_session(path), _session(path), _session(path.read_bytes())):
        options = session.get_session_options()
        assert (options.intra_op_num_threads, options.inter_op_num_threads) == (threads, 1)
    assert onnx_session(path, 1).get_session_options().intra_op_num_threads == 1  # given, it is kept
    for bad in ("two", 0, -1, 2.5, True):  # before: "ONNX Runtime cannot load ...: incompatible function arguments"
        with pytest.raises(ModelInputError, match=r"^threads must be a positive integer, got "):  # 0, -1: taken
            onnx_session(path, bad)


def test_a_field_longer_than_the_file_leaves_the_error_to_onnx_runtime(tmp_path):
    """A length past the end of the file stops the metadata scan; at 2**63 and over, seeking there raised OSError
    (a file: 'ONNX Runtime cannot load ...: [Errno 22] Invalid argument') or OverflowError (bytes)."""
    from mpsolve.merino_model import onnx_session
    from mpsolve.merino_model._onnx import _model_metadata

    def varint(n: int) -> bytes:
        out = b""
        while n >> 7:
            out, n = out + bytes([0x80 | n & 0x7F]), n >> 7
        return out + bytes([n])

    for field in (7, 14):  # the graph, a metadata entry
        for length in (1 << 20, 1 << 63, (1 << 64) - 1):
            junk = varint(field << 3 | 2) + varint(length) + b"x" * 100
            path = tmp_path / "junk.onnx"
            path.write_bytes(junk)
            assert _model_metadata(path) == {} == _model_metadata(junk)
            with pytest.raises(ModelInputError, match=r"ONNX Runtime cannot load .*junk.onnx.: \[ONNXRuntimeError\]"):
                onnx_session(path, 1)
            with pytest.raises(ModelInputError, match=r"^ONNX Runtime cannot load the serialised model: "
                                                      r"\[ONNXRuntimeError\]"):  # before: ORT's own exception
                onnx_session(junk, 1)


def test_hf_wrapper_verifies_against_the_same_graph(exported):
    pytest.importorskip("transformers")
    from mpsolve.merino_model import MeRinoHFForCausalLM

    model, _, kv = exported
    report = verify_onnx(MeRinoHFForCausalLM.from_model(model), kv, _prompt(), decode_steps=4)
    assert report["decode_max_abs_diff"] < FP32_REL_TOL * report["max_abs_logit"]


def test_missing_onnx_packages_name_the_extra(monkeypatch, tmp_path, make_tiny_architecture):
    import importlib.util

    from mpsolve.merino_model import MissingDependencyError

    find_spec = importlib.util.find_spec
    model = build(make_tiny_architecture(), seed=0)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else find_spec(name))
    with pytest.raises(MissingDependencyError, match=r"mpsolve\[onnx\]"):
        export_onnx(model, tmp_path / "x.onnx")


def test_an_export_prints_nothing_but_its_result(tmp_path) -> None:
    """torch's exporter logged four 'torchvision is not installed' lines on the first export of every process."""
    import json
    import subprocess
    import sys

    from mpsolve.cli import main

    arch = {"blocks": [{"embed_dim": 64, "ffn_ratio": 2.0, "layers": 1}], "vocab_size": 64, "embed_proj_dim": 64,
            "max_positions": 16}
    (tmp_path / "arch.json").write_text(json.dumps(arch))
    assert main(["build", str(tmp_path / "arch.json"), "--out", str(tmp_path / "ck")]) == 0
    run = subprocess.run([sys.executable, "-m", "mpsolve.cli", "export", str(tmp_path / "ck"), "--onnx",
                          str(tmp_path / "m.onnx")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    assert run.stdout.startswith("wrote ") and run.stdout.count("\n") == 1


def test_a_failed_symbolic_shape_inference_leaves_no_file_and_falls_back(tmp_path, monkeypatch) -> None:
    """Before: ORT's symbolic shape inference, failing, left sym_shape_infer_temp.onnx and its data in the working
    folder and raised ORT's bare Exception. Now it runs in a temporary folder and quantize_onnx quantises without
    it, as a latency profile's component graphs are."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    def incomplete(self) -> bool:  # ORT's own failure path: it saves the model it has, then raises
        self.run_ = False
        return False

    weight = onnx.numpy_helper.from_array(np.random.default_rng(0).standard_normal((16, 16)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "tiny",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 16])], [weight])
    (tmp_path / "in").mkdir()
    save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "in" / "fp32.onnx")
    inferred = quantize_onnx(tmp_path / "in" / "fp32.onnx", tmp_path / "inferred.onnx")  # with the inference
    monkeypatch.setattr(SymbolicShapeInference, "_infer_impl", incomplete)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    int8 = quantize_onnx(tmp_path / "in" / "fp32.onnx", tmp_path / "int8.onnx")
    assert list(work.iterdir()) == []
    assert "MatMulInteger" in [n.op_type for n in onnx.load(str(int8)).graph.node]
    x = np.random.default_rng(1).standard_normal((2, 16)).astype(np.float32)
    outputs = [ort.InferenceSession(str(path)).run(None, {"x": x})[0] for path in (inferred, int8)]
    np.testing.assert_array_equal(*outputs)  # quantised alike


def test_quantising_without_symbolic_shape_inference_leaves_the_working_folder_alone(tmp_path, monkeypatch) -> None:
    """Before: every quantisation changed the process's working folder while ORT's pre-processing ran (a latency
    profile's component graphs too, which skip the symbolic shape inference that writes there): a thread beside it
    resolving a relative path read or wrote another folder. Now only that inference runs in a temporary folder."""
    import os

    import onnx

    from mpsolve.merino_model._onnx import _quantize_dynamic

    weight = onnx.numpy_helper.from_array(np.random.default_rng(0).standard_normal((16, 16)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "tiny",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 16])], [weight])
    save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "fp32.onnx")

    def moved(path) -> None:
        raise AssertionError(f"the working folder was changed to {path!r}")

    monkeypatch.setattr(os, "chdir", moved)
    _quantize_dynamic(tmp_path / "fp32.onnx", tmp_path / "int8.onnx", symbolic=False)
    assert "MatMulInteger" in [n.op_type for n in onnx.load(str(tmp_path / "int8.onnx")).graph.node]
