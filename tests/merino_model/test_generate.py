"""``mpsolve generate`` on a checkpoint (torch) and an exported graph (ONNX Runtime); streamers."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, save_model  # noqa: E402
from onnx import load as onnx_load  # noqa: E402

from mpsolve.cli import main  # noqa: E402
from mpsolve.merino_model import (  # noqa: E402
    Corpus,
    MeRinoHFForCausalLM,
    ModelInputError,
    build,
    checkpoint_tokenizer,
    export_onnx,
    onnx_generate,
    onnx_tokenizer,
    train_bpe_tokenizer,
    verify_onnx,
)
from mpsolve.spaces import Architecture  # noqa: E402

pytestmark = pytest.mark.slow

PROMPT = "the lazy fox"


class Recorder:
    """A streamer that keeps what it is given."""

    def __init__(self) -> None:
        self.calls: list = []

    def put(self, value: torch.Tensor) -> None:
        self.calls.append(value.tolist())

    def end(self) -> None:
        self.calls.append("end")


@pytest.fixture(scope="module", params=["bytes", "bpe"])
def checkpoint(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, make_tiny_architecture
) -> tuple[Path, Path]:
    """An untrained tiny checkpoint (with a BPE tokenizer.json for "bpe") and its CLI-exported KV graph."""
    folder = tmp_path_factory.mktemp(request.param)
    arch: Architecture = dataclasses.replace(make_tiny_architecture(), vocab_size=512)
    MeRinoHFForCausalLM.from_model(build(arch, seed=1)).save_pretrained(folder / "ckpt")
    if request.param == "bpe":
        corpus = Corpus.from_bytes(("the quick brown fox jumps over the lazy dog. " * 300).encode())
        train_bpe_tokenizer(corpus, vocab_size=300).save(str(folder / "ckpt" / "tokenizer.json"))
    onnx = folder / "m.onnx"
    assert main(["export", str(folder / "ckpt"), "--onnx", str(onnx), "--kv-cache"]) == 0
    return folder / "ckpt", onnx


def generate(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["generate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_greedy_cli_output_is_the_library_generation(checkpoint, capsys) -> None:
    ckpt, onnx = checkpoint
    tokenizer = checkpoint_tokenizer(ckpt)
    ids = tokenizer.encode(PROMPT, add_special_tokens=False)
    model = MeRinoHFForCausalLM.from_pretrained(ckpt).model.eval()
    expected_torch = model.generate(torch.tensor([ids]), 10)[0, len(ids):].tolist()
    expected_ort = onnx_generate(onnx, [ids], 10)[0, len(ids):].tolist()
    for target, expected in ((ckpt, expected_torch), (onnx, expected_ort)):
        code, out, _ = generate(capsys, str(target), "--prompt", PROMPT, "--max-new-tokens", "10", "--json")
        report = json.loads(out)
        assert code == 0 and report["prompt_tokens"] == len(ids) and report["new_tokens"] == 10
        assert report["ids"] == expected and report["text"] == tokenizer.decode(expected)
        assert report["runtime"] == ("onnxruntime" if target == onnx else "torch")
        assert report["time_to_first_token_ms"] > 0 and report["ms_per_token"] > 0


@pytest.mark.parametrize("checkpoint", ["bpe"], indirect=True)  # the logits are the graph's, not the tokenizer's
def test_a_last_logits_export_generates_from_the_cli(checkpoint, capsys, tmp_path: Path) -> None:
    ckpt, _ = checkpoint
    last = tmp_path / "last.onnx"
    assert main(["export", str(ckpt), "--onnx", str(last), "--kv-cache", "--logits", "last"]) == 0
    assert "max abs diff" in capsys.readouterr().out
    ids = checkpoint_tokenizer(ckpt).encode(PROMPT, add_special_tokens=False)
    report = json.loads(generate(capsys, str(last), "--prompt", PROMPT, "--max-new-tokens", "8", "--json")[1])
    assert report["ids"] == onnx_generate(last, [ids], 8)[0, len(ids):].tolist()


def test_export_records_the_checkpoint_tokenizer(checkpoint) -> None:
    ckpt, onnx = checkpoint
    text = "a lazy dog, jumping"
    recorded, own = onnx_tokenizer(onnx), checkpoint_tokenizer(ckpt)
    assert recorded.encode(text, add_special_tokens=False) == own.encode(text, add_special_tokens=False)
    assert len(recorded) == len(own)


def test_export_takes_a_transformers_tokenizer_and_refuses_other_objects(checkpoint, tmp_path: Path) -> None:
    ckpt, _ = checkpoint
    model, own = MeRinoHFForCausalLM.from_pretrained(ckpt).model, checkpoint_tokenizer(ckpt)
    path = export_onnx(model, tmp_path / "t.onnx", tokenizer=own)  # the prefill graph: the cheaper export
    assert onnx_tokenizer(path).encode(PROMPT, add_special_tokens=False) == own.encode(PROMPT, add_special_tokens=False)
    with pytest.raises(ModelInputError, match="tokenizer must be 'bytes', a tokenizers.Tokenizer"):
        export_onnx(model, tmp_path / "u.onnx", tokenizer=42)


def test_a_damaged_recorded_tokenizer_is_one_line(checkpoint, capsys, tmp_path: Path) -> None:
    _, exported = checkpoint
    graph = onnx.load(str(exported))
    for prop in graph.metadata_props:
        if prop.key == "mpsolve.tokenizer":
            prop.value = "{not a tokenizer"
    damaged = tmp_path / "damaged.onnx"
    onnx.save(graph, str(damaged))
    with pytest.raises(ModelInputError, match=r"the tokenizer recorded in '.*damaged\.onnx' is damaged"):
        onnx_tokenizer(damaged)
    code, out, err = generate(capsys, str(damaged), "--prompt", PROMPT)
    assert (code, out) == (2, "") and "the tokenizer recorded in this graph is damaged" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("record", ["{not json", "[1]", '{"vocab_size": 512}', '{"max_positions": "64"}'])
def test_a_damaged_recorded_architecture_is_one_line(checkpoint, capsys, tmp_path: Path, record: str) -> None:
    """A JSONDecodeError, TypeError or KeyError before."""
    ckpt, exported = checkpoint
    graph = onnx.load(str(exported))
    for prop in graph.metadata_props:
        if prop.key == "mpsolve.architecture":
            prop.value = record
    damaged = tmp_path / "damaged.onnx"
    onnx.save(graph, str(damaged))
    message = r"record of its architecture \('mpsolve.architecture'\) is damaged .*mpsolve export"
    with pytest.raises(ModelInputError, match=message):
        verify_onnx(MeRinoHFForCausalLM.from_pretrained(ckpt), damaged)
    code, out, err = generate(capsys, str(damaged), "--prompt", PROMPT)
    assert (code, out) == (2, "") and "is damaged" in err and err.count("\n") == 1


def test_streaming_prints_the_prompt_then_the_timing(checkpoint, capsys) -> None:
    ckpt, onnx = checkpoint
    for target in (ckpt, onnx):
        code, out, err = generate(capsys, str(target), "--prompt", PROMPT, "--max-new-tokens", "6", "--threads", "1")
        assert code == 0 and out.startswith(PROMPT)
        assert "6 tokens" in err and "1 thread(s)" in err and "first token after" in err


def test_sampling_is_seeded(checkpoint, capsys) -> None:
    ckpt, _ = checkpoint
    argv = [str(ckpt), "--prompt", PROMPT, "--max-new-tokens", "12", "--sample", "--top-k", "50", "--json"]
    ids = [json.loads(generate(capsys, *argv, "--seed", seed)[1])["ids"] for seed in ("3", "3", "4")]
    assert ids[0] == ids[1]
    assert ids[0] != ids[2]  # 12 draws among 50 near-uniform tokens: equal for two seeds with p < 1e-15


def test_warm_up_runs_change_the_timing_label_not_the_tokens(checkpoint, capsys) -> None:
    ckpt, onnx = checkpoint
    for target in (ckpt, onnx):
        argv = [str(target), "--prompt", PROMPT, "--max-new-tokens", "5", "--sample", "--seed", "3", "--threads", "1"]
        reports = [json.loads(generate(capsys, *argv, "--warmup", n, "--json")[1]) for n in ("0", "2")]
        assert [r["warmup"] for r in reports] == [0, 2] and reports[0]["ids"] == reports[1]["ids"]
        code, out, err = generate(capsys, *argv, "--warmup", "0")
        assert code == 0 and out.startswith(PROMPT) and out.count(PROMPT) == 1 and "cold (first call" in err
        code, out, err = generate(capsys, *argv)
        assert code == 0 and out.count(PROMPT) == 1 and "after 1 warm-up run(s)" in err


def test_streamers_get_the_prompt_each_token_and_the_end(checkpoint) -> None:
    ckpt, onnx = checkpoint
    model = MeRinoHFForCausalLM.from_pretrained(ckpt).model.eval()
    prompt = [[5, 6, 7]]
    for run in (lambda s: model.generate(torch.tensor(prompt), 4, do_sample=True, seed=0, streamer=s),
                lambda s: onnx_generate(onnx, prompt, 4, do_sample=True, seed=0, streamer=s)):
        recorder = Recorder()
        out = np.asarray(run(recorder))
        assert recorder.calls == [prompt, *([t] for t in out[0, 3:].tolist()), "end"]
    with pytest.raises(ModelInputError, match="streamer must have put"):
        onnx_generate(onnx, prompt, 2, streamer=print)


def test_bad_requests_fail_before_any_output(checkpoint, capsys, tmp_path: Path) -> None:
    ckpt, onnx = checkpoint
    bare = tmp_path / "bare.onnx"  # the graph as export_onnx writes it without a tokenizer (an export is seconds)
    graph = onnx_load(str(onnx))
    kept = [(p.key, p.value) for p in graph.metadata_props if p.key != "mpsolve.tokenizer"]
    assert len(kept) == len(graph.metadata_props) - 1
    del graph.metadata_props[:]
    helper.set_model_props(graph, dict(kept))
    save_model(graph, str(bare))
    foreign = tmp_path / "foreign.onnx"  # a valid graph that is no language model
    save_model(helper.make_model(helper.make_graph(
        [helper.make_node("Identity", ["input_ids"], ["y"])], "g",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, None])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, [1, None])])), str(foreign))
    stripped = onnx_load(str(bare))  # a graph that records no architecture: the length is found by ORT
    del stripped.metadata_props[:]
    save_model(stripped, str(tmp_path / "stripped.onnx"))
    (tmp_path / "empty").mkdir()  # no checkpoint: its tokenizer was taken for bytes, unsaid
    wide = tmp_path / "wide"  # a tokenizer with ids past the graph's vocabulary
    wide.mkdir()
    (wide / "config.json").write_text(json.dumps({"vocab_size": 4096}))
    from mpsolve.merino_model._lm_eval import byte_level_bpe

    tokens = byte_level_bpe()
    tokens.add_tokens([f"<t{i}>" for i in range(600)])
    tokens.save(str(wide / "tokenizer.json"))
    capsys.readouterr()
    cases = [
        ([str(bare), "--prompt", PROMPT, "--tokenizer", str(tmp_path / "empty")],
         "empty' is not a checkpoint folder (no config.json): give the folder"),
        ([str(bare), "--prompt", PROMPT, "--tokenizer", str(wide)], "tokens, more than the 512 of"),
        ([str(tmp_path / "stripped.onnx"), "--prompt", "a" * 65, "--tokenizer", str(ckpt)],
         "ONNX Runtime could not run the graph on input_ids of shape (1, 65): [ONNXRuntimeError] : 2 : "
         "INVALID_ARGUMENT"),
        ([str(onnx), "--prompt", ""], "--prompt is empty"),
        ([str(ckpt), "--prompt", "\udcff\udcfe"], "--prompt is not valid UTF-8 text"),  # argv bytes ff fe
        ([str(ckpt), "--prompt", PROMPT, "--warmup", "-1"], "--warmup must be a non-negative integer, got -1"),
        ([str(ckpt), "--prompt", PROMPT, "--warmup", "101"], "--warmup 101 is more than the 100 warm-up runs allowed"),
        ([str(ckpt), "--prompt", PROMPT, "--top-k", "5", "--temperature", "0.5"],
         "--temperature, --top-k shape(s) sampling, and greedy decoding would ignore them: add --sample"),
        ([str(ckpt), "--prompt", PROMPT, "--seed", "5"],  # before: accepted, and ignored
         "--seed shape(s) sampling, and greedy decoding would ignore them: add --sample"),
        ([str(ckpt), "--prompt", PROMPT, "--max-new-tokens", "100"], "exceeds max_positions=64"),
        ([str(onnx), "--prompt", PROMPT, "--max-new-tokens", "100"], "exceeds max_positions=64"),
        ([str(onnx), "--prompt", PROMPT, "--sample", "--top-p", "2"], "top_p must be in (0, 1]"),
        ([str(ckpt), "--prompt", PROMPT, "--sample", "--temperature", "0"], "temperature must be positive"),
        ([str(bare), "--prompt", PROMPT], "records no tokenizer"),
        ([str(onnx), "--prompt", PROMPT, "--tokenizer", str(ckpt)], "records the tokenizer it was exported with"),
        ([str(foreign), "--prompt", PROMPT, "--tokenizer", str(ckpt)], "is not a causal-LM graph"),
        ([str(tmp_path / "none.onnx"), "--prompt", PROMPT], "none.onnx' does not exist"),
        ([str(ckpt / "config.json"), "--prompt", PROMPT], "neither a checkpoint folder nor an .onnx file"),
        ([str(bare), "--prompt", PROMPT, "--tokenizer", str(tmp_path / "nowhere")], "does not exist"),
        ([str(ckpt), "--prompt", PROMPT, "--tokenizer", str(ckpt)],  # another run's tokenizer decoded garbage
         "is a checkpoint folder, whose own tokenizer is used: drop --tokenizer"),
    ]
    for argv, message in cases:
        code, out, err = generate(capsys, *argv)
        assert (code, out) == (2, ""), argv
        assert message in err and err.count("\n") == 1, err
    # a graph without a tokenizer runs with the checkpoint's
    code, out, _ = generate(capsys, str(bare), "--prompt", PROMPT, "--tokenizer", str(ckpt), "--max-new-tokens", "3")
    assert code == 0 and out.startswith(PROMPT)


def test_a_tiny_temperature_samples_the_best_token_not_nan() -> None:
    from mpsolve.merino_model._generation import next_tokens

    logits = torch.tensor([[0.0, 3.0, 1.0], [5.0, -2.0, 4.9]])  # unshifted, /1e-40 gave inf - inf = nan
    for temperature in (1e-40, 1e-300, 5e-324):
        for seed in range(5):
            got = next_tokens(logits, True, temperature, generator=torch.Generator().manual_seed(seed))
            assert got.tolist() == [1, 0]


def test_nan_or_infinite_logits_are_an_error_not_token_zero() -> None:
    from mpsolve.merino_model._generation import next_tokens

    for bad in (float("nan"), float("inf")):  # greedy printed token 0; sampling was torch's multinomial error
        for sample in (False, True):
            with pytest.raises(ModelInputError, match="the model's logits are NaN or infinite"):
                next_tokens(torch.tensor([[0.0, bad, 1.0]]), sample)
    assert next_tokens(torch.tensor([[0.0, float("-inf"), 1.0]]), True).tolist() in ([0], [2])
