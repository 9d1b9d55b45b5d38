"""The ``build`` and ``profile-latency`` subcommands, called through a parser built here."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM

from mpsolve.cli.model import add_subcommands
from mpsolve.costs import get_cost
from mpsolve.merino_model import MeRinoHFForCausalLM, build
from mpsolve.spaces import Architecture, load_space
from mpsolve.utils.errors import ArchitectureError


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="mpsolve")
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_build_writes_a_loadable_checkpoint(shared_arch: Architecture, tmp_path: Path, capsys) -> None:
    design = tmp_path / "design.json"
    design.write_text(json.dumps({"architecture": shared_arch.to_dict(), "objective": 12.5}))
    out = tmp_path / "ckpt"
    assert run("build", str(design), "--out", str(out), "--seed", "3", "--init-std", "0.05") == 0
    assert "wrote" in capsys.readouterr().out
    loaded = AutoModelForCausalLM.from_pretrained(out)
    assert isinstance(loaded, MeRinoHFForCausalLM) and loaded.config.architecture == shared_arch
    reference = build(shared_arch, seed=3, init_std=0.05)
    assert all(torch.equal(p, q) for p, q in zip(loaded.model.parameters(), reference.parameters()))


def test_build_from_a_plain_architecture_file(tmp_path: Path) -> None:
    arch = tmp_path / "arch.json"
    blocks = [{"embed_dim": 64, "ffn_ratio": 2.0, "layers": 2}]
    unshared = {"blocks": blocks, "vocab_size": 128, "embed_proj_dim": 64, "max_positions": 16, "shared": False}
    arch.write_text(json.dumps(unshared))
    assert run("build", str(arch), "--out", str(tmp_path / "ckpt")) == 0
    assert MeRinoHFForCausalLM.from_pretrained(tmp_path / "ckpt").config.shared is False


def test_build_rejects_an_unknown_architecture(tmp_path: Path) -> None:
    with pytest.raises(ArchitectureError, match="neither an architecture preset"):
        run("build", "merino-1b", "--out", str(tmp_path))


@pytest.fixture(scope="module")
def kept_graphs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``--graph-dir`` of this module's ONNX Runtime profiles: the tiny space's components, exported once."""
    return tmp_path_factory.mktemp("graphs")


@pytest.mark.parametrize(
    ("runtime", "phase", "cost", "logits", "calibrate"),
    # ONNX Runtime's calibration exports three designs (seconds each): calibrated in one of its two cases
    [("torch", "prefill", "latency", None, True), ("onnxruntime", "decode", "decode", None, False),
     ("onnxruntime", "prefill", "latency", "last", True)],
)
def test_profile_latency_writes_a_usable_profile(
    tmp_path: Path, capsys, runtime: str, phase: str, cost: str, logits: str | None, calibrate: bool, kept_graphs: Path
) -> None:
    space = tmp_path / "tiny.toml"
    space.write_text(
        "num_blocks = 2\nembed_dims = [64]\nffn_ratios = [1.0, 2.0]\nlayers = [1, 2]\n"
        "vocab_size = 256\nembed_proj_dim = 64\nmax_positions = 32\n"  # two layers, no projections: each an export
    )
    out = tmp_path / "device.json"
    argv = ["profile-latency", "--space", str(space), "--seq-len", "16", "--threads", "1", "--runtime", runtime]
    argv += ["--logits", logits] if logits else ["--no-fit-intercept"] if calibrate else []
    argv += ["--calibrate", "3"] if calibrate else []
    # one folder: either case's first exports the components; the calibrated one in two processes, with its designs
    argv += ["--graph-dir", str(kept_graphs)] if runtime == "onnxruntime" else []
    argv += ["--jobs", "2"] if runtime == "onnxruntime" and calibrate else []
    assert run(*argv, "--phase", phase, "--min-run-time", "0.02", "--out", str(out)) == 0
    if runtime == "onnxruntime":  # each component exported once, for both phases
        assert sorted(p.name.split("-component-")[1] for p in kept_graphs.glob("*-component-*.onnx")) == [
            "head.onnx", "layer_64x128.onnx", "layer_64x64.onnx", "p32-embedding.onnx"]
    assert f"{runtime} {phase}" in capsys.readouterr().out
    profile = json.loads(out.read_text())
    kept = logits or {"torch": "last", "onnxruntime": "all"}[runtime]
    assert profile["logits"] == kept
    assert profile["head_positions"] == (16 if (kept, phase) == ("all", "prefill") else 1)
    if calibrate:
        assert profile["calibration"]["fit_intercept"] is (logits is not None)
        assert logits is not None or profile["calibration"]["ms"] == 0.0  # the per-layer term alone
        assert len(profile["calibration"]["designs"]) == 3
    else:
        assert "calibration" not in profile
    assert (profile["seq_len"], profile["batch"], profile["threads"]) == (16, 1, 1)
    assert (profile["runtime"], profile["phase"]) == (runtime, phase)
    assert len(profile["layers"]) == 2
    assert all(r["repeated"]["applications"] == [2] and r["repeated"]["ms"][0] > 0 for r in profile["layers"])
    constants = {k: profile["space"][k] for k in ("vocab_size", "embed_proj_dim", "max_positions")}
    blocks = [{"embed_dim": 64, "ffn_ratio": 1.0, "layers": 2}, {"embed_dim": 64, "ffn_ratio": 2.0, "layers": 1}]
    arch = Architecture.from_dict({"blocks": blocks, **constants})
    if calibrate:  # a design the calibration timed: ONNX Runtime's is kept (one export fewer)
        arch = load_space(str(space)).decode(profile["calibration"]["encodings"][0])
    assert get_cost(cost, profile=str(out)).of(arch) > 0
    # `mpsolve latency` times the design on the profile's workload (ONNX Runtime: its exported graph, kept with the
    # profile's, or the calibration's, and timed again without an export)
    design = tmp_path / "design.json"
    design.write_text(arch.to_json())
    graph = kept_graphs / f"design-{arch.digest()}-s0-{kept}.onnx"
    kept_dir = ["--graph-dir", str(kept_graphs)] if runtime == "onnxruntime" else []
    for _ in range(2 if kept_dir else 1):
        before = graph.stat().st_mtime_ns if graph.exists() else None
        assert run("latency", str(design), "--profile", str(out), "--min-run-time", "0.02", *kept_dir, "--json") == 0
        after = graph.stat().st_mtime_ns if graph.exists() else None
        assert (after is not None) is bool(kept_dir) and before in (None, after)
        obj = json.loads(capsys.readouterr().out)
    assert before is not None or not kept_dir  # the second timing read the graph the first kept
    assert {k: obj["workload"][k] for k in ("runtime", "phase", "seq_len", "threads", "logits")} == {
        "runtime": runtime, "phase": phase, "seq_len": 16, "threads": 1, "logits": kept}
    assert obj["measured"]["ms"] > 0
    assert obj["predicted_ms"] == get_cost(cost, profile=str(out)).of(arch)
    # the component sum beside a calibrated prediction; alone, it is the prediction
    assert obj.get("components_ms", obj["predicted_ms"]) == get_cost(cost, profile=str(out), calibrated=False).of(arch)
    assert ("components_ms" in obj) is calibrate


def test_profile_latency_refuses_no_fit_intercept_without_calibrate(tmp_path: Path, monkeypatch) -> None:
    """Before: ignored, silently (it shapes the calibration's fit alone)."""
    from mpsolve import merino_model
    from mpsolve.cli.parsing import CLIError

    monkeypatch.setattr(merino_model, "profile_latency", lambda *args, **kwargs: pytest.fail("profiled"))
    with pytest.raises(CLIError, match=r"^--no-fit-intercept shapes the calibration, and --calibrate is 0: add "
                                       r"--calibrate N \(3 to 256 designs\), or drop --no-fit-intercept$"):
        run("profile-latency", "--space", "small", "--no-fit-intercept", "--out", str(tmp_path / "d.json"))
    assert not (tmp_path / "d.json").exists()


def test_profile_latency_warns_about_noisy_entries(tmp_path: Path, capsys, monkeypatch) -> None:
    from mpsolve import merino_model
    from mpsolve.testing.pytest_solvers import synthetic_profile

    profile = {**synthetic_profile("small", "decode"), "noise_threshold": 0.1,
               "noisy_entries": ["head", "layer 128x128"], "device": {"cpu": "test"}}
    monkeypatch.setattr(merino_model, "profile_latency", lambda *args, **kwargs: profile)
    assert run("profile-latency", "--space", "small", "--phase", "decode", "--out", str(tmp_path / "d.json")) == 0
    out, err = capsys.readouterr()
    # on stderr, as the other subcommands say warnings (before: on stdout, among the results)
    assert out.startswith("wrote ") and len(out.splitlines()) == 1
    assert err.startswith("mpsolve: warning: 2 of ") and len(err.splitlines()) == 1
    assert "too noisy to trust (IQR above 10% of the median: head, layer 128x128)" in err
    assert err.endswith("re-profile when it is idle, or with --statistic min\n")
    assert json.loads((tmp_path / "d.json").read_text())["noisy_entries"] == ["head", "layer 128x128"]
    # before: advised what it had done
    assert run("profile-latency", "--space", "small", "--phase", "decode", "--statistic", "min", "--out",
               str(tmp_path / "m.json")) == 0
    assert capsys.readouterr().err.endswith("re-profile when it is idle\n")


def test_train_evaluate_and_export_refuse_bad_input_in_one_line(shared_arch: Architecture, tmp_path: Path,
                                                                capsys) -> None:
    from mpsolve.cli import main

    design = tmp_path / "design.json"
    design.write_text(json.dumps(shared_arch.to_dict()))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 300, encoding="utf-8")
    ckpt = tmp_path / "ckpt"
    MeRinoHFForCausalLM.from_model(build(shared_arch)).save_pretrained(ckpt)
    no_weights = tmp_path / "no_weights"
    no_weights.mkdir()
    (no_weights / "config.json").write_text((ckpt / "config.json").read_text())
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((ckpt / "config.json").read_text())
    torch.save(build(shared_arch).state_dict(), pickled / "pytorch_model.bin")
    bad_tokenizer = tmp_path / "bad_tokenizer"
    MeRinoHFForCausalLM.from_model(build(shared_arch)).save_pretrained(bad_tokenizer)
    (bad_tokenizer / "tokenizer.json").write_text("garbage{")
    weights = load_file(ckpt / "model.safetensors")
    with safe_open(ckpt / "model.safetensors", "pt") as fh:
        metadata = fh.metadata()
    for name, damage in (("nan_weights", lambda t: t.fill_(float("nan"))), ("int_weights", lambda t: t.long())):
        shutil.copytree(ckpt, tmp_path / name)
        damaged = {k: damage(v.clone()) if k == "model.embed_tokens.weight" else v for k, v in weights.items()}
        save_file(damaged, tmp_path / name / "model.safetensors", metadata=metadata)
    saved = json.loads((ckpt / "config.json").read_text())
    for name, config in (("list_config", [1, 2]), ("gpt2_config", {**saved, "model_type": "gpt2"}),
                         ("init_config", {**saved, "initializer_range": 5}),
                         ("seed_config", {**saved, "init_seed": "x"})):
        shutil.copytree(ckpt, tmp_path / name)
        (tmp_path / name / "config.json").write_text(json.dumps(config))
    huge = tmp_path / "huge.json"  # a 2**22 x 2**14 fp32 embedding: 256 GiB
    huge.write_text(json.dumps({**shared_arch.to_dict(), "vocab_size": 2**22, "embed_proj_dim": 2**14}))
    capsys.readouterr()
    train = ["train", str(design), "--corpus", str(corpus), "--out", str(tmp_path / "run"), "--seq-len", "32"]
    cases = [
        (train + ["--seq-len", "0"], "seq_len must be an integer >= 2, got 0"),
        (train + ["--batch-size", "-2"], "batch_size must be a positive integer, got -2"),
        (train + ["--lr", "inf"], "lr must be a positive number, got inf"),
        (train + ["--tokens", "1"], "tokens=1 is less than one batch; give tokens >= seq_len * batch_size"),
        (train + ["--tokens", "1.5"], "--tokens must be a whole number of tokens"),
        (train + ["--seed", "-1"], "seed must be a non-negative integer, got -1"),
        # checked before the tokenizer trains (tokenizers aborts the process on a vocabulary this size)
        (train + ["--bpe", "99999999999"], "--bpe 99999999999 exceeds the design's vocab_size 256"),
        (["build", str(design), "--out", str(tmp_path / "b"), "--seed", "-1"], "seed must be a non-negative integer"),
        # before: "--seq-len 0 needs --corpus and must be >= 2", --corpus given
        (["evaluate", str(ckpt), "--corpus", str(corpus), "--seq-len", "0"], "--seq-len must be >= 2, got 0"),
        (["evaluate", str(ckpt), "--tasks", "t", "--seq-len", "8"],
         "--seq-len is for --corpus, which is not given: add --corpus, or drop --seq-len"),
        (["evaluate", str(ckpt), "--corpus", str(corpus), "--seq-len", "4096"],  # was about "the input"
         f"--seq-len 4096 exceeds the checkpoint's max_positions {shared_arch.max_positions}: give --seq-len"),
        (["evaluate", str(no_weights), "--corpus", str(corpus)], "has no model.safetensors"),
        (["evaluate", str(pickled), "--corpus", str(corpus)], "pickle .bin weights are not read"),
        (["export", str(no_weights), "--onnx", str(tmp_path / "m.onnx")], "has no model.safetensors"),
        (["evaluate", str(bad_tokenizer), "--corpus", str(corpus)], "tokenizer.json' is damaged"),
        (["evaluate", str(tmp_path / "nan_weights"), "--corpus", str(corpus)],
         "not finite (NaN or inf) in model.embed_tokens.weight"),
        (["generate", str(tmp_path / "nan_weights"), "--prompt", "the"], "not finite (NaN or inf)"),
        (["evaluate", str(tmp_path / "int_weights"), "--corpus", str(corpus)],
         "tensor model.embed_tokens.weight holds I64 values where weights are floating point"),
        (["build", str(huge), "--out", str(tmp_path / "b")], "GiB of memory is available; choose a smaller"),
        (["evaluate", str(tmp_path / "list_config"), "--corpus", str(corpus)],
         "is not a MeRino checkpoint (config.json holds a JSON list)"),
        # were transformers' multi-line load report, then an "init std" error naming neither file nor field
        (["evaluate", str(tmp_path / "init_config"), "--corpus", str(corpus)],
         "has an unreadable config: config initializer_range: init std must be a number in (0, 1]"),
        (["evaluate", str(tmp_path / "seed_config"), "--corpus", str(corpus)],
         "has an unreadable config: config init_seed: seed must be a non-negative integer"),
        (["export", str(tmp_path / "gpt2_config"), "--onnx", str(tmp_path / "m.onnx")],
         "is not a MeRino checkpoint (config.json holds model_type 'gpt2'); give a folder that mpsolve train"),
        (["export", str(ckpt), "--onnx", str(tmp_path / "m.onnx"), "--int8", f"{tmp_path}/../{tmp_path.name}/m.onnx"],
         "is the --onnx file"),
        # before: the fp32 graph was exported and checked, then the INT8 one could not be written
        (["export", str(ckpt), "--onnx", str(tmp_path / "m.onnx"), "--int8", str(tmp_path / "m.onnx" / "q.onnx")],
         f"--int8 '{tmp_path / 'm.onnx' / 'q.onnx'}' lies inside the --onnx file's path '{tmp_path / 'm.onnx'}'"),
    ]  # the paths were quoted as PosixPath('...')
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err  # loading a checkpoint may draw a progress bar first
        assert "Traceback" not in err and err.splitlines()[-1].startswith("mpsolve: error: "), (argv, err)
        assert message in err.splitlines()[-1], (argv, err)
    assert not (tmp_path / "run").exists() and not (tmp_path / "b").exists() and not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("key, value", [("dtype", 1.5), ("dtype", True), ("dtype", "int64"), ("dtype", "float8_e4m3fn"),
                                        ("torch_dtype", 5)])
def test_evaluate_refuses_a_config_dtype_the_model_cannot_run_in(shared_arch: Architecture, tmp_path: Path, capsys,
                                                                 key: str, value: object) -> None:
    """Before: transformers' AttributeError / ValueError / TypeError escaped as a traceback (exit 1)."""
    from mpsolve.cli import main

    ckpt = tmp_path / "ckpt"
    MeRinoHFForCausalLM.from_model(build(shared_arch)).save_pretrained(ckpt)
    config = json.loads((ckpt / "config.json").read_text())
    config.pop("dtype", None)
    (ckpt / "config.json").write_text(json.dumps({**config, key: value}))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 20, encoding="utf-8")
    assert main(["evaluate", str(ckpt), "--corpus", str(corpus), "--seq-len", "16"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"has an unreadable config: {key} {value!r} is not a type the weights" in err


@pytest.mark.parametrize("fields, message", [({"max_new_tokens": 0}, "(max_new_tokens 0: `max_new_tokens` must be"),
                                             ({"pad_token_id": "x"}, "(pad_token_id 'x': ")])
def test_a_damaged_generation_config_is_refused_in_one_line(shared_arch: Architecture, tmp_path: Path, capsys,
                                                            fields: dict, message: str) -> None:
    """Before: transformers' ValueError / TypeError from its GenerationConfig.validate() escaped as a traceback."""
    from mpsolve.cli import main

    ckpt = tmp_path / "ckpt"
    MeRinoHFForCausalLM.from_model(build(shared_arch)).save_pretrained(ckpt)
    (ckpt / "generation_config.json").write_text(json.dumps(fields))
    assert main(["export", str(ckpt), "--onnx", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"has an unreadable generation_config.json {message}" in err
    assert not (tmp_path / "m.onnx").exists()
    (ckpt / "generation_config.json").write_text("not JSON")  # unparsable: transformers reads config.json instead
    assert MeRinoHFForCausalLM.from_pretrained(ckpt).config.architecture == shared_arch
