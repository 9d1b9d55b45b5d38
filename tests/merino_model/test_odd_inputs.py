"""Odd inputs to the torch model and its Hugging Face wrapper: one clear ModelInputError, never torch's own error
or a silently wrong answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mpsolve.merino_model import KVCache, ModelInputError, build
from mpsolve.spaces import Architecture, Block


def _arch(layers: int = 2, max_positions: int = 16) -> Architecture:
    return Architecture(blocks=(Block(64, 1.0, layers),), vocab_size=256, embed_proj_dim=64,
                        max_positions=max_positions, head_dim=32)


def test_byte_ids_of_any_integer_dtype_run_as_int64() -> None:
    model = build(_arch()).eval()
    prompt = torch.tensor([[7, 8, 9]])
    expected = model.generate(prompt, 3)
    for dtype in (torch.uint8, torch.int8, torch.int16):  # torch.frombuffer(b"...", dtype=torch.uint8)
        assert torch.equal(model.generate(prompt.to(dtype), 3), expected)
        assert torch.equal(model(prompt.to(dtype)).logits, model(prompt).logits)


def test_attention_mask_must_be_a_tensor_of_zeros_and_ones() -> None:
    model = build(_arch()).eval()
    ids = torch.tensor([[0, 1, 2], [3, 4, 5]])
    with pytest.raises(ModelInputError, match="attention_mask must be a torch tensor of 0 and 1, got list"):
        model.generate(ids, 2, attention_mask=[[0, 1, 1], [1, 1, 1]])
    # 0.5 counted as padding for the positions but as a real token for the attention
    for value in (0.5, 2):
        mask = torch.tensor([[value, 1, 1], [1, 1, 1]])
        with pytest.raises(ModelInputError, match=r"attention_mask must hold 0 \(padding\) and 1 \(real token\) only"):
            model.generate(ids, 2, attention_mask=mask)
    with pytest.raises(ModelInputError, match=r"attention_mask must have shape \(batch, past \+ seq\) = \(2, 3\)"):
        model(ids, attention_mask=torch.ones(2, 4), position_ids=torch.arange(3)[None])
    float_mask = torch.tensor([[0.0, 1, 1], [1, 1, 1]])
    assert torch.equal(model.generate(ids, 2, attention_mask=float_mask),
                       model.generate(ids, 2, attention_mask=float_mask.long()))


def test_position_ids_are_checked_against_max_positions() -> None:
    model = build(_arch()).eval()
    ids = torch.tensor([[1, 2, 3]])
    with pytest.raises(ModelInputError, match=r"position_ids must be in \[0, 16\) \(max_positions\), got positions "
                                              r"from 0 to 16: the sequence is longer"):
        model(ids, position_ids=torch.tensor([[0, 1, 16]]))
    with pytest.raises(ModelInputError, match="got positions from -1 to 1$"):
        model(ids, position_ids=torch.tensor([[0, 1, -1]]))
    with pytest.raises(ModelInputError, match=r"position_ids must have shape \(batch, seq\) = \(1, 3\), got \(1, 2\)"):
        model(ids, position_ids=torch.tensor([[0, 1]]))
    with pytest.raises(ModelInputError, match="position_ids must be an int64 torch tensor, got torch.float32"):
        model(ids, position_ids=torch.tensor([[0.0, 1, 2]]))
    assert torch.equal(model(ids, position_ids=torch.arange(3)[None]).logits, model(ids).logits)


def test_hf_generate_past_max_positions_is_a_clear_error() -> None:
    pytest.importorskip("transformers")
    from mpsolve.merino_model import MeRinoHFForCausalLM

    hf = MeRinoHFForCausalLM.from_model(build(_arch()).eval()).eval()
    # transformers passes position_ids, so the model's own length check was skipped: torch's IndexError
    with pytest.raises(ModelInputError, match=r"position_ids must be in \[0, 16\).*longer than the model's"):
        hf.generate(torch.tensor([[1, 2, 3]]), max_new_tokens=20, do_sample=False)
    with pytest.raises(ModelInputError, match="MeRino needs a cache that grows with the sequence"):
        hf.generate(torch.tensor([[1, 2, 3]]), max_new_tokens=3, do_sample=False, cache_implementation="static")


def test_a_cache_of_another_model_or_batch_is_refused() -> None:
    model, deeper = build(_arch(2)).eval(), build(_arch(3)).eval()
    prompt = torch.tensor([[1, 2, 3]])
    cache = model(prompt, use_cache=True).past_key_values
    # a 3-slot model on a 2-slot cache: its third layer saw only the new token (silently wrong logits)
    with pytest.raises(ModelInputError, match="this model has 3 layer applications: pass the cache this model"):
        deeper(torch.tensor([[4]]), past_key_values=cache)
    with pytest.raises(ModelInputError, match="past_key_values holds 1 sequence"):
        model(torch.tensor([[4], [5]]), past_key_values=cache)
    with pytest.raises(ModelInputError, match="past_key_values must be a KVCache or a transformers Cache"):
        model(prompt, past_key_values=((torch.zeros(1), torch.zeros(1)),))
    step = model(torch.tensor([[4]]), past_key_values=cache, use_cache=True).logits
    assert torch.allclose(step[:, -1], model(torch.tensor([[1, 2, 3, 4]])).logits[:, -1], atol=1e-5)
    assert isinstance(cache, KVCache)


def test_onnx_odd_inputs_are_clear_errors(tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper, save_model

    from mpsolve.merino_model import compare_onnx, export_onnx, onnx_generate, verify_onnx

    # torch.export cannot make a dimension of at most 1 dynamic: its traceback, exit status 1 from mpsolve export
    for positions, kv_cache in ((1, False), (2, True)):
        with pytest.raises(ModelInputError, match=f"export_onnx needs max_positions >= {positions + 1}"):
            export_onnx(build(_arch(max_positions=positions)), tmp_path / "few.onnx", kv_cache=kv_cache)
    assert not (tmp_path / "few.onnx").exists()
    model = build(_arch(max_positions=8)).eval()
    path = export_onnx(model, tmp_path / "m.onnx")
    with pytest.raises(ModelInputError, match="another architecture than the model's .vocab_size differ."):
        verify_onnx(build(_arch(max_positions=8).replace(vocab_size=300)), path)  # numpy's broadcast error
    with pytest.raises(ModelInputError, match="input_ids must hold at least one token per row"):
        verify_onnx(model, path, np.zeros((1, 0), np.int64))
    with pytest.raises(ModelInputError, match="input_ids must hold at least one token per row"):
        compare_onnx(path, path, np.zeros((1, 0), np.int64))
    with pytest.raises(ModelInputError, match="sequence of 9 tokens exceeds max_positions=8; shorten the prompt$"):
        compare_onnx(path, path, np.zeros((1, 9), np.int64))  # ORT's Gather error
    cached = export_onnx(model, tmp_path / "kv.onnx", kv_cache=True)
    with pytest.raises(ModelInputError, match="shorten the prompt or decode_steps$"):  # it said max_new_tokens
        verify_onnx(model, cached, np.zeros((1, 4), np.int64), decode_steps=6)
    # a cache graph of another exporter, heads and head_dim symbolic: _run's TypeError
    shape = ["b", "h", "p", "d"]
    kvs = ("key", "value")
    graph = helper.make_graph(
        [helper.make_node("Gather", ["emb", "input_ids"], ["logits"]),
         *(helper.make_node("Identity", [f"past_key_values.0.{kv}"], [f"present.0.{kv}"]) for kv in kvs)],
        "foreign",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "s"]),
         *(helper.make_tensor_value_info(f"past_key_values.0.{kv}", TensorProto.FLOAT, shape) for kv in kvs)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", "s", 10]),
         *(helper.make_tensor_value_info(f"present.0.{kv}", TensorProto.FLOAT, shape) for kv in kvs)],
        [numpy_helper.from_array(np.ones((10, 10), np.float32), "emb")],
    )
    save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), tmp_path / "foreign.onnx")
    with pytest.raises(ModelInputError, match="has a cache input 'past_key_values.0.key' of shape"):
        onnx_generate(tmp_path / "foreign.onnx", [[1, 2]], 2)


def _looping_lm(path) -> None:
    """Save a causal-LM graph (with a KV cache input) whose logits wait on a Loop of 10**15 iterations."""
    import onnx
    from onnx import TensorProto, helper

    body = helper.make_graph(
        [helper.make_node("Identity", ["cond"], ["cond_out"]), helper.make_node("Identity", ["v"], ["v_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [])])
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["n"], value=helper.make_tensor("n", TensorProto.INT64, [], [10**15])),
         helper.make_node("Constant", [], ["go"], value=helper.make_tensor("go", TensorProto.BOOL, [], [True])),
         helper.make_node("Constant", [], ["zero"], value=helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])),
         helper.make_node("Loop", ["n", "go", "zero"], ["v_end"], body=body),
         helper.make_node("Cast", ["input_ids"], ["ids"], to=TensorProto.FLOAT),
         helper.make_node("Constant", [], ["axis"], value=helper.make_tensor("axis", TensorProto.INT64, [1], [2])),
         helper.make_node("Unsqueeze", ["ids", "axis"], ["ids3"]),
         helper.make_node("Add", ["ids3", "v_end"], ["logits"]),
         helper.make_node("Identity", ["past_key_values.0.key"], ["present.0.key"])], "lm",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("past_key_values.0.key", TensorProto.FLOAT, ["batch", 2, "past", 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "seq", 3]),
         helper.make_tensor_value_info("present.0.key", TensorProto.FLOAT, ["batch", 2, "past", 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))


@pytest.mark.timeout(120, method="thread")  # a regression runs the loop in ONNX Runtime, out of a signal's reach
def test_a_graph_with_control_flow_is_refused_before_it_runs(tmp_path) -> None:
    """Before: a graph handed to generate with a Loop of 10**15 iterations ran until killed (found by the security
    audit); so did a session of it handed to generate (as mpsolve generate does) and model_latency on its file,
    which went around the check; mpsolve's exports hold no control flow."""
    from mpsolve.merino_model import model_latency, onnx_generate, onnx_session

    path = tmp_path / "loop.onnx"
    _looping_lm(path)
    refused = r"holds control flow \(Loop\), which no graph that export_onnx writes does: give a file that "
    for call in (lambda: onnx_generate(path, torch.tensor([[0, 0]]), max_new_tokens=1),
                 lambda: onnx_generate(onnx_session(path, 1), torch.tensor([[0, 0]]), max_new_tokens=1),
                 lambda: model_latency(str(path), 4, threads=1, phase="decode", min_run_time=0.01)):
        with pytest.raises(ModelInputError, match=refused + "export_onnx or mpsolve export wrote$"):
            call()


def test_weights_stored_outside_the_graphs_folder_are_refused(tmp_path) -> None:
    """Before: where a graph's weights stored apart may lie was left to ONNX Runtime, whose refusal of other folders
    was checked on 1.32 only (the package allows 1.18 up); mpsolve's exports keep them beside the graph."""
    import onnx
    from onnx import TensorProto, helper

    from mpsolve.merino_model import onnx_session

    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "w.bin").write_bytes(bytes(16))
    (tmp_path / "graphs").mkdir()
    (tmp_path / "graphs" / "link.bin").symlink_to(tmp_path / "elsewhere" / "w.bin")
    (tmp_path / "graphs" / "here.bin").write_bytes(bytes(16))
    for location in (str(tmp_path / "elsewhere" / "w.bin"), "../elsewhere/w.bin", "link.bin", "here.bin"):
        weight = helper.make_tensor("w", TensorProto.FLOAT, [4], bytes(16), raw=True)
        onnx.external_data_helper.set_external_data(weight, location)
        weight.ClearField("raw_data")
        weight.data_location = TensorProto.EXTERNAL
        graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [weight])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
        path = tmp_path / "graphs" / "g.onnx"
        onnx.save(model, str(path))
        if location == "here.bin":  # beside the graph: loads
            assert onnx_session(path, 1).run(None, {"x": np.ones(4, np.float32)})[0].tolist() == [1.0] * 4
            with pytest.raises(ModelInputError, match=r"^this graph reads weights from 'here\.bin', outside its folder "
                                                      r"\(a serialised model's weights must be in it\)"):
                onnx_session(model.SerializeToString(), 1)
            continue
        with pytest.raises(ModelInputError, match=r"^'.*g\.onnx' reads weights from '.*', outside its folder \(weights "
                                                  r"stored apart must lie in the graph's folder\): give a file"):
            onnx_session(path, 1)
