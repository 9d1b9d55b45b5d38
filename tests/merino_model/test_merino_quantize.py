"""INT8 dynamic quantisation: every Linear quantised, outputs close to fp32."""

from __future__ import annotations

import pytest
import torch
from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear

from mpsolve.merino_model import MeRinoConfig, MeRinoHFForCausalLM, ModelInputError, build, compare_outputs, quantize
from mpsolve.spaces import Architecture


@pytest.fixture
def trained(train_steps):
    """Train a model to confident predictions (random ones make top-1 a coin flip between near-ties)."""

    def fit(arch: Architecture, steps: int = 80) -> torch.nn.Module:
        model = build(arch, seed=0)
        loss = train_steps(model, (torch.arange(48) % 24).repeat(2, 1), steps)[-1]
        # 0.013-0.040 nats on init seeds 0-7, where ln 24 = 3.18 is chance
        assert loss < 0.5, f"the test model did not learn the sequence (loss {loss:.3f})"
        return model.eval()

    return fit


def test_int8_quantises_every_linear_and_stays_close(tiny_arch: Architecture, trained) -> None:
    model = trained(tiny_arch)
    q = quantize(model, "int8")
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert sum(isinstance(m, DynamicQuantizedLinear) for m in q.modules()) == len(linears)
    assert isinstance(q.embed_tokens, torch.nn.Embedding)  # embeddings stay fp32
    assert isinstance(model.lm_head, torch.nn.Linear)  # the original is untouched
    ids = (torch.arange(40) % 24).repeat(2, 1)
    report = compare_outputs(model, q, ids)
    assert set(report) == {"max_abs_diff", "max_rel_diff", "mean_abs_diff", "top1_agreement"}
    assert report["max_rel_diff"] < 0.1
    # Top-1 can only flip where the fp32 margin between the two best logits is at most twice the
    # largest logit error; everywhere else the INT8 model must agree exactly (no threshold to tune).
    with torch.inference_mode():
        ref, cand = model(ids).logits.double(), q(ids).logits.double()
    top2 = ref.topk(2, dim=-1).values
    confident = (top2[..., 0] - top2[..., 1]) > 2 * (ref - cand).abs().max(dim=-1).values
    # not vacuous: a trained model is confident everywhere (100 % of positions on init seeds 0-7)
    assert confident.double().mean() >= 0.9
    assert torch.equal(ref.argmax(-1)[confident], cand.argmax(-1)[confident])
    assert torch.equal(q.generate(ids[:, :8], max_new_tokens=4)[:, :8], ids[:, :8])


def test_random_weights_still_mostly_agree(shared_arch: Architecture) -> None:
    model = build(shared_arch, seed=0, init_std=0.05).eval()
    ids = torch.randint(0, 256, (4, 32), generator=torch.Generator().manual_seed(0))
    assert compare_outputs(model, quantize(model), ids)["top1_agreement"] >= 0.85


def test_quantised_hf_model_generates(shared_arch: Architecture) -> None:
    hf = MeRinoHFForCausalLM(MeRinoConfig.from_architecture(shared_arch)).eval()
    q = quantize(hf)
    out = q.generate(torch.randint(0, 256, (1, 5)), max_new_tokens=3, do_sample=False, pad_token_id=0)
    assert out.shape == (1, 8)


def test_unknown_mode(shared_arch: Architecture) -> None:
    with pytest.raises(ModelInputError, match="int8"):
        quantize(build(shared_arch), "int4")


def test_compare_outputs_refuses_an_empty_prompt_and_a_non_model(shared_arch: Architecture) -> None:
    """Before: torch's 'max(): Expected reduction dim' and "'str' object is not callable"."""
    model = build(shared_arch, seed=0).eval()
    with pytest.raises(ModelInputError, match=r"at least one token per row, got shape \(1, 0\)"):
        compare_outputs(model, model, torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(ModelInputError, match="got str as candidate"):
        compare_outputs(model, "int8", torch.zeros(1, 4, dtype=torch.long))


def test_a_half_precision_model_is_refused(shared_arch: Architecture) -> None:
    """Before: quantize returned a model whose forward raised torch's 'expected scalar type Float but found Half'."""
    for dtype in (torch.float16, torch.bfloat16):
        with pytest.raises(ModelInputError, match=f"float32.*{str(dtype).removeprefix('torch.')}"):
            quantize(build(shared_arch, seed=0).to(dtype))


def test_per_channel_must_be_a_bool(shared_arch: Architecture) -> None:
    """Before: per_channel="no" silently meant per-channel scales."""
    with pytest.raises(ModelInputError, match="per_channel must be True or False, got 'no'"):
        quantize(build(shared_arch, seed=0), per_channel="no")


def test_a_module_with_no_linear_inside_is_refused(shared_arch: Architecture) -> None:
    """Before: a bare nn.Linear (or a module holding none) came back as an unquantised fp32 copy, silently."""
    for module in (torch.nn.Linear(4, 4), torch.nn.Embedding(4, 4)):
        with pytest.raises(ModelInputError, match=f"no nn.Linear inside the {type(module).__name__} to quantise"):
            quantize(module)
    assert isinstance(quantize(torch.nn.Sequential(torch.nn.Linear(4, 4)))[0], DynamicQuantizedLinear)
    once = quantize(build(shared_arch, seed=0))
    assert isinstance(quantize(once).lm_head, DynamicQuantizedLinear)  # already quantised: as it is, as before


def test_saving_a_quantised_hf_model_is_refused_before_writing(shared_arch: Architecture, tmp_path) -> None:
    """Before: transformers' "'torch.dtype' object has no attribute 'data_ptr'", after writing config.json."""
    q = quantize(MeRinoHFForCausalLM(MeRinoConfig.from_architecture(shared_arch)).eval())
    with pytest.raises(ModelInputError, match="quantised model cannot be saved"):
        q.save_pretrained(tmp_path / "out")
    assert not (tmp_path / "out").exists()
