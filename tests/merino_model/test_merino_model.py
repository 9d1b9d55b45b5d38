"""The pure-PyTorch MeRino network: exact parameter count, caching, generation, losses, seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mpsolve.costs import ParamsCost
from mpsolve.merino_model import KVCache, MeRinoForCausalLM, ModelInputError, build, quantize, resolve_architecture
from mpsolve.spaces import Architecture, get_architecture, get_space
from mpsolve.utils.errors import ArchitectureError


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("space_name", ["small", "default", "paper", "byte-tiny", "large8"])
@pytest.mark.parametrize("shared", [True, False])
def test_parameter_count_equals_params_cost(space_name: str, shared: bool) -> None:
    space = get_space(space_name)
    for x in space.sample(4, random_state=7):
        arch = space.decode(x).replace(shared=shared)
        with torch.device("meta"):  # shapes only: no memory, no init
            model = MeRinoForCausalLM(arch)
        assert n_params(model) == ParamsCost().of(arch), str(arch)


@pytest.mark.parametrize(
    "name, shared, expected", [("merino-52m", True, 52_614_400), ("merino-64m", False, 99_973_120)]
)
def test_published_parameter_counts(name: str, shared: bool, expected: int) -> None:
    with torch.device("meta"):
        model = MeRinoForCausalLM(get_architecture(name).replace(shared=shared))
    assert n_params(model) == expected


def test_structure_follows_the_spec(tiny_arch: Architecture) -> None:
    model = build(tiny_arch)
    assert model.lm_head.weight is model.embed_tokens.weight and model.lm_head.bias is None
    assert model.blocks[0].proj_in is None  # D == E_1
    assert model.blocks[1].proj_in.in_features == 64 and model.blocks[1].proj_in.out_features == 128
    assert model.blocks[2].proj_in is None  # equal widths
    assert model.proj_out.in_features == 128 and model.proj_out.out_features == 64
    copies = [len(b.layers) for b in model.blocks]
    assert copies == ([1, 1, 1] if tiny_arch.shared else [2, 1, 2])
    assert [sum(1 for _ in b.applied_layers()) for b in model.blocks] == [2, 1, 2]
    assert model.blocks[0].layers[0].num_heads == 2 and model.blocks[1].layers[0].num_heads == 4


def test_kv_cache_matches_full_recomputation(tiny_arch: Architecture) -> None:
    model = build(tiny_arch, seed=3).eval()
    ids = torch.randint(0, 256, (2, 20), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        full = model(ids).logits
        out = model(ids[:, :11], use_cache=True)
        assert isinstance(out.past_key_values, KVCache)
        assert len(out.past_key_values) == tiny_arch.depth  # one slot per layer application
        chunk = model(ids[:, 11:15], past_key_values=out.past_key_values, use_cache=True)
        steps = [chunk.logits]
        cache = chunk.past_key_values
        for t in range(15, 20):
            step = model(ids[:, t : t + 1], past_key_values=cache, use_cache=True)
            cache = step.past_key_values
            steps.append(step.logits)
    torch.testing.assert_close(torch.cat([out.logits, *steps], dim=1), full, atol=1e-5, rtol=1e-4)


def test_the_cache_holds_keys_and_values_only(tiny_arch: Architecture) -> None:
    """Before: a prefill's cache held views of the fused QKV projection, whose storage (queries too) is half as
    much again as the keys and values: MemoryCost's KV cache was 1.5x low on the built model."""
    from transformers import DynamicCache

    model = build(tiny_arch, seed=3).eval()
    ids = torch.randint(0, 256, (2, 20), generator=torch.Generator().manual_seed(0))
    for cache in (KVCache(), DynamicCache()):
        with torch.inference_mode():
            model(ids, past_key_values=cache, use_cache=True)
        tensors = [*cache.keys, *cache.values] if isinstance(cache, KVCache) else [
            t for layer in cache.layers for t in (layer.keys, layer.values)]
        assert len(tensors) == 2 * tiny_arch.depth
        for t in tensors:
            assert t.untyped_storage().nbytes() == t.numel() * t.element_size()


def test_greedy_generate_matches_recomputation(tiny_arch: Architecture) -> None:
    model = build(tiny_arch, seed=1).eval()
    prompt = torch.randint(0, 256, (2, 7), generator=torch.Generator().manual_seed(1))
    generated = model.generate(prompt, max_new_tokens=10)
    seq = prompt
    with torch.inference_mode():
        for _ in range(10):
            seq = torch.cat([seq, model(seq).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(generated, seq)


def test_left_padded_batch_generates_like_single_prompts(shared_arch: Architecture) -> None:
    model = build(shared_arch, seed=2).eval()
    g = torch.Generator().manual_seed(2)
    long, short = torch.randint(0, 256, (1, 9), generator=g), torch.randint(0, 256, (1, 5), generator=g)
    batch = torch.cat([long, torch.cat([torch.zeros(1, 4, dtype=torch.long), short], dim=1)])
    mask = torch.ones_like(batch)
    mask[1, :4] = 0
    out = model.generate(batch, max_new_tokens=6, attention_mask=mask)
    assert torch.equal(out[0, 9:], model.generate(long, max_new_tokens=6)[0, 9:])
    assert torch.equal(out[1, 9:], model.generate(short, max_new_tokens=6)[0, 5:])
    right = mask.flip(1)  # before: generated after the padding, silently
    with pytest.raises(ModelInputError, match=r"padding after a real token \(right padding\): pad prompts on the left"):
        model.generate(batch, max_new_tokens=2, attention_mask=right)
    mask[1] = 0
    with pytest.raises(ModelInputError, match="a row of attention_mask has no real token"):
        model.generate(batch, max_new_tokens=2, attention_mask=mask)


def test_logits_to_keep(shared_arch: Architecture) -> None:
    model = build(shared_arch).eval()
    ids = torch.randint(0, 256, (3, 12))
    with torch.inference_mode():
        full = model(ids).logits
        assert full.shape == (3, 12, 256)
        torch.testing.assert_close(model(ids, logits_to_keep=1).logits, full[:, -1:], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(model(ids, logits_to_keep=4).logits, full[:, -4:], atol=1e-5, rtol=1e-4)
    with pytest.raises(ModelInputError, match="logits_to_keep=0"):
        model(ids, labels=ids, logits_to_keep=1)
    assert model(ids, logits_to_keep=np.int64(4)).logits.shape == (3, 4, 256)  # was refused


def test_torch_export_traces_forward_with_and_without_a_cache(shared_arch: Architecture) -> None:
    # the id-range check reads data; torch.export (and torch.onnx.export of a user's wrapper) must still trace
    model = build(shared_arch).eval()
    ids = torch.randint(0, 256, (1, 10), generator=torch.Generator().manual_seed(0))

    class Step(torch.nn.Module):
        def forward(self, token: torch.Tensor, past: list[torch.Tensor]) -> torch.Tensor:
            cache = KVCache()
            cache.keys, cache.values = list(past[0::2]), list(past[1::2])
            return model(token, past_key_values=cache, use_cache=True, logits_to_keep=1).logits

    with torch.inference_mode():
        cache = model(ids[:, :-1], use_cache=True).past_key_values
        past = [t for kv in zip(cache.keys, cache.values) for t in kv]
        want = model(ids, logits_to_keep=1).logits
    prefill = torch.export.export(model, (ids,), {"logits_to_keep": 1}).module()
    step = torch.export.export(Step(), (ids[:, -1:], past)).module()
    with torch.inference_mode():
        torch.testing.assert_close(prefill(ids, logits_to_keep=1).logits, want, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(step(ids[:, -1:], past), want, atol=1e-5, rtol=1e-4)
    from mpsolve.merino_model import MeRinoHFForCausalLM

    hf = MeRinoHFForCausalLM.from_model(model).eval()  # as for transformers' own models: without a returned cache
    exported = torch.export.export(hf, (ids,), {"logits_to_keep": 1, "use_cache": False}).module()
    with torch.inference_mode():
        torch.testing.assert_close(exported(ids, logits_to_keep=1, use_cache=False).logits, want, atol=1e-5, rtol=1e-4)
    with pytest.raises(ModelInputError, match="token ids must be in"):  # eager calls still check
        model(torch.tensor([[0, shared_arch.vocab_size]]))


def test_flops_costs_count_the_matmuls_torch_runs(tiny_arch: Architecture) -> None:
    # torch's flop counter counts the linear layers and the LM head (aten.mm / addmm); the attention
    # products (4 * positions * width per layer application and query) are the costs' own formula
    from torch.utils.flop_counter import FlopCounterMode

    from mpsolve.costs import DecodeFlopsCost, FlopsCost

    model = build(tiny_arch).eval()
    n = 20
    ids = torch.randint(0, 256, (1, n + 1), generator=torch.Generator().manual_seed(0))
    width = sum(block.layers * block.embed_dim for block in tiny_arch.blocks)

    def matmul_flops(call) -> int:
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            call()
        counts = counter.get_flop_counts()["Global"]
        return sum(v for op, v in counts.items() if str(op) in ("aten.mm", "aten.addmm"))

    with torch.inference_mode():
        cache = model(ids[:, :n], use_cache=True).past_key_values
    prefill = matmul_flops(lambda: model(ids[:, :n]))
    decode = matmul_flops(lambda: model(ids[:, n:], past_key_values=cache, use_cache=True, logits_to_keep=1))
    assert FlopsCost(seq_len=n, include_lm_head=True).of(tiny_arch) == prefill + 4 * n * n * width
    assert DecodeFlopsCost(seq_len=n).of(tiny_arch) == decode + 4 * (n + 1) * width
    lm_head = 2 * tiny_arch.embed_proj_dim * tiny_arch.vocab_size
    assert DecodeFlopsCost(seq_len=n, include_lm_head=False).of(tiny_arch) == decode + 4 * (n + 1) * width - lm_head


def test_labels_loss_is_shifted_cross_entropy_ignoring_minus_100(shared_arch: Architecture) -> None:
    model = build(shared_arch)
    ids = torch.randint(0, 256, (2, 10))
    labels = ids.clone()
    labels[0, :3] = -100
    out = model(ids, labels=labels)
    manual = F.cross_entropy(out.logits[:, :-1].reshape(-1, 256), labels[:, 1:].reshape(-1), ignore_index=-100)
    torch.testing.assert_close(out.loss, manual)


def test_seeded_initialisation_and_std(shared_arch: Architecture) -> None:
    a, b, c = build(shared_arch, seed=5), build(shared_arch, seed=5), build(shared_arch, seed=6)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.embed_tokens.weight, c.embed_tokens.weight)
    wide = build(shared_arch, seed=0, init_std=0.5)
    assert wide.blocks[1].layers[0].ffn_up.weight.std().item() == pytest.approx(0.5, rel=0.05)
    # width projections keep the residual stream's scale: N(0, 1 / fan_in) whatever init_std is
    proj = wide.blocks[1].proj_in
    assert proj.weight.std().item() == pytest.approx(proj.in_features**-0.5, rel=0.1)
    assert wide.proj_out.weight.std().item() == pytest.approx(wide.proj_out.in_features**-0.5, rel=0.1)
    assert torch.all(wide.blocks[1].layers[0].ffn_up.bias == 0)
    assert torch.all(wide.final_norm.weight == 1)
    with pytest.raises(ModelInputError, match="std"):
        build(shared_arch, init_std=0)
    # a numpy std is the same std (before: "init std must be a number in (0, 1]", got np.float32(0.5))
    same = build(shared_arch, seed=0, init_std=np.float64(0.5))
    assert all(torch.equal(p, q) for p, q in zip(wide.parameters(), same.parameters()))
    with pytest.raises(ModelInputError, match=r"init std must be a number in \(0, 1\]"):
        build(shared_arch, init_std=np.float32("nan"))


def test_sampling_is_seeded_and_filters(shared_arch: Architecture) -> None:
    model = build(shared_arch, seed=0, init_std=0.2).eval()
    prompt = torch.randint(0, 256, (2, 4))
    kwargs = {"max_new_tokens": 8, "do_sample": True, "temperature": 0.8, "top_p": 0.9}
    first, again = model.generate(prompt, seed=11, **kwargs), model.generate(prompt, seed=11, **kwargs)
    assert torch.equal(first, again)
    assert not torch.equal(first, model.generate(prompt, seed=12, **kwargs))
    greedy = model.generate(prompt, max_new_tokens=8)
    assert torch.equal(model.generate(prompt, max_new_tokens=8, do_sample=True, top_k=1, seed=0), greedy)
    assert torch.equal(model.generate(prompt, max_new_tokens=8, do_sample=True, top_p=1e-6, seed=0), greedy)


def test_eos_stops_and_pads(shared_arch: Architecture) -> None:
    model = build(shared_arch, seed=0).eval()
    prompt = torch.randint(0, 256, (2, 4), generator=torch.Generator().manual_seed(4))
    free = model.generate(prompt, max_new_tokens=6)
    eos = int(free[0, 5])  # the second token generated for the first prompt
    first = 4 + int(torch.nonzero(free[0, 4:] == eos)[0])
    stopped = model.generate(prompt, max_new_tokens=6, eos_token_id=eos, pad_token_id=-1)
    assert torch.equal(stopped[0, : first + 1], free[0, : first + 1])
    assert torch.all(stopped[0, first + 1 :] == -1)
    if bool((stopped[:, 4:] == eos).any(dim=1).all()):  # both finished: generation stops early
        assert stopped.shape[1] < free.shape[1]


def test_input_errors(shared_arch: Architecture) -> None:
    model = build(shared_arch)
    with pytest.raises(ModelInputError, match="max_positions=64"):
        model(torch.zeros(1, 65, dtype=torch.long))
    with pytest.raises(ModelInputError, match="shape"):
        model(torch.zeros(5, dtype=torch.long))
    with pytest.raises(ModelInputError, match="temperature"):
        model.generate(torch.zeros(1, 2, dtype=torch.long), do_sample=True, temperature=0)
    prompt = torch.zeros(1, 2, dtype=torch.long)
    for kwargs, match in (
        ({"do_sample": True, "temperature": "x"}, "temperature must be positive when sampling, got 'x'"),
        ({"do_sample": "yes"}, "do_sample must be True or False, got 'yes'"),
        ({"do_sample": True, "top_k": 1.5}, "top_k must be a positive int, got 1.5"),
        ({"do_sample": True, "seed": 1.5}, "seed must be a non-negative integer or None, got 1.5"),
        ({"do_sample": True, "seed": 2**32}, r"seed must be below 2\*\*32 \(torch's CPU generator keeps 32 bits"),
    ):
        with pytest.raises(ModelInputError, match=match):
            model.generate(prompt, **kwargs)
    with pytest.raises(ModelInputError, match="input_ids must hold integer token ids, got dtype torch.float32"):
        model(torch.zeros(1, 2))
    with pytest.raises(ModelInputError, match="input_ids must be a torch tensor of token ids, got list"):
        model([[1, 2]])
    with pytest.raises(ModelInputError, match="generate needs at least one prompt token"):
        model.generate(torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(ModelInputError, match="^generate needs at least one prompt, got input_ids with no rows$"):
        model.generate(torch.zeros(0, 3, dtype=torch.long))  # returned an empty batch before
    vocab = shared_arch.vocab_size
    with pytest.raises(ModelInputError, match=rf"token ids must be in \[0, {vocab}\) \(the vocabulary\), got ids from"):
        model.generate(torch.full((1, 2), -1))
    with pytest.raises(ModelInputError, match=rf"got ids from 0 to {vocab}$"):
        model(torch.tensor([[0, vocab]]))
    with pytest.raises(ModelInputError, match="quantize needs a torch.nn.Module"):
        quantize(3, "int8")
    assert build(shared_arch, seed=np.int64(3)).state_dict().keys() == model.state_dict().keys()


def test_build_accepts_presets_dicts_and_design_results(tmp_path) -> None:
    overrides = {"vocab_size": 256, "embed_proj_dim": 64, "max_positions": 32}
    arch = get_architecture("merino-52m").replace(**overrides)
    assert build("merino-52m", **overrides).architecture == arch
    assert resolve_architecture(arch.to_dict()) == arch
    assert resolve_architecture({"architecture": arch.to_dict(), "objective": 1.0}) == arch
    path = tmp_path / "arch.json"
    path.write_text(arch.to_json())
    assert resolve_architecture(str(path)) == arch
    with pytest.raises(ArchitectureError, match="unknown architecture override"):
        build("merino-52m", vocab=3)
    with pytest.raises(ArchitectureError, match="neither an architecture preset"):
        build("merino-1b")
    with pytest.raises(ArchitectureError, match="activation"):
        MeRinoForCausalLM(arch.replace(activation="swish-ish"))


def test_a_few_training_steps_reduce_the_loss(shared_arch: Architecture, train_steps) -> None:
    torch.manual_seed(0)
    model = build(shared_arch, seed=0)
    data = torch.tensor(np.tile(np.arange(16), (2, 2)), dtype=torch.long)  # a repeating pattern
    losses = train_steps(model, data, 10)
    # 0.63-0.68 of the first loss after 10 steps on init seeds 0-7
    assert losses[-1] < 0.8 * losses[0]


def test_building_and_running_a_model_leaves_torch_dynamo_unimported() -> None:
    """``build`` counted the parameters of a model laid out on the ``meta`` device, whose initialisation imports
    ``torch._dynamo``, a large part of the start of every fresh process that builds a model (each memory
    measurement, each latency worker). The count is the ``params`` cost's now."""
    import subprocess
    import sys

    code = ("import sys, torch\n"
            "from mpsolve.merino_model import build\n"
            "model = build('merino-52m', vocab_size=256, embed_proj_dim=64, max_positions=16).eval()\n"
            "with torch.inference_mode():\n"
            "    model(torch.zeros(1, 4, dtype=torch.long), use_cache=True)\n"
            "assert 'torch._dynamo' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
