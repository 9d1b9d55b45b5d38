"""Odd inputs to the torch model and its Hugging Face wrapper: one clear ModelInputError, never torch's own error
or a silently wrong answer."""

from __future__ import annotations

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
