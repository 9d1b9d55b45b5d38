"""``mpsolve train``, ``evaluate`` and ``export`` end to end on a tiny design (issue 13)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from mpsolve.cli import main

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
pytest.importorskip("transformers")

pytestmark = pytest.mark.slow

TEXT = "".join(f"{n} times {m} is {n * m}. " for n in range(2, 10) for m in range(2, 10)) * 40
ARCH = {"blocks": [{"embed_dim": 64, "ffn_ratio": 2.0, "layers": 2}], "vocab_size": 256, "embed_proj_dim": 64,
        "max_positions": 64, "head_dim": 32}


def test_train_evaluate_export(tmp_path, capsys):
    (tmp_path / "arch.json").write_text(json.dumps(ARCH))
    (tmp_path / "corpus.txt").write_text(TEXT)
    run = tmp_path / "run"
    assert main(["train", str(tmp_path / "arch.json"), "--corpus", str(tmp_path / "corpus.txt"), "--out", str(run),
                 "--tokens", "25600", "--seq-len", "32", "--batch-size", "8", "--lr", "3e-3"]) == 0
    assert (run / "config.json").is_file() and (run / "model.safetensors").is_file()
    assert main(["evaluate", str(run), "--corpus", str(tmp_path / "corpus.txt"), "--seq-len", "32", "--json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out[out.index("{"):])
    assert report["bits_per_byte"] < 4.0  # measured 1.42 after 100 steps; a uniform guess is 8
    trained = json.loads((run / "training.json").read_text())["evaluations"][-1]["val_loss"]
    built = tmp_path / "built"  # the same weights without the run's record, as `mpsolve build` leaves them
    shutil.copytree(run, built, ignore=shutil.ignore_patterns("training.json", "checkpoint*"))
    reports = []
    for folder, extra in ((run, []), (built, []), (built, ["--seq-len", "64"])):
        assert main(["evaluate", str(folder), "--corpus", str(tmp_path / "corpus.txt"), "--json", *extra]) == 0
        out = capsys.readouterr().out
        reports.append(json.loads(out[out.index("{"):]))
    # without --seq-len: the run's own 32-token windows, so its validation loss again (before: the
    # model's 64 positions, another number); a checkpoint without a run record: its max_positions
    # (the default 256 was refused as "the input")
    assert reports[0] == report  # equal to the run's record to the last bit here; the margin is for BLAS threads
    assert reports[0]["loss"] == pytest.approx(trained, rel=1e-6) and reports[0]["seq_len"] == 32
    assert reports[1] == reports[2] != report and reports[1]["seq_len"] == 64
    record = json.loads((run / "training.json").read_text())
    for bad in ("32", 32.0, -5, 10**9, True, None):  # a hand-edited record: the fallback, said
        (built / "training.json").write_text(json.dumps({**record, "config": {**record["config"], "seq_len": bad}}))
        assert main(["evaluate", str(built), "--corpus", str(tmp_path / "corpus.txt"), "--json"]) == 0
        out, err = capsys.readouterr()
        assert json.loads(out[out.index("{"):]) == reports[1], bad
        assert "records no usable seq_len" in err and "evaluating windows of 64 tokens (give --seq-len)" in err, bad
    (built / "training.json").unlink()
    short = tmp_path / "short.txt"
    short.write_text("x" * 600)  # 30 held-out bytes: fewer than 33
    assert main(["evaluate", str(run), "--corpus", str(short)]) == 2
    assert "(seq_len 32 is the default here: give --seq-len)" in capsys.readouterr().err
    onnx, int8 = tmp_path / "m.onnx", tmp_path / "m8.onnx"
    # opset 23: one Attention node a layer, which the INT8 pass keeps fp32 (test_memory.py checks its matmuls)
    assert main(["export", str(run), "--onnx", str(onnx), "--kv-cache", "--opset", "23", "--int8", str(int8)]) == 0
    assert onnx.is_file() and int8.is_file() and "max abs diff" in capsys.readouterr().out
    import onnx as onnx_lib

    assert onnx_lib.load(str(onnx)).opset_import[0].version == 23
    assert main(["export", str(run), "--onnx", str(onnx), "--lean"]) == 0
    assert "lean: load it with prepacking off" in capsys.readouterr().out
    assert {p.key: p.value for p in onnx_lib.load(str(onnx)).metadata_props}["mpsolve.lean"] == "true"
    assert main(["export", str(run), "--onnx", str(onnx), "--opset", "16"]) == 2
    assert "opset must be an integer >= 17" in capsys.readouterr().err


def test_commands_refuse_a_folder_without_a_checkpoint(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path), "--corpus", str(tmp_path)]) == 2
    assert "not a checkpoint folder" in capsys.readouterr().err


def test_a_run_folder_is_not_overwritten(tmp_path, capsys):
    (tmp_path / "arch.json").write_text(json.dumps(ARCH))
    (tmp_path / "corpus.txt").write_text(TEXT)
    run = tmp_path / "run"
    train = ["train", str(tmp_path / "arch.json"), "--corpus", str(tmp_path / "corpus.txt"), "--out", str(run),
             "--tokens", "512", "--seq-len", "32", "--batch-size", "8"]
    assert main(train) == 0
    before = (run / "model.safetensors").read_bytes()
    interrupted = tmp_path / "interrupted"  # a run stopped before its first save of the final model
    (interrupted / "checkpoint").mkdir(parents=True)
    capsys.readouterr()
    for argv, message in [(train, f"out_dir {str(run)!r} already holds a run (training.json): resume=True"),
                          (["build", str(tmp_path / "arch.json"), "--out", str(run)], "already holds a checkpoint"),
                          (["build", str(tmp_path / "arch.json"), "--out", str(interrupted)],
                           "already holds a checkpoint (checkpoint)"),
                          (["export", str(run), "--onnx", str(run / "model.safetensors")], "must end in .onnx"),
                          (["export", str(run), "--onnx", str(tmp_path / "m.onnx"), "--int8", str(run / "config.json")],
                           "--int8 " + repr(str(run / "config.json")) + " must end in .onnx")]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert (run / "model.safetensors").read_bytes() == before and not (tmp_path / "m.onnx").exists()


def test_a_bpe_run_keeps_its_tokenizer(tmp_path, capsys):
    """A BPE run is evaluated with the tokenizer it was trained with, or refused; a corpus too small for
    the vocabulary asked for says so."""
    (tmp_path / "arch.json").write_text(json.dumps({**ARCH, "vocab_size": 4096}))
    (tmp_path / "corpus.txt").write_text(TEXT)
    run, other = tmp_path / "run", tmp_path / "other"
    for out, text in ((run, TEXT), (other, TEXT.replace("times", "by"))):
        (tmp_path / "c.txt").write_text(text)
        assert main(["train", str(tmp_path / "arch.json"), "--corpus", str(tmp_path / "c.txt"), "--out", str(out),
                     "--tokens", "512", "--seq-len", "32", "--batch-size", "8", "--bpe", "4096"]) == 0
        assert "fewer than --bpe 4096 (no more pairs to merge)" in capsys.readouterr().err
    evaluate = ["evaluate", str(run), "--corpus", str(tmp_path / "corpus.txt"), "--seq-len", "32"]
    assert main(evaluate) == 0
    capsys.readouterr()
    (run / "tokenizer.json").write_bytes((other / "tokenizer.json").read_bytes())
    assert main(evaluate) == 2
    assert "is not the tokenizer checkpoint" in capsys.readouterr().err
    (run / "tokenizer.json").unlink()
    assert main(evaluate) == 2
    assert "was trained with a BPE tokenizer (training.json) but" in capsys.readouterr().err


def test_build_within_an_address_space_limit_says_what_fits(tmp_path):
    """Under ``ulimit -v`` a model larger than the headroom is a one-line error, not torch's allocation
    failure after part of it was built (the machine's free memory alone would have allowed it)."""
    arch = {**ARCH, "blocks": [{"embed_dim": 4096, "ffn_ratio": 4.0, "layers": 1}] * 6}  # 1.2 G parameters, 4.5 GiB
    (tmp_path / "arch.json").write_text(json.dumps(arch))
    script = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30)); "
              "from mpsolve.cli import main; sys.exit(main(['build', 'arch.json', '--out', 'out']))")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and not (tmp_path / "out" / "model.safetensors").exists(), done.stderr
    assert done.stderr.count("\n") == 1 and "a model of 1,208,828,096 parameters in torch.float32 needs 4.5 GiB" \
        in done.stderr and "choose a smaller architecture" in done.stderr, done.stderr


def test_a_checkpoint_config_without_blocks_is_a_one_line_error(tmp_path, capsys):
    """Before: a config.json without blocks loaded as MeRino-64M and failed listing tensor shape mismatches."""
    (tmp_path / "arch.json").write_text(json.dumps(ARCH))
    (tmp_path / "corpus.txt").write_text(TEXT)
    run = tmp_path / "run"
    assert main(["build", str(tmp_path / "arch.json"), "--out", str(run)]) == 0
    config = json.loads((run / "config.json").read_text())
    del config["blocks"]
    (run / "config.json").write_text(json.dumps(config))
    capsys.readouterr()
    assert main(["evaluate", str(run), "--corpus", str(tmp_path / "corpus.txt"), "--seq-len", "32"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has an unreadable config: config has no blocks" in err and "re-save" in err, err


def test_seq_len_and_seed_are_checked_before_the_corpus_and_its_tokenizer(tmp_path, capsys, monkeypatch):
    """Before: --seq-len above the design's max_positions, and a --seed of 2**32 or more, were refused only
    after the corpus was read and its BPE tokenizer trained (minutes on a large corpus)."""
    from mpsolve.merino_model import _train

    def unexpected(*args, **kwargs):
        raise AssertionError("the corpus was read before the seed and seq_len were checked")

    monkeypatch.setattr(_train, "load_corpus", unexpected)
    (tmp_path / "arch.json").write_text(json.dumps({**ARCH, "vocab_size": 512}))  # max_positions 64
    (tmp_path / "corpus.txt").write_text(TEXT)
    for extra, message in ((["--seq-len", "128"], "seq_len=128 exceeds the model's max_positions=64: give seq_len "
                                                  "<= 64 (mpsolve train --seq-len)"),
                           (["--seq-len", "32", "--seed", str(2**32)], "seed must be below 2**32")):
        argv = ["train", str(tmp_path / "arch.json"), "--corpus", str(tmp_path / "corpus.txt"), "--out",
                str(tmp_path / "run"), "--tokens", "2048", "--batch-size", "8", "--bpe", "300", *extra]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
        assert not (tmp_path / "run").exists()


def test_the_run_folder_is_checked_before_the_corpus_and_its_tokenizer(tmp_path, capsys, monkeypatch):
    """Before: a folder holding a run (without --resume), or one with no checkpoint to resume, was refused
    only after the corpus was read and its BPE tokenizer trained (minutes on a large corpus)."""
    from mpsolve.merino_model import _train

    def unexpected(*args, **kwargs):
        raise AssertionError("the corpus was read before the run folder was checked")

    monkeypatch.setattr(_train, "load_corpus", unexpected)
    (tmp_path / "arch.json").write_text(json.dumps({**ARCH, "vocab_size": 512}))
    (tmp_path / "corpus.txt").write_text(TEXT)
    held, empty = tmp_path / "held", tmp_path / "empty"
    held.mkdir()
    (held / "training.json").write_text("{}")
    for out, resume, message in ((held, [], f"out_dir {str(held)!r} already holds a model's or run's "
                                  "files (training.json) but no checkpoint"),
                                 (empty, ["--resume"], "cannot resume: no readable checkpoint in")):
        argv = ["train", str(tmp_path / "arch.json"), "--corpus", str(tmp_path / "corpus.txt"), "--out", str(out),
                "--tokens", "512", "--seq-len", "32", "--batch-size", "8", "--bpe", "300", *resume]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_a_ctrl_c_while_torch_imports_is_held_until_it_has(tmp_path, capsys, monkeypatch) -> None:
    """A model command imports torch and ONNX Runtime first with Ctrl-C held, then stops on it: delivered inside
    torch's import (in a call of its C++ extension) the ``KeyboardInterrupt`` aborted the process (SIGABRT, 1 in 40
    tries under load)."""
    import os
    import signal
    import time

    from mpsolve.cli import _command

    raised_inside = []

    def interrupted_import() -> None:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # a signal not held is raised here
        except KeyboardInterrupt:
            raised_inside.append(True)
            raise

    monkeypatch.setattr(_command, "_import_runtimes", interrupted_import)
    # Python's Ctrl-C handler, as in a terminal's mpsolve, whatever this worker process was left with
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        assert main(["build", "merino-64m", "--out", str(tmp_path / "ckpt")]) == 130
    finally:
        signal.signal(signal.SIGINT, previous)
    assert raised_inside == [] and not (tmp_path / "ckpt").exists()
    assert capsys.readouterr().err == "mpsolve: interrupted\n"
    assert main(["presets"]) == 0 and raised_inside == []  # a command without torch imports nothing first
