"""The ``build`` and ``profile-latency`` subcommands, called through a parser built here."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from mpsolve.cli.model import add_subcommands
from mpsolve.costs import get_cost
from mpsolve.merino_model import MeRinoHFForCausalLM, build
from mpsolve.spaces import Architecture
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


@pytest.mark.parametrize(
    ("runtime", "phase", "cost"), [("torch", "prefill", "latency"), ("onnxruntime", "decode", "decode")]
)
def test_profile_latency_writes_a_usable_profile(tmp_path: Path, capsys, runtime: str, phase: str, cost: str) -> None:
    space = tmp_path / "tiny.toml"
    space.write_text(
        "num_blocks = 2\nembed_dims = [64, 128]\nffn_ratios = [1.0, 2.0]\nlayers = [1, 2]\n"
        "vocab_size = 256\nembed_proj_dim = 64\nmax_positions = 32\n"
    )
    out = tmp_path / "device.json"
    argv = ["profile-latency", "--space", str(space), "--seq-len", "16", "--threads", "1", "--runtime", runtime]
    assert run(*argv, "--phase", phase, "--min-run-time", "0.02", "--calibrate", "3", "--out", str(out)) == 0
    assert f"{runtime} {phase}" in capsys.readouterr().out
    profile = json.loads(out.read_text())
    assert (profile["seq_len"], profile["batch"], profile["threads"]) == (16, 1, 1)
    assert (profile["runtime"], profile["phase"]) == (runtime, phase)
    assert len(profile["layers"]) == 4 and len(profile["calibration"]["designs"]) == 3
    constants = {k: profile["space"][k] for k in ("vocab_size", "embed_proj_dim", "max_positions")}
    blocks = [{"embed_dim": 64, "ffn_ratio": 2.0, "layers": 2}, {"embed_dim": 128, "ffn_ratio": 1.0, "layers": 1}]
    arch = Architecture.from_dict({"blocks": blocks, **constants})
    assert get_cost(cost, profile=str(out)).of(arch) > 0


def test_profile_latency_warns_about_noisy_entries(tmp_path: Path, capsys, monkeypatch) -> None:
    from mpsolve import merino_model
    from mpsolve.testing.pytest_solvers import synthetic_profile

    profile = {**synthetic_profile("small", "decode"), "noise_threshold": 0.1,
               "noisy_entries": ["head", "layer 128x128"], "device": {"cpu": "test"}}
    monkeypatch.setattr(merino_model, "profile_latency", lambda *args, **kwargs: profile)
    assert run("profile-latency", "--space", "small", "--phase", "decode", "--out", str(tmp_path / "d.json")) == 0
    out = capsys.readouterr().out
    assert "warning: 2 of " in out and "too noisy to trust (IQR above 10% of the median: head, layer 128x128)" in out
    assert json.loads((tmp_path / "d.json").read_text())["noisy_entries"] == ["head", "layer 128x128"]
