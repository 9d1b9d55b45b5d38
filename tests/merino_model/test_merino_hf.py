"""Hugging Face integration: save/load with safetensors, Auto classes, generate, mismatch errors, training."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from transformers import AutoConfig, AutoModelForCausalLM, DynamicCache

from mpsolve.merino_model import (
    CheckpointMismatchError,
    MeRinoConfig,
    MeRinoHFForCausalLM,
    ModelInputError,
    build,
)
from mpsolve.spaces import Architecture


@pytest.fixture
def hf_model(tiny_arch: Architecture) -> MeRinoHFForCausalLM:
    return MeRinoHFForCausalLM(MeRinoConfig.from_architecture(tiny_arch, init_seed=4)).eval()


def test_config_describes_the_architecture(tiny_arch: Architecture) -> None:
    config = MeRinoConfig.from_architecture(tiny_arch)
    assert config.architecture == tiny_arch
    assert config.hidden_size == 64 and config.max_position_embeddings == 64
    assert config.num_hidden_layers == tiny_arch.depth  # one cache slot per layer application
    assert MeRinoConfig.from_dict(config.to_dict()).architecture == tiny_arch
    assert MeRinoConfig().architecture.embed_dims == (640, 896, 1024, 1024)  # MeRino-64M by default


def test_fresh_hf_model_equals_build_with_the_same_seed(tiny_arch: Architecture, hf_model) -> None:
    pure = build(tiny_arch, seed=4)
    for (name, p), q in zip(hf_model.model.named_parameters(), pure.parameters()):
        assert torch.equal(p, q), name


def test_save_load_round_trip(hf_model, tmp_path: Path) -> None:
    hf_model.save_pretrained(tmp_path)
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
    assert "model.embed_tokens.weight" in keys and "model.lm_head.weight" not in keys  # tied: stored once
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert type(loaded) is MeRinoHFForCausalLM
    assert loaded.model.lm_head.weight is loaded.model.embed_tokens.weight
    ids = torch.randint(0, 256, (2, 16))
    with torch.inference_mode():
        assert torch.equal(loaded(ids).logits, hf_model(ids).logits)
    assert AutoConfig.from_pretrained(tmp_path).architecture == hf_model.config.architecture


def test_from_model_wraps_a_pure_model(shared_arch: Architecture, tmp_path: Path) -> None:
    pure = build(shared_arch, seed=9)
    MeRinoHFForCausalLM.from_model(pure).save_pretrained(tmp_path)
    loaded = MeRinoHFForCausalLM.from_pretrained(tmp_path)
    assert all(torch.equal(p, q) for p, q in zip(loaded.model.parameters(), pure.parameters()))


def test_mismatching_config_names_tensor_and_shapes(shared_arch: Architecture, tmp_path: Path) -> None:
    MeRinoHFForCausalLM(MeRinoConfig.from_architecture(shared_arch)).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["blocks"][1]["ffn_ratio"] = 1.0  # F: 256 -> 128
    (tmp_path / "config.json").write_text(json.dumps(config))
    expected = r"blocks\.1\.layers\.0\.ffn_down\.weight.*\(128, 256\).*\(128, 128\)"
    with pytest.raises(CheckpointMismatchError, match=expected):
        AutoModelForCausalLM.from_pretrained(tmp_path)
    config["blocks"][1]["ffn_ratio"], config["shared"] = 2.0, False  # unshared needs layers the file lacks
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointMismatchError, match=r"blocks\.0\.layers\.1\..* missing"):
        MeRinoHFForCausalLM.from_pretrained(tmp_path)


def test_a_saved_config_without_blocks_is_refused_naming_the_field(shared_arch: Architecture, tmp_path: Path) -> None:
    """Before: a config.json without blocks (or with null) took MeRino-64M's blocks, and loading failed listing
    tensor shape mismatches; a fresh MeRinoConfig() still defaults to MeRino-64M (transformers builds one)."""
    MeRinoHFForCausalLM(MeRinoConfig.from_architecture(shared_arch)).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    for blocks in ("missing", None):
        if blocks == "missing":
            del config["blocks"]
        else:
            config["blocks"] = blocks
        (tmp_path / "config.json").write_text(json.dumps(config))
        for load in (lambda: MeRinoHFForCausalLM.from_pretrained(tmp_path),
                     lambda: AutoModelForCausalLM.from_pretrained(tmp_path),
                     lambda: MeRinoHFForCausalLM.from_pretrained(tmp_path, ignore_mismatched_sizes=True),
                     lambda: AutoConfig.from_pretrained(tmp_path)):
            with pytest.raises(CheckpointMismatchError, match=r"config has no blocks \(the model's blocks of layers\): "
                                                              r"re-save the checkpoint with mpsolve train/build or "
                                                              r"save_pretrained") as info:
                load()
            assert "\n" not in str(info.value) and "tensor" not in str(info.value)
    assert MeRinoConfig().architecture.embed_dims == (640, 896, 1024, 1024)


@pytest.mark.parametrize("fields", [["vocab_size"], ["max_positions", "head_dim"], ["activation"]])
def test_a_saved_config_without_a_model_constant_is_refused_naming_it(shared_arch: Architecture, tmp_path: Path,
                                                                       fields: list[str]) -> None:
    """Before: a config.json without vocab_size / max_positions took MeRino-64M's (50272 / 2048), and loading
    failed listing tensor shape mismatches; without activation / head_dim it took the default's."""
    MeRinoHFForCausalLM(MeRinoConfig.from_architecture(shared_arch)).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    for name in fields:
        del config[name]
    (tmp_path / "config.json").write_text(json.dumps(config))
    for load in (lambda: MeRinoHFForCausalLM.from_pretrained(tmp_path), lambda: AutoConfig.from_pretrained(tmp_path)):
        with pytest.raises(CheckpointMismatchError, match=f"config has no {', '.join(fields)}: re-save the "
                                                          "checkpoint") as info:
            load()
        assert "\n" not in str(info.value)


def test_hf_generate_matches_the_pure_generate(hf_model) -> None:
    prompt = torch.randint(0, 256, (2, 6), generator=torch.Generator().manual_seed(0))
    ours = hf_model.model.generate(prompt, max_new_tokens=8)
    theirs = hf_model.generate(prompt, max_new_tokens=8, do_sample=False, pad_token_id=0)
    assert torch.equal(theirs, ours)


def test_hf_generate_with_left_padding(hf_model) -> None:
    short = torch.randint(0, 256, (1, 4), generator=torch.Generator().manual_seed(1))
    batch = torch.cat([torch.zeros(1, 3, dtype=torch.long), short], dim=1)
    mask = torch.tensor([[0, 0, 0, 1, 1, 1, 1]])
    padded = hf_model.generate(batch, attention_mask=mask, max_new_tokens=5, do_sample=False, pad_token_id=0)
    assert torch.equal(padded[0, 7:], hf_model.model.generate(short, max_new_tokens=5)[0, 4:])


def test_config_keeps_a_numpy_std_and_seed_as_python_numbers(tiny_arch: Architecture) -> None:
    """Before: initializer_range=np.float32(0.02) was refused as not a number, and init_seed=np.int64(4) was kept
    as given, so the config was no JSON."""
    import numpy as np

    config = MeRinoConfig.from_architecture(tiny_arch, initializer_range=np.float32(0.5), init_seed=np.int64(4))
    assert type(config.initializer_range) is float and type(config.init_seed) is int
    assert json.loads(json.dumps(config.to_dict()))["init_seed"] == 4


def test_hf_forward_refuses_a_logits_to_keep_that_is_not_an_integer(hf_model) -> None:
    """Before: the wrapper's int() kept 2 positions for 2.7, 1 for True and 2 for "2", silently."""
    from mpsolve.merino_model import ModelInputError

    ids = torch.randint(0, 256, (1, 5))
    for bad in (2.7, True, "2"):
        with pytest.raises(ModelInputError, match="logits_to_keep must be a non-negative int"):
            hf_model(ids, logits_to_keep=bad)
    assert hf_model(ids, logits_to_keep=2).logits.shape == (1, 2, 256)


def test_hf_forward_with_dynamic_cache(hf_model) -> None:
    ids = torch.randint(0, 256, (1, 10))
    with torch.inference_mode():
        full = hf_model(ids).logits
        first = hf_model(ids[:, :6], cache=DynamicCache(), use_cache=True)
        rest = hf_model(ids[:, 6:], past_key_values=first.cache, use_cache=True)
    torch.testing.assert_close(torch.cat([first.logits, rest.logits], 1), full, atol=1e-5, rtol=1e-4)


def test_training_steps_reduce_the_loss(shared_arch: Architecture, train_steps) -> None:
    model = MeRinoHFForCausalLM(MeRinoConfig.from_architecture(shared_arch)).train()
    data = (torch.arange(32) % 16).repeat(2, 1)
    assert model(input_ids=data, labels=data).cache is None  # no cache while training
    losses = train_steps(model, data, 10)
    # 0.63-0.68 of the first loss after 10 steps on init seeds 0-7
    assert losses[-1] < 0.8 * losses[0]


def test_trainer_trains_the_model(shared_arch: Architecture, tmp_path: Path) -> None:
    from transformers import Trainer, TrainingArguments

    model = MeRinoHFForCausalLM(MeRinoConfig.from_architecture(shared_arch))
    data = [{"input_ids": (torch.arange(32) + i) % 16, "labels": (torch.arange(32) + i) % 16} for i in range(16)]
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=12,
        per_device_train_batch_size=4,
        learning_rate=1e-2,
        report_to=[],
        logging_steps=1,
        save_strategy="no",
        use_cpu=True,
        seed=0,
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=data)
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 12 and losses[-1] < 0.7 * losses[0]
    trainer.save_model(str(tmp_path / "final"))
    reloaded = MeRinoHFForCausalLM.from_pretrained(str(tmp_path / "final"))
    ids = torch.arange(16)[None]
    torch.testing.assert_close(reloaded(input_ids=ids).logits, model.eval()(input_ids=ids).logits)


def test_loss_with_num_items_in_batch_sums_over_tokens(hf_model) -> None:
    ids = torch.randint(0, 256, (2, 8))
    mean = hf_model(input_ids=ids, labels=ids).loss
    summed = hf_model(input_ids=ids, labels=ids, num_items_in_batch=7).loss
    torch.testing.assert_close(summed, mean * 14 / 7)


def test_auto_registration_when_transformers_is_imported_later(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        import mpsolve.merino_model
        assert "transformers" not in sys.modules
        from transformers import AutoConfig
        print(type(AutoConfig.for_model("merino")).__name__)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip() == "MeRinoConfig"


def test_missing_or_old_dependencies_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    from mpsolve.merino_model._errors import MissingDependencyError, require

    with pytest.raises(MissingDependencyError, match=r"pip install 'mpsolve\[hf\]'"):
        require("no_such_module_here", "hf")
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "4.46.1")
    with pytest.raises(MissingDependencyError, match=r"transformers 4\.46\.1 is too old.*>=5\.24.*mpsolve\[hf\]"):
        require("transformers", "hf", (5, 24))


@pytest.mark.parametrize(
    ("field", "value"),
    [("activation", "relu"), ("head_dim", 16), ("layers", 3)],
    ids=["activation", "head_dim", "shared-layer-count"],
)
def test_a_config_edit_that_keeps_the_shapes_is_refused(shared_arch: Architecture, tmp_path: Path, field, value):
    MeRinoHFForCausalLM(MeRinoConfig.from_architecture(shared_arch)).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    if field == "layers":
        config["blocks"][0]["layers"] = value  # a shared block: more layer applications, same tensors
    else:
        config[field] = value
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointMismatchError, match=f"{'blocks' if field == 'layers' else field} differ"):
        MeRinoHFForCausalLM.from_pretrained(tmp_path)



@pytest.mark.parametrize(
    ("override", "field"),
    [({"activation": "relu"}, "activation"), ({"head_dim": 16}, "head_dim"), ("config", "activation")],
    ids=["activation-kwarg", "head_dim-kwarg", "config-object"],
)
def test_a_loading_override_that_keeps_the_shapes_is_refused(shared_arch: Architecture, tmp_path: Path, override,
                                                             field):
    """Before: from_pretrained(dir, activation="relu") (or config=) ran the saved weights under another activation
    or head count, with logits silently off by 0.2 (the record was checked against config.json only)."""
    MeRinoHFForCausalLM(MeRinoConfig.from_architecture(shared_arch)).save_pretrained(tmp_path)
    kwargs = {"config": MeRinoConfig.from_architecture(shared_arch.replace(activation="relu"))} \
        if override == "config" else override
    with pytest.raises(CheckpointMismatchError, match=f"{field} differ"):
        MeRinoHFForCausalLM.from_pretrained(tmp_path, **kwargs)
    with pytest.raises(CheckpointMismatchError, match=f"{field} differ"):
        AutoModelForCausalLM.from_pretrained(tmp_path, **kwargs)



def test_a_file_or_a_missing_folder_is_refused_naming_the_path(hf_model, tmp_path: Path) -> None:
    """Before: a file went to torch.load (an UnpicklingError), a missing absolute path to the Hub ("Repo id must be
    in the form 'repo_name'")."""
    hf_model.save_pretrained(tmp_path / "ck")
    for path in (tmp_path / "ck" / "config.json", tmp_path / "ck" / "model.safetensors"):
        with pytest.raises(CheckpointMismatchError, match="is a file; give the checkpoint folder"):
            MeRinoHFForCausalLM.from_pretrained(path)
    with pytest.raises(CheckpointMismatchError, match="is a file; give the checkpoint folder"):
        AutoModelForCausalLM.from_pretrained(tmp_path / "ck" / "config.json")
    with pytest.raises(CheckpointMismatchError, match="does not exist"):
        MeRinoHFForCausalLM.from_pretrained(tmp_path / "typo")


@pytest.mark.timeout(30)
def test_a_weights_file_that_is_not_a_regular_file_is_refused(hf_model, tmp_path: Path, make_fifo) -> None:
    """Before: safetensors opened a FIFO named *.safetensors and waited forever, loading (the checkpoint's
    model.safetensors or any other one in the folder) and saving (where the weights are restamped)."""
    hf_model.save_pretrained(tmp_path / "ck")
    (tmp_path / "ck" / "model.safetensors").rename(tmp_path / "saved.safetensors")
    (tmp_path / "ck" / "model.safetensors").symlink_to(tmp_path / "saved.safetensors")  # a link to a file loads
    assert type(MeRinoHFForCausalLM.from_pretrained(tmp_path / "ck")) is MeRinoHFForCausalLM
    make_fifo(tmp_path / "ck" / "extra.safetensors")
    for kwargs in ({}, {"ignore_mismatched_sizes": True}):
        with pytest.raises(CheckpointMismatchError, match=r"weights file '.*extra\.safetensors' is not a regular "
                                                          "file; replace it .* or move it out of the folder$"):
            MeRinoHFForCausalLM.from_pretrained(tmp_path / "ck", **kwargs)
    with pytest.raises(ModelInputError, match=r"'.*extra\.safetensors' is not a regular file; remove it or save "
                                              "to another folder$"):
        hf_model.save_pretrained(tmp_path / "ck")


def test_weights_without_an_architecture_record_load_with_a_warning(shared_arch: Architecture, tmp_path: Path):
    import warnings

    from safetensors.torch import load_file, save_file

    from mpsolve import MpsolveWarning

    model = MeRinoHFForCausalLM(MeRinoConfig.from_architecture(shared_arch))
    model.save_pretrained(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a recorded architecture is checked in full: no warning
        MeRinoHFForCausalLM.from_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    save_file(load_file(str(weights)), str(weights))  # as plain safetensors writes them: no metadata
    with pytest.warns(MpsolveWarning, match="record no architecture.*head_dim, activation"):
        loaded = MeRinoHFForCausalLM.from_pretrained(tmp_path)
    ids = torch.tensor([[1, 2, 3]])
    assert torch.equal(loaded(ids).logits, model(ids).logits)


def test_a_huge_config_is_refused_before_allocating(shared_arch: Architecture, tmp_path: Path) -> None:
    import tracemalloc

    MeRinoHFForCausalLM(MeRinoConfig.from_architecture(shared_arch)).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["vocab_size"] = 2**21  # a 2**21 x 64 embedding: 512 MiB had the loader allocated it first
    (tmp_path / "config.json").write_text(json.dumps(config))
    tracemalloc.start()
    with pytest.raises(CheckpointMismatchError, match=r"embed_tokens\.weight: checkpoint shape \(256, 64\)"):
        MeRinoHFForCausalLM.from_pretrained(tmp_path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2**27  # far below the 512 MiB the tensor would take


def test_models_larger_than_memory_and_bad_init_stds_are_refused(shared_arch: Architecture) -> None:
    from mpsolve.merino_model import ModelInputError, build

    with pytest.raises(ModelInputError, match="GiB of memory is available"):
        build(shared_arch, vocab_size=2**22, embed_proj_dim=2**14)  # a 2**22 x 2**14 fp32 embedding: 256 GiB
    for std in (float("inf"), float("nan"), 0.0, -1.0, 1.5, True):
        with pytest.raises(ModelInputError, match=r"init std must be a number in \(0, 1\]"):
            build(shared_arch, init_std=std)


@pytest.mark.parametrize("key, value", [("attn_implementation", "someone/evil-kernel"),
                                        ("_attn_implementation", "someone/evil-kernel"),
                                        ("experts_implementation", "someone/evil-kernel"),
                                        ("quantization_config", {"quant_method": "bitsandbytes", "load_in_8bit": 1})])
def test_a_config_naming_code_to_load_is_refused(hf_model, tmp_path: Path, key: str, value: object) -> None:
    """Before: transformers read a config's ``attn_implementation`` as a Hub kernel repository to download and import
    (code a checkpoint folder chose), and the other keys gave its ValueError / ImportError tracebacks."""
    hf_model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, key: value}))
    with pytest.raises(CheckpointMismatchError, match=rf"has a config that sets {key}, with which transformers would "
                                                      r"load code or kernels that the file names: .* remove it"):
        MeRinoHFForCausalLM.from_pretrained(tmp_path)
    if key == "attn_implementation":  # the lenient load skips the checks, and still loads no kernel
        assert isinstance(MeRinoHFForCausalLM.from_pretrained(tmp_path, ignore_mismatched_sizes=True),
                          MeRinoHFForCausalLM)


def test_an_oversized_or_deeply_nested_generation_config_is_refused(hf_model, tmp_path: Path) -> None:
    """Before: the size check's own error was caught as unparseable JSON, and transformers then read the whole file
    (2 GB: 4.6 GB of memory); deep nesting was its RecursionError traceback."""
    hf_model.save_pretrained(tmp_path)
    file = tmp_path / "generation_config.json"
    with open(file, "wb") as fh:
        fh.truncate(17 * 2**20)  # sparse: no disk written
    with pytest.raises(CheckpointMismatchError, match="generation config"):
        MeRinoHFForCausalLM.from_pretrained(tmp_path)
    file.write_text("[" * 100_000 + "]" * 100_000)
    said = r"generation_config.json is nested too deeply to read \(over 64 levels\): delete it"
    with pytest.raises(CheckpointMismatchError, match=said):
        MeRinoHFForCausalLM.from_pretrained(tmp_path)


def test_a_deeply_nested_architecture_record_is_unreadable_in_one_line(hf_model, tmp_path: Path) -> None:
    """Before: the weights' recorded architecture, nested 100 000 deep, was json's RecursionError traceback."""
    from safetensors.torch import load_file, save_file

    from mpsolve.merino_model._hf import ARCHITECTURE_METADATA

    hf_model.save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    save_file(load_file(weights), weights, metadata={"format": "pt", ARCHITECTURE_METADATA: "[" * 100_000})
    with pytest.raises(CheckpointMismatchError, match=r"the config's \(unreadable record\) differ"):
        MeRinoHFForCausalLM.from_pretrained(tmp_path)


@pytest.mark.parametrize("name", ["config.json", "generation_config.json"])
def test_a_config_nested_deep_enough_for_transformers_is_one_line(hf_model, tmp_path: Path, name: str) -> None:
    """Before: 900 levels of nesting in an extra key parse, then transformers' deepcopy of the config was a
    RecursionError traceback (found by the security audit)."""
    hf_model.save_pretrained(tmp_path)
    file = tmp_path / name
    file.write_text(json.dumps({**json.loads(file.read_text()), "extra": json.loads("[" * 900 + "]" * 900)}))
    for lenient in (False, True):
        with pytest.raises(CheckpointMismatchError, match=rf"^checkpoint '.*': {name} is nested too deeply to read "
                                                          r"\(over 64 levels\)"):
            MeRinoHFForCausalLM.from_pretrained(tmp_path, ignore_mismatched_sizes=lenient)


def test_differing_recorded_fields_are_named_short(hf_model, tmp_path: Path) -> None:
    """Before: the keys of the weights' recorded architecture that differ from the config were listed whole: a key
    of 100 000 characters made an error line as long (found by the security audit)."""
    from safetensors.torch import load_file, save_file

    from mpsolve.merino_model._hf import ARCHITECTURE_METADATA

    hf_model.save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    record = {**hf_model.config.architecture.to_dict(), **{"k" * 100_000 + str(i): 1 for i in range(10)}}
    save_file(load_file(weights), weights, metadata={"format": "pt", ARCHITECTURE_METADATA: json.dumps(record)})
    said = r"the config's 'k+\.\.\., 'k+\.\.\., 'k+\.\.\. \(and 7 more\) differ"
    with pytest.raises(CheckpointMismatchError, match=said) as info:
        MeRinoHFForCausalLM.from_pretrained(tmp_path)
    assert len(str(info.value)) < 500


def test_config_values_are_echoed_short(hf_model, tmp_path: Path) -> None:
    """Before: config.json's dtype and a generation_config.json field were echoed whole in the error (found by the
    security audit)."""
    hf_model.save_pretrained(tmp_path)
    config, generation = tmp_path / "config.json", tmp_path / "generation_config.json"
    original = config.read_text()
    config.write_text(json.dumps({**json.loads(original), "dtype": "x" * 100_000}))
    with pytest.raises(CheckpointMismatchError, match=r"dtype 'x+\.\.\. is not a type") as info:
        MeRinoHFForCausalLM.from_pretrained(tmp_path)
    assert len(str(info.value)) < 500
    config.write_text(original)
    generation.write_text(json.dumps({"max_new_tokens": 0, "pad_token_id": "y" * 100_000}))
    with pytest.raises(CheckpointMismatchError, match="unreadable generation_config.json") as info:
        MeRinoHFForCausalLM.from_pretrained(tmp_path)
    assert len(str(info.value)) < 700
