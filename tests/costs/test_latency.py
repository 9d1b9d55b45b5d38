"""Latency profiles and the additive prefill / decode latency costs, validated against measured latency."""

from __future__ import annotations

import functools
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from mpsolve.constraints import Budget
from mpsolve.costs import DecodeLatencyCost, LatencyCost, LatencyProfileError, batch_of, get_cost
from mpsolve.merino_model import profile_latency
from mpsolve.spaces import SearchSpace
from mpsolve.testing.pytest_solvers import synthetic_profile
from mpsolve.utils.errors import MpsolveError
from mpsolve.utils.signals import pool_worker


@pytest.fixture(scope="module")
def tiny_space() -> SearchSpace:
    return SearchSpace(
        num_blocks=3,
        embed_dims=(64, 128, 256),
        ffn_ratios=(1.0, 4.0),
        layers=(1, 2, 4),
        vocab_size=256,
        embed_proj_dim=128,
        max_positions=64,
        name="tiny",
    )


@pytest.fixture(scope="module")
def profile(tiny_space: SearchSpace) -> dict:
    # the minimum, not the median: test machines run other work, and preemptions inflate medians
    return profile_latency(tiny_space, seq_len=64, threads=1, min_run_time=0.05, progress=False, statistic="min",
                           calibrate=8)


@pytest.fixture(scope="module")
def decode_profile(tiny_space: SearchSpace) -> dict:
    return profile_latency(
        tiny_space, seq_len=48, threads=1, phase="decode", min_run_time=0.05, progress=False, statistic="min",
        calibrate=4,
    )


def test_profile_covers_every_component(profile: dict, tiny_space: SearchSpace) -> None:
    assert {(r["embed_dim"], r["ffn_dim"]) for r in profile["layers"]} == {
        (e, int(e * r)) for e in tiny_space.embed_dims for r in tiny_space.ffn_ratios
    }
    inputs = {(r["in_dim"], r["out_dim"]) for r in profile["projections"] if r["kind"] == "input"}
    outputs = {(r["in_dim"], r["out_dim"]) for r in profile["projections"] if r["kind"] == "output"}
    assert inputs == {(128, 64), (128, 256), (64, 128), (64, 256)}  # D -> E and E -> E' (E < E')
    assert outputs == {(64, 128), (256, 128)}  # E_N -> D at the last position
    assert all(r["positions"] == (64 if r["kind"] == "input" else 1) for r in profile["projections"])
    assert (profile["threads"], profile["seq_len"], profile["batch"], profile["statistic"]) == (1, 64, 1, "min")
    assert (profile["runtime"], profile["phase"], profile["head_positions"]) == ("torch", "prefill", 1)
    entries = [*profile["layers"], *profile["projections"]]
    assert all(e["iqr_ms"] >= 0 and isinstance(e["noisy"], bool) for e in entries)
    assert {f"layer {e['embed_dim']}x{e['ffn_dim']}" for e in profile["layers"] if e["noisy"]} <= set(
        profile["noisy_entries"]
    )
    assert profile["space"]["name"] == "tiny" and profile["device"]["cpu"]
    assert profile["torch"] == torch.__version__
    assert all(v > 0 for v in [profile["embedding_ms"], profile["head_ms"], *(r["ms"] for r in profile["layers"])])
    json.dumps(profile)  # serialisable


def test_prediction_is_the_sum_of_its_parts(profile: dict, tiny_space: SearchSpace) -> None:
    cost = LatencyCost(profile, calibrated=False)
    assert cost.is_additive() and cost.unit == "ms" and cost.name == "latency"
    arch = tiny_space.decode(np.array([0, 1, 2, 2, 0, 0, 2, 0, 1]))  # 4x(64, r=4), 1x(256, r=1), 2x(256, r=1)
    layer = {(r["embed_dim"], r["ffn_dim"]): r["ms"] for r in profile["layers"]}
    # shared layers: the timed consecutive applications (2 and 4 here), never less than fewer of them
    runs = {(r["embed_dim"], r["ffn_dim"]): dict(zip(r["repeated"]["applications"], r["repeated"]["ms"]))
            for r in profile["layers"]}
    four = max(layer[(64, 256)], runs[(64, 256)][2], runs[(64, 256)][4])
    two = max(layer[(256, 256)], runs[(256, 256)][2])
    proj = {(r["kind"], r["in_dim"], r["out_dim"]): r["ms"] for r in profile["projections"]}
    expected = (
        profile["embedding_ms"]
        + profile["head_ms"]
        + four
        + layer[(256, 256)]
        + two
        + proj[("input", 128, 64)]
        + proj[("input", 64, 256)]
        + proj[("output", 256, 128)]
    )
    assert cost.of(arch) == pytest.approx(expected)
    cal = profile["calibration"]  # the calibrated cost adds its terms: 7 layer applications
    assert LatencyCost(profile).of(arch) == pytest.approx(expected + cal["ms"] + 7 * cal["per_layer_ms"])
    batch = tiny_space.decode_batch(tiny_space.sample(50, random_state=0))
    many = cost.evaluate(batch, tiny_space)
    assert many.shape == (50,)
    one_by_one = [cost.of(tiny_space.decode(x)) for x in tiny_space.sample(50, random_state=0)]
    np.testing.assert_allclose(many, one_by_one)
    unshared = SearchSpace(**{**tiny_space.to_dict(), "shared": False}).decode(np.array([0, 1, 2, 2, 0, 0, 2, 0, 1]))
    assert cost.of(unshared) - cost.of(arch) == pytest.approx(4 * layer[(64, 256)] - four
                                                              + 2 * layer[(256, 256)] - two)


def test_predicted_latency_orders_well_separated_designs(profile: dict, tiny_space: SearchSpace) -> None:
    from mpsolve.merino_model import build

    # 24 designs: on an idle machine 12 gave 19-24 pairs the profile separates by 2x, but a profile measured
    # beside the other test process on two slow cores gave 4 (the guard below failed), 24 give 56-96 idle
    X = tiny_space.sample(24, random_state=3)
    models = [build(tiny_space.decode(x)).eval() for x in X]
    ids = torch.randint(0, 256, (1, 64), generator=torch.Generator().manual_seed(0))
    # Every pair the component sum (the library's default prediction: no calibration, which under load fits the
    # load) separates by 2x or more is measured in that order. Near-ties are ordered by background load, not by the
    # designs (a Spearman bound over all pairs failed with a second test process on the two cores); the accuracy
    # itself is measured on an idle machine by benchmarks/latency.py. With two busy loops beside it on the two cores,
    # a profile taken while the load changed mis-ordered a pair in 3 of 4 runs: one disagreement profiles again.
    previous = torch.get_num_threads()
    for profiles in range(1, 4):  # noqa: B007 (said below)
        predicted = LatencyCost(profile, calibrated=False).evaluate(tiny_space.decode_batch(X), tiny_space)
        wide = predicted[:, None] >= 2 * predicted[None, :]
        assert wide.sum() >= 5, "too few well-separated pairs to test"
        times: list[list[float]] = [[] for _ in models]
        torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                for model in models:
                    model(ids, logits_to_keep=1)
                for _ in range(4):  # 15 rounds, 15 more (up to 60) while a wide pair disagrees
                    for _ in range(15):  # round robin: background load hits every model alike
                        for model, t in zip(models, times):
                            start = time.perf_counter()
                            model(ids, logits_to_keep=1)
                            t.append(time.perf_counter() - start)
                    measured = np.array([1000 * min(t) for t in times])
                    agree = (measured[:, None] > measured[None, :])[wide]
                    if agree.all():
                        break
        finally:
            torch.set_num_threads(previous)
        if agree.all():
            break
        profile = profile_latency(tiny_space, seq_len=64, threads=1, min_run_time=0.05, progress=False,
                                  statistic="min")
    assert agree.all(), (f"predicted {np.round(predicted, 2)}, measured {np.round(measured, 2)} ({len(times[0])} "
                         f"rounds, {profiles} profiles)")


def test_profile_file_and_budget(profile: dict, tiny_space: SearchSpace, tmp_path: Path) -> None:
    path = tmp_path / "device.json"
    path.write_text(json.dumps(profile))
    cost = get_cost("latency", profile=str(path))
    assert isinstance(cost, LatencyCost) and cost.options() == {"profile": str(path), "calibrated": True}
    assert cost == get_cost("latency_ms", profile=str(path))
    budget = Budget("latency", 1e9, profile=str(path))
    assert np.all(budget.violation(tiny_space.decode_batch(tiny_space.sample(5, random_state=1)), tiny_space) < 0)


def test_a_millisecond_budget_refuses_a_multiplier(tmp_path: Path) -> None:
    """Before: latency_ms=5m was read as 5M ms (M multiplies by a million), a budget no design comes near."""
    from mpsolve import Problem
    from mpsolve.workflows.pareto import pareto

    path = tmp_path / "device.json"
    path.write_text(json.dumps(synthetic_profile("small")))
    for cost in ("latency", "latency_ms"):
        with pytest.raises(MpsolveError, match=r"latency budget is in milliseconds, without a unit .*got '5m'"):
            Budget(cost, "5m", profile=str(path))
    assert Budget("latency", " 5 ", profile=str(path)).limit == 5 and Budget("latency", 5e3, profile=str(path))
    assert Budget("flops", "5m").limit == 5e6  # a count keeps its multipliers
    with pytest.raises(MpsolveError, match=r"in milliseconds, without a unit .*got '5K'"):
        pareto(Problem("small"), get_cost("latency", profile=str(path)), ["1", "5K"], "exhaustive")


def test_missing_shapes_and_other_constants_are_explained(profile: dict, tiny_space: SearchSpace) -> None:
    cost = LatencyCost(profile)
    wider = SearchSpace(**{**tiny_space.to_dict(), "embed_dims": (64, 128, 256, 512)})
    arch = wider.decode(np.array([3, 0, 0, 3, 0, 0, 3, 0, 0]))
    with pytest.raises(LatencyProfileError, match=r"embed_dim=512, ffn_dim=512.*profile-latency"):
        cost.of(arch)
    no_proj = {**profile, "projections": [r for r in profile["projections"] if r["kind"] == "output"]}
    with pytest.raises(LatencyProfileError, match=r"input projection 128 -> 256"):
        LatencyCost(no_proj).of(tiny_space.decode(np.array([2, 0, 0, 2, 0, 0, 2, 0, 0])))
    with pytest.raises(LatencyProfileError, match=r"vocab_size=50272 \(profile: 256\)"):
        cost.evaluate(batch_of(arch), SearchSpace())


def test_bad_profiles(tmp_path: Path) -> None:
    with pytest.raises(LatencyProfileError, match="does not exist.*profile-latency"):
        LatencyCost(tmp_path / "nope.json")
    for empty in ("", " "):  # '' was read as the current folder: "'.' is not a regular file"
        with pytest.raises(LatencyProfileError, match="^the latency profile's path is empty: give the file"):
            LatencyCost(empty)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(LatencyProfileError, match="cannot read"):
        LatencyCost(tmp_path / "bad.json")
    with pytest.raises(LatencyProfileError, match="not a latency profile"):
        LatencyCost({"format": "other"})
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(LatencyProfileError, match="not a latency profile .format 'list'"):
        LatencyCost(tmp_path / "list.json")
    (tmp_path / "result.json").write_text('{"status": "optimal"}')  # a JSON file of another kind names itself
    with pytest.raises(LatencyProfileError, match=r"'.*result\.json' is not a latency profile .*profile-latency --out"):
        LatencyCost(tmp_path / "result.json")
    with pytest.raises(LatencyProfileError, match="version"):
        LatencyCost({"format": "mpsolve-latency-profile", "version": 99})
    with pytest.raises(LatencyProfileError, match="runtime 'tvm' is not one of torch, onnxruntime"):
        LatencyCost({"format": "mpsolve-latency-profile", "version": 2, "runtime": "tvm", "phase": "prefill"})
    with pytest.raises(LatencyProfileError, match="statistic 'mean' is not one of median, min"):
        LatencyCost({"format": "mpsolve-latency-profile", "version": 2, "runtime": "torch", "phase": "prefill",
                     "statistic": "mean"})
    for lean, message in (("yes", "latency profile lean 'yes' is not true or false"),
                          (True, "latency profile says lean .ONNX Runtime's lean graph. of runtime 'torch'")):
        with pytest.raises(LatencyProfileError, match=message):
            LatencyCost({**synthetic_profile("byte-tiny"), "lean": lean})


def test_a_cost_refuses_the_other_phase(profile: dict, decode_profile: dict) -> None:
    with pytest.raises(LatencyProfileError, match="needs a prefill profile.*decode_ms"):
        LatencyCost(decode_profile)
    with pytest.raises(LatencyProfileError, match="needs a decode profile.*latency_ms.*--phase decode"):
        DecodeLatencyCost(profile)
    for timing in (-1.0, 1e308):  # 1e308 overflowed the sums into a misleading "not additive" error
        with pytest.raises(LatencyProfileError, match=r"timings that are not numbers from 0 to 1e\+09 ms"):
            LatencyCost({**profile, "head_iqr_ms": timing})


@pytest.mark.parametrize(
    ("key", "change", "message"),
    [
        ("projections", {"kind": "bogus"}, r"projections\[0\] kind 'bogus' is not one of input, output"),
        ("projections", {"in_dim": 7.5}, r"projections\[0\] in_dim 7.5 is not a positive integer"),
        ("projections", {"out_dim": 2**40}, r"out_dim 1099511627776 is not a positive integer below 2\*\*31"),
        ("layers", {"embed_dim": True}, r"layers\[0\] embed_dim True is not a positive integer"),
        ("layers", {"ffn_dim": 0}, r"layers\[0\] ffn_dim 0 is not a positive integer"),
        ("layers", 5, "layers is not a list of entries"),
        ("layers", "copy", r"layers\[1\] repeats the shape of an earlier entry"),
        ("projections", "copy", r"projections\[1\] repeats the shape of an earlier entry"),
    ],
)
def test_tampered_entries_are_refused(profile: dict, key: str, change: dict | int | str, message: str) -> None:
    if change == "copy":  # the first entry twice, with another timing
        tampered = [profile[key][0], {**profile[key][0], "ms": 2 * profile[key][0]["ms"]}, *profile[key][1:]]
    else:
        tampered = [{**profile[key][0], **change}, *profile[key][1:]] if isinstance(change, dict) else change
    with pytest.raises(LatencyProfileError, match=message + ".*re-profile"):
        LatencyCost({**profile, key: tampered})


@pytest.mark.parametrize(
    "repeated",
    [5, {"applications": [2, 4]}, {"applications": [], "ms": []}, {"applications": [1, 2], "ms": [1.0, 2.0]},
     {"applications": [4, 2], "ms": [1.0, 2.0]}, {"applications": [2.5], "ms": [1.0]},
     {"applications": [2], "ms": [1.0], "iqr_ms": [0.1, 0.2]},
     {"applications": [2**31 - 1], "ms": [1.0]}],  # accepted before: a 16 GB table
)
def test_a_malformed_repeated_entry_is_refused(profile: dict, repeated: object) -> None:
    layers = [{**profile["layers"][0], "repeated": repeated}, *profile["layers"][1:]]
    with pytest.raises(LatencyProfileError, match=r"layers\[0\] repeated is not increasing applications from 2 "
                                                  r"to 64 with one ms each; re-profile"):
        LatencyCost({**profile, "layers": layers})
    for value in (float("nan"), 10**400):  # 10**400: an OverflowError before
        bad = {"applications": [2], "ms": [value]}
        with pytest.raises(LatencyProfileError, match="timings that are not numbers"):
            LatencyCost({**profile, "layers": [{**profile["layers"][0], "repeated": bad}, *profile["layers"][1:]]})


def test_a_shared_block_costs_its_timed_applications(tiny_space: SearchSpace) -> None:
    """Linear between the timed depths, the slope of the repeats beyond the deepest, never less
    for more applications; an unshared block is that many first applications; version 2 profiles
    (no ``repeated``) give the repeats their warm timing."""

    space = SearchSpace(**{**tiny_space.to_dict(), "layers": (1, 2, 3, 5, 9)})
    profile = synthetic_profile(space)
    row = next(r for r in profile["layers"] if (r["embed_dim"], r["ffn_dim"]) == (64, 64))
    row.update(ms=1.0, warm_ms=0.25, repeated={"applications": [2, 4, 6], "ms": [1.8, 3.0, 2.9]})

    def block(layers: int, prof: dict = profile, sp: SearchSpace = space) -> float:
        x = np.array([0, 0, space.layers.index(layers), 0, 0, 0, 0, 0, 0])
        one = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0])
        cost = LatencyCost(prof)
        return cost.of(sp.decode(x)) - cost.of(sp.decode(one)) + 1.0

    # 3: between 2 and 4; 5 and 9: the running maximum holds 3.0 from 4 on, then (3.0 - 1.8) / (6 - 2) a repeat
    assert [block(n) for n in (1, 2, 3, 5, 9)] == pytest.approx([1.0, 1.8, 2.4, 3.0, 3.0 + 3 * 0.3])
    unshared = SearchSpace(**{**space.to_dict(), "shared": False})
    assert block(5, sp=unshared) == pytest.approx(5.0)
    del row["repeated"]
    assert block(5, {**profile, "version": 2}) == pytest.approx(1.0 + 4 * 0.25)
    # before: a version 3 profile of an unshared space gave a shared block's repeats their warm timing (1.0 + 4 *
    # 0.25), as a version 2 profile does, though it timed no repeat
    unshared_profile = synthetic_profile(unshared)
    assert LatencyCost(unshared_profile).of(space.decode(np.zeros(9, dtype=int))) > 0  # one layer a block: timed
    with pytest.raises(LatencyProfileError, match=r"^the latency profile \(space 'tiny'\) has no entry for 5 "
                       r"consecutive applications of a shared layer \(its space shares none.*\); re-profile"):
        block(5, unshared_profile)


def test_profiles_time_the_consecutive_applications_of_shared_layers(profile: dict, tiny_space: SearchSpace) -> None:
    from mpsolve.merino_model._profile import MAX_TIMED_APPLICATIONS, _run_next, repeat_counts

    assert profile["version"] == 3
    for r in profile["layers"]:
        assert r["repeated"]["applications"] == [2, 4] and len(r["repeated"]["iqr_ms"]) == 2
        assert all(0 < ms < 1e3 for ms in r["repeated"]["ms"])
    # what a repeated timing runs: the first n calls of the next copy, copy after copy (counted, not
    # timed: two applications took 1.5-2.1x one on an idle machine, less than one on a loaded one)
    ran: list[tuple[int, int]] = []
    copies = [[functools.partial(ran.append, (c, j)) for j in range(4)] for c in range(3)]
    cycle = itertools.cycle(copies)
    _run_next(cycle, 2)
    _run_next(cycle, 4)
    _run_next(cycle, 1)
    assert ran == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (1, 3), (2, 0)]
    assert repeat_counts(SearchSpace(layers=(1, 2, 3, 4))) == [2, 3, 4]
    assert repeat_counts(SearchSpace(layers=(1, 16, 32))) == [MAX_TIMED_APPLICATIONS]
    assert repeat_counts(SearchSpace(layers=(1, 3, 9))) == [3, MAX_TIMED_APPLICATIONS]
    assert repeat_counts(SearchSpace(layers=(1,))) == repeat_counts(SearchSpace(shared=False)) == []


def test_an_unshared_space_times_no_repeats() -> None:
    space = SearchSpace(num_blocks=1, embed_dims=(64,), ffn_ratios=(1.0,), layers=(1, 2), vocab_size=256,
                        embed_proj_dim=64, max_positions=32, shared=False, name="unshared")
    profile = profile_latency(space, 16, threads=1, min_run_time=0.01, progress=False)
    assert "repeated" not in profile["layers"][0]


@pytest.mark.parametrize("space", [None, "tiny", [1]])
def test_a_profile_whose_space_is_not_a_mapping_is_refused(tiny_space: SearchSpace, space: object) -> None:
    """It was read only to name the space of a missing entry: an AttributeError then."""

    with pytest.raises(LatencyProfileError, match="space is not a mapping.*re-profile"):
        LatencyCost({**synthetic_profile(tiny_space), "space": space})


@pytest.mark.parametrize("value", [-1, 0, 2.5, True, "64"])
def test_a_profile_seq_len_that_is_not_a_positive_integer_is_refused(profile: dict, value: object) -> None:
    with pytest.raises(LatencyProfileError, match=f"seq_len {value!r} is not a positive integer.*re-profile"):
        LatencyCost({**profile, "seq_len": value})


@pytest.mark.parametrize("value", [0, 2.5, True, "x"])
def test_a_profile_threads_that_is_not_a_positive_integer_or_null_is_refused(profile: dict, value: object) -> None:
    """Before: accepted; mpsolve latency then said 'threads must be a positive integer' without naming the file."""
    with pytest.raises(LatencyProfileError, match=f"threads {value!r} is not a positive integer.*re-profile"):
        LatencyCost({**profile, "threads": value})
    assert LatencyCost({**profile, "threads": None}).workload["threads"] is None  # the runtime's default


@pytest.mark.parametrize(("runtime", "value"), [("torch", "all"), ("torch", "bogus"), ("onnxruntime", 5)])
def test_a_profile_logits_that_its_runtime_does_not_time_is_refused(runtime: str, value: object) -> None:
    """Before: accepted; mpsolve latency then said 'logits must be one of last for torch', an option it does not
    have, without naming the file."""

    profile = {**synthetic_profile("small"), "runtime": runtime}
    kept = "last" if runtime == "torch" else "all, last"
    with pytest.raises(LatencyProfileError, match=rf"^latency profile logits {value!r} is not one of {kept} for a "
                                                  f"{runtime} profile; re-profile"):
        LatencyCost({**profile, "logits": value})
    assert LatencyCost({**profile, "logits": "last"}).workload["logits"] == "last"


@pytest.mark.parametrize("where", ["format", "version", "runtime", "seq_len", "logits", "embed_dim", "kind",
                                   "activation", "space"])
def test_a_huge_value_in_a_profile_is_cut_in_its_error(where: str) -> None:
    """Before: the whole value, a megabyte-long error line for a megabyte-long string."""
    from mpsolve.spaces import get_space

    profile, huge = synthetic_profile("small"), "x" * 10**6
    if where in ("embed_dim", "kind"):
        key = "layers" if where == "embed_dim" else "projections"
        profile[key] = [{**profile[key][0], where: huge}, *profile[key][1:]]
    elif where == "activation":
        profile["constants"] = {**profile["constants"], "activation": huge}
    elif where == "space":  # named where a design needs a shape the profile lacks
        profile.update(space={"name": huge}, layers=[])
    else:
        profile[where] = huge
    space = get_space("small")
    with pytest.raises(LatencyProfileError) as error:
        LatencyCost(profile).evaluate(batch_of(space.decode(space.sample(1, random_state=0)[0])), space)
    assert "x" * 40 not in str(error.value) and "..." in str(error.value) and len(str(error.value)) < 300


def test_version_1_profiles_are_torch_prefill(profile: dict) -> None:
    old = {k: v for k, v in profile.items() if k not in ("runtime", "phase")}
    cost = LatencyCost({**old, "version": 1})
    assert cost.runtime == "torch" and cost == LatencyCost({**old, "version": 1})
    # before: a version-1 file that said decode was read as prefill, and version true as 1
    with pytest.raises(LatencyProfileError, match="version 1 is a torch prefill profile, but this one says runtime "
                                                  "'torch', phase 'decode'; re-profile"):
        LatencyCost({**old, "version": 1, "phase": "decode"})
    with pytest.raises(LatencyProfileError, match="version 'True' is not supported"):
        LatencyCost({**old, "version": True})
    with pytest.raises(LatencyProfileError, match="constants lack vocab_size, embed_proj_dim, head_dim, activation"):
        LatencyCost({**profile, "constants": {}})  # nothing was checked against the design


def test_decode_profile_times_one_token_against_the_cache(decode_profile: dict, tiny_space: SearchSpace) -> None:
    assert (decode_profile["phase"], decode_profile["seq_len"], decode_profile["head_positions"]) == ("decode", 48, 1)
    assert all(e["positions"] == 1 for e in [*decode_profile["layers"], *decode_profile["projections"]])
    assert len(decode_profile["calibration"]["designs"]) == 4
    cost = get_cost("decode_ms", profile=decode_profile, calibrated=False)  # the components alone
    assert isinstance(cost, DecodeLatencyCost) and cost.name == "decode" and cost.is_additive()
    arch = tiny_space.decode(np.array([0, 1, 2, 2, 0, 0, 2, 0, 1]))
    layer = {(r["embed_dim"], r["ffn_dim"]): r["ms"] for r in decode_profile["layers"]}
    assert cost.of(arch) > layer[(64, 256)] + 2 * layer[(256, 256)] + decode_profile["head_ms"]


def test_predicted_decode_latency_orders_well_separated_designs() -> None:
    from mpsolve.merino_model import build, model_latency

    # the default space's vocabulary and D: the LM head (154 MB) streams from memory at every
    # token and evicts the layers' weights from the CPU cache, as the profile's cold timings assume;
    # up to 24 applications per block, so the dearest design costs several times the cheapest
    space = SearchSpace(num_blocks=2, embed_dims=(64, 512), ffn_ratios=(1.0, 4.0), layers=(1, 24), vocab_size=50272,
                        embed_proj_dim=768, max_positions=64, name="decode")
    every = np.concatenate(list(space.enumerate()))
    # Every pair the profile separates by 2x or more is measured in that order; near-ties are
    # ordered by background load (a Spearman bound over all five failed, 0.30, with four test
    # processes and two training processes on the two cores). Accuracy: benchmarks/latency.py.
    # The spread itself: dearest / cheapest was 4.2 (Xeon) with 24 layers a block; with 16 it was
    # 2.9-3.0 and left a CI run (2.86) with too few pairs 2x apart to test. With two busy loops beside it on the
    # two cores, a profile taken while the load changed predicted a design 3.2x dearer than one it measured 1.1x
    # faster: one disagreement profiles again.
    for profiles in range(1, 4):  # noqa: B007 (said below)
        profile = profile_latency(space, 48, threads=1, phase="decode", min_run_time=0.05, progress=False,
                                  statistic="min")
        # five designs spread over the predicted range (the cheapest, the dearest, the quartiles)
        order = np.argsort(DecodeLatencyCost(profile).evaluate(space.decode_batch(every), space))
        X = every[order[np.linspace(0, len(order) - 1, 5).round().astype(int)]]
        predicted = DecodeLatencyCost(profile).evaluate(space.decode_batch(X), space)
        models = [build(space.decode(x)).eval() for x in X]
        assert predicted[-1] >= 2.5 * predicted[0], f"the profile sees no spread: predicted {np.round(predicted, 2)}"
        wide = predicted[:, None] >= 2 * predicted[None, :]
        rounds: list[list[float]] = []
        for _ in range(20):  # rounds until every wide pair agrees (from the second on), up to 20: a suite run beside
            # other jobs once measured a design 1.1x slower than one predicted 2.45x dearer (min of 5 rounds); the
            # minimum of more rounds sees the quieter moments, and an idle machine agrees after the first
            rounds.append([model_latency(m, 48, 1, phase="decode", min_run_time=0.02, statistic="min")["ms"]
                           for m in models])  # round robin: background load hits every model alike
            measured = np.min(rounds, axis=0)
            agree = (measured[:, None] > measured[None, :])[wide]
            if len(rounds) >= 2 and agree.all():
                break
        if agree.all():
            break
    assert agree.all(), (f"predicted {np.round(predicted, 3)}, measured {np.round(measured, 3)} ({len(rounds)} "
                         f"rounds, {profiles} profiles)")


def test_calibration_adds_the_fitted_model_level_terms(decode_profile: dict, tiny_space: SearchSpace) -> None:
    profile = decode_profile
    cal = profile["calibration"]
    X = np.array(cal["encodings"])
    assert [str(tiny_space.decode(x)) for x in X] == cal["designs"]
    applications = tiny_space.decode_batch(X).layers.sum(axis=1)
    assert cal["applications"] == applications.tolist() == sorted(applications) and np.ptp(applications) > 0
    raw = DecodeLatencyCost(profile, calibrated=False)
    np.testing.assert_allclose(cal["components_ms"], raw.evaluate(tiny_space.decode_batch(X), tiny_space))
    # the least-squares line through what the whole designs took beyond their components, bounded
    # so that no design's latency goes negative (the tiny models here can run faster than their cold parts)
    A = np.stack([np.ones(4), applications], axis=1)
    fit = np.linalg.lstsq(A, np.subtract(cal["measured_ms"], cal["components_ms"]), rcond=None)[0]
    lower = np.array([-(profile["embedding_ms"] + profile["head_ms"]), -raw.fastest_application_ms])
    terms = np.array([cal["ms"], cal["per_layer_ms"]])
    # above each bound, or 0 where a busy machine's repeats timed no faster application (a bound of 0)
    assert np.all((terms > lower) | (terms >= 0))
    if np.all(fit > 0.99 * lower):
        np.testing.assert_allclose(terms, fit)
    else:  # the fit stops at a bound
        assert np.any(np.isclose(terms, 0.99 * lower))
    batch = tiny_space.decode_batch(tiny_space.sample(30, random_state=1))
    added = DecodeLatencyCost(profile).evaluate(batch, tiny_space) - raw.evaluate(batch, tiny_space)
    np.testing.assert_allclose(added, cal["ms"] + cal["per_layer_ms"] * batch.layers.sum(axis=1))
    assert get_cost("decode_ms", profile=profile, calibrated=False) == raw


def test_calibration_settings_and_terms_are_checked(tiny_space: SearchSpace) -> None:
    # a synthetic profile: a measured one may hold no positive application time (a busy machine's
    # repeats can time faster than the first application), and then no negative term is refused
    profile = synthetic_profile(tiny_space)
    for bad in (1, 2, -1, True, 3.0, 257):  # 257 and more: more designs than the sample, hours of timing
        with pytest.raises(MpsolveError, match="calibrate must be 0 .no calibration. or 3 to 256 designs"):
            profile_latency(tiny_space, calibrate=bad, progress=False)
    for terms in ({"ms": "1"}, {"ms": 1.0}, {"ms": float("nan"), "per_layer_ms": 0.0}, [1, 2],
                  {"ms": 1e300, "per_layer_ms": 0.0}):  # 1e300 predicted 5e300 ms
        with pytest.raises(LatencyProfileError, match=r"calibration needs numbers ms and per_layer_ms within \+-1e"):
            LatencyCost({**profile, "calibration": terms})
    floor = -(profile["embedding_ms"] + profile["head_ms"])
    fastest = LatencyCost(profile).fastest_application_ms
    assert 0 < fastest <= min(r["ms"] for r in profile["layers"])
    # at the bound, or within rounding of it (a deeper block could cost a few ulps less: found by a review)
    for terms in ({"ms": floor, "per_layer_ms": 0.0}, {"ms": 0.0, "per_layer_ms": -fastest},
                  {"ms": 0.0, "per_layer_ms": -fastest * (1 - 1e-12)}):
        with pytest.raises(LatencyProfileError, match="would make some designs' latency negative.*idle machine"):
            LatencyCost({**profile, "calibration": terms})
    with pytest.raises(LatencyProfileError, match="calibrated must be True or False"):
        LatencyCost(profile, calibrated="yes")


def test_the_timer_flags_an_erratic_call_as_noisy() -> None:
    import random

    from mpsolve.merino_model import NOISE_THRESHOLD, time_call

    rng = random.Random(0)

    def erratic() -> None:  # half the calls take 2 ms more: block means spread 3-9x the threshold (measured)
        time.sleep(rng.choice((0.0, 2e-3)))

    timing = time_call(erratic, threads=1, min_run_time=0.2)
    assert timing["noisy"] and timing["iqr_ms"] > NOISE_THRESHOLD * timing["ms"] and timing["blocks"] >= 2


def test_the_timer_times_enough_blocks_for_a_spread() -> None:
    """torch puts 10-100 short calls in a block: a 2 ms call at min_run_time 0.01 s was one 20 ms block, its IQR 0 and
    'not noisy'. Now it times at least MIN_BLOCKS blocks; fewer (a block slower than its estimate) is 'noisy'."""
    from mpsolve.merino_model._profile import MIN_BLOCKS, time_call

    timing = time_call(lambda: time.sleep(2e-3), threads=1, min_run_time=0.01)
    assert timing["blocks"] > 1 and (timing["blocks"] >= MIN_BLOCKS or timing["noisy"])



def test_the_predictor_needs_no_torch(profile: dict, tmp_path: Path) -> None:
    path = tmp_path / "device.json"
    path.write_text(json.dumps(profile))
    script = f"""
import sys
sys.modules["torch"] = None  # any torch import now fails
from mpsolve.costs import get_cost
from mpsolve.spaces import Architecture
arch = Architecture.from_dict({{"blocks": [{{"embed_dim": 128, "ffn_ratio": 4.0, "layers": 2}}],
                               "vocab_size": 256, "embed_proj_dim": 128, "max_positions": 64}})
print(get_cost("latency", profile={str(path)!r}).of(arch))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert float(out.stdout) > 0


def test_profiling_rejects_bad_settings(tiny_space: SearchSpace) -> None:
    with pytest.raises(MpsolveError, match="seq_len"):
        profile_latency(tiny_space, seq_len=0, progress=False)
    with pytest.raises(MpsolveError, match="max_positions"):
        profile_latency(tiny_space, seq_len=65, progress=False)
    with pytest.raises(MpsolveError, match="statistic"):
        profile_latency(tiny_space, statistic="mean", progress=False)
    with pytest.raises(MpsolveError, match="phase must be one of prefill, decode"):
        profile_latency(tiny_space, phase="generate", progress=False)
    with pytest.raises(MpsolveError, match="less the decoded token"):
        profile_latency(tiny_space, seq_len=64, phase="decode", progress=False)
    with pytest.raises(MpsolveError, match="min_run_time"):
        profile_latency(tiny_space, min_run_time=0, progress=False)
    for seed, message in ((-1, "seed must be a non-negative integer, got -1"), (2**64, "seed must be below 2")):
        with pytest.raises(MpsolveError, match=message):  # -1 was recorded; 2**64 was torch's ValueError
            profile_latency(tiny_space, seq_len=16, seed=seed, progress=False)
    for lean, message in (("yes", "lean must be True or False"),
                          (True, "lean is the exported graph's: give it with runtime='onnxruntime'")):
        with pytest.raises(MpsolveError, match=message):
            profile_latency(tiny_space, seq_len=16, lean=lean, progress=False)
    for graph_dir, message in ((5, "graph_dir must be a folder's path or None, got int"),
                               ("", "graph_dir is empty: give a folder's path, or None"),  # was the current folder
                               (__file__, "graph_dir '.*' is not a folder: give a folder")):
        with pytest.raises(MpsolveError, match=message):  # before: a TypeError, a FileExistsError after the timing
            profile_latency(tiny_space, seq_len=16, runtime="onnxruntime", graph_dir=graph_dir, progress=False)
    # was torch's allocation error
    with pytest.raises(MpsolveError, match=r"^batch 100000000 at seq_len 16 needs [\d.]+ GiB but only [\d.]+ GiB of "
                                           "memory is available; lower batch or seq_len$"):
        profile_latency(tiny_space, seq_len=16, batch=10**8, progress=False)


@pytest.mark.parametrize("solver", ["ea", "exhaustive", "cpsat", "nsga2", "tpe"])
def test_latency_budget_works_with_every_backend(
    profile: dict, tiny_space: SearchSpace, tmp_path: Path, solver: str, capsys: pytest.CaptureFixture
) -> None:
    from mpsolve.cli import main

    device = tmp_path / "device.json"
    device.write_text(json.dumps(profile))
    space_file = tmp_path / "tiny.toml"
    d = tiny_space.to_dict()
    space_file.write_text("[space]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in d.items() if k != "name"))
    cost = LatencyCost(profile)
    latencies = cost.evaluate(tiny_space.decode_batch(tiny_space.sample(200, random_state=0)), tiny_space)
    budget = float(np.median(latencies))
    options = {"ea": ["iterations=3000"], "nsga2": ["generations=20"], "tpe": ["n_trials=60"]}.get(solver, [])
    argv = [
        "design",
        "--space",
        str(space_file),
        "--budget",
        f"latency_ms={budget}",
        "--latency-profile",
        str(device),
        "--solver",
        solver,
        "--json",
    ]
    for opt in options:
        argv += ["--option", opt]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["costs"]["latency"] <= budget
    arch = tiny_space.decode(np.array(result["encoding"]))
    assert cost.of(arch) == pytest.approx(result["costs"]["latency"])


@pytest.fixture(scope="module")
def kept_design(tmp_path_factory: pytest.TempPathFactory, tiny_space: SearchSpace) -> tuple[Path, dict, dict]:
    """A design of the tiny space timed in ONNX Runtime by :func:`design_latency`: the folder it kept the design's
    KV-cache graph in, the timing's options and its first answer (the graph, an export, serves two tests)."""
    from mpsolve.merino_model import design_latency

    folder = tmp_path_factory.mktemp("design")
    arch = tiny_space.decode(tiny_space.sample(1, random_state=3)[0])
    timing = {"runtime": "onnxruntime", "phase": "decode", "min_run_time": 0.02, "graph_dir": folder, "seed": 1}
    return folder, timing, design_latency(arch, 16, 1, **timing)


def test_design_latency_keeps_the_exported_graph_of_a_design(kept_design, tiny_space: SearchSpace) -> None:
    from mpsolve.merino_model import design_latency

    arch = tiny_space.decode(tiny_space.sample(1, random_state=3)[0])
    tmp_path, timing, first = kept_design
    (graph,) = tmp_path.glob("*.onnx")
    assert graph.name == f"design-{arch.digest()}-s1-all.onnx" and first["ms"] > 0
    written = graph.stat().st_mtime_ns
    assert design_latency(arch, 16, 1, **timing)["ms"] > 0 and graph.stat().st_mtime_ns == written  # reused
    assert design_latency(arch, 16, 1, **timing, int8=True)["ms"] > 0  # its INT8, kept beside it
    assert {p.name for p in tmp_path.glob("*.onnx")} == {graph.name, f"{graph.stem}-int8.onnx"}
    (tmp_path / f"{graph.stem}-int8.onnx").unlink()  # the fixture's folder as it was
    assert design_latency(arch, 16, 1, phase="decode", min_run_time=0.02)["ms"] > 0  # torch
    with pytest.raises(MpsolveError, match="runtime must be one of torch, onnxruntime"):
        design_latency(arch, runtime="tvm")


def test_model_latency_checks_an_onnx_graph_before_timing(tmp_path: Path, kept_design) -> None:
    """A graph that is no causal LM was called a prefill graph; a seq_len beyond the graph's positions failed in
    ONNX Runtime, naming a Gather node's indices."""
    import onnx
    from onnx import TensorProto, helper

    from mpsolve.merino_model import model_latency

    (graph,) = kept_design[0].glob("design-*-all.onnx")  # a design's KV-cache graph, 64 positions
    for seq_len, phase, less in ((65, "prefill", ""), (64, "decode", " less the decoded token")):
        with pytest.raises(MpsolveError, match=rf"^seq_len {seq_len} exceeds the graph's max_positions 64{less}: "
                                               "give a smaller seq_len$"):
            model_latency(graph, seq_len, 1, phase=phase, min_run_time=0.02)
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "s"])
    out = helper.make_tensor_value_info("y", TensorProto.INT64, ["b", "s"])
    onnx.save(helper.make_model(helper.make_graph([helper.make_node("Identity", ["input_ids"], ["y"])], "g", [ids],
                                                  [out])), tmp_path / "foreign.onnx")
    with pytest.raises(MpsolveError, match="is not a causal-LM graph"):
        model_latency(tmp_path / "foreign.onnx", 8, 1, min_run_time=0.02)


def test_a_damaged_graph_kept_in_graph_dir_is_one_line(tmp_path: Path) -> None:
    """Before: ONNX Runtime's InvalidProtobuf traceback on one thread, an error naming no file on more."""
    pytest.importorskip("onnxruntime")
    from mpsolve.merino_model._profile import _component_graph

    (tmp_path / "prefill-layer_64x64.onnx").write_bytes(b"garbage")
    with pytest.raises(MpsolveError, match=r"^ONNX Runtime cannot load the component graph kept in '.*prefill-layer_"
                                           r"64x64\.onnx' \(.*\): delete it, and the profile exports it again$"):
        _component_graph(None, (), 64, "prefill-layer 64x64", tmp_path)


def test_a_damaged_design_graph_kept_in_graph_dir_says_to_delete_it(tmp_path: Path, tiny_space: SearchSpace) -> None:
    """Before: ONNX Runtime's load error naming the file, without the way out (the kept graph is reused as it is)."""
    pytest.importorskip("onnxruntime")
    from mpsolve.merino_model import design_latency
    from mpsolve.merino_model._profile import _quantized, design_graph

    arch = tiny_space.decode(tiny_space.sample(1, random_state=3)[0])
    kept = tmp_path / f"design-{arch.digest()}-s1-all.onnx"
    kept.write_bytes(b"garbage")
    with pytest.raises(MpsolveError, match=r"^ONNX Runtime cannot load the design graph kept in '.*design-.*-s1-all"
                                           r"\.onnx' \(.*\): delete it, and it is exported again$"):
        design_latency(arch, 16, 1, runtime="onnxruntime", min_run_time=0.02, graph_dir=tmp_path, seed=1)
    with pytest.raises(MpsolveError, match="design graph kept in"):  # design_memory's way to it
        design_graph(arch, 1, "all", tmp_path)
    kept.with_name(f"{kept.stem}-int8.onnx").write_bytes(b"garbage")  # its INT8, read before the graph it quantises
    with pytest.raises(MpsolveError, match=r"^ONNX Runtime cannot load the INT8 graph kept in '.*-int8\.onnx' "
                                           r"\(.*\): delete it, and it is quantised again$"):
        _quantized(kept)


def test_latency_cost_is_the_cost_of_the_profiles_phase(tmp_path: Path) -> None:
    from mpsolve.costs import latency_cost

    for phase, kind in (("prefill", LatencyCost), ("decode", DecodeLatencyCost)):
        path = tmp_path / f"{phase}.json"
        path.write_text(json.dumps(synthetic_profile("small", phase, seq_len=64)))
        cost = latency_cost(path, calibrated=False)
        assert type(cost) is kind and cost == kind(str(path), calibrated=False)
        assert cost.workload == {"runtime": "torch", "phase": phase, "seq_len": 64, "batch": 1, "threads": 1,
                                 "statistic": None, "logits": None, "lean": False, "int8": False}
    with pytest.raises(LatencyProfileError, match="does not exist"):
        latency_cost(tmp_path / "missing.json")


def test_a_front_over_a_profiled_latency_is_plotted(profile: dict, tiny_space: SearchSpace, tmp_path: Path) -> None:
    import mpsolve
    from mpsolve.workflows.pareto import plot_fronts

    cost = LatencyCost(profile)
    budget = float(np.median(cost.evaluate(tiny_space.decode_batch(tiny_space.sample(50, random_state=0)),
                                           tiny_space)))
    fr = mpsolve.pareto(mpsolve.Problem(tiny_space), cost, [budget], solver="exhaustive")
    # the published models have other constants than this profile: left off (was an error after every solve)
    plot_fronts([fr], tmp_path / "f.png", mpsolve.Problem(tiny_space, report_costs=[cost]))
    assert (tmp_path / "f.png").stat().st_size > 0


def test_reordered_blocks_of_one_width_cost_the_same_to_the_last_bit() -> None:
    """Before: their sums differed by one ulp, so with a budget at a design's cost exact and cpsat (which try
    one ordering) proved a worse design optimal while exhaustive found the ordering within the budget."""
    import itertools

    import mpsolve

    space = SearchSpace(num_blocks=3, embed_dims=(64,), ffn_ratios=(0.5, 1.0, 2.0), layers=(1, 2), vocab_size=256,
                        embed_proj_dim=96, max_positions=64, head_dim=32)
    rng = np.random.default_rng(0)
    for _ in range(5):  # the fifth draw is the one the fuzzer found
        profile = synthetic_profile(space, seq_len=32)
        for r in profile["layers"]:
            r["ms"] *= float(rng.uniform(0.3, 3))
            r["warm_ms"] = r["ms"] * float(rng.uniform(0.3, 3))
    cost = LatencyCost(profile)
    x = [0, 2, 0, 0, 2, 0, 0, 0, 0]
    orders = np.array([sum(p, ()) for p in itertools.permutations([tuple(x[3 * b:3 * b + 3]) for b in range(3)])])
    assert len(set(cost.evaluate(space.decode_batch(orders), space).tolist())) == 1
    problem = mpsolve.Problem(space, constraints=[Budget(cost, float(cost.evaluate(space.decode_batch(orders[:1]),
                                                                                   space)[0]))])
    best = mpsolve.solve(problem, "exhaustive").objective
    assert [mpsolve.solve(problem, s).objective for s in ("exact", "cpsat")] == [pytest.approx(best, rel=1e-12)] * 2


def _ignores_ctrl_c(pid: int) -> bool:
    """Whether process ``pid`` ignores SIGINT (its ``SigIgn`` mask in ``/proc``)."""
    line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("SigIgn:"))
    return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))


def test_an_onnx_runtime_profile_on_several_threads_shares_one_pool_in_a_child(tmp_path: Path, monkeypatch) -> None:
    """Sessions with pools of their own spin against each other (the registered two-thread runs overestimated by
    76-100 %), so on more than one thread the components are timed in a child process whose sessions share one
    process-wide pool. A session on a shared pool cannot be made in a process without one (as here), so timings
    coming back show that the child set it. The child ignores Ctrl-C (the parent's, which stops it), its errors
    and its end are one-line errors, and it ends with the block; a daemonic process is told it cannot start one."""
    pytest.importorskip("onnxruntime")
    import multiprocessing

    from mpsolve.merino_model import _profile

    job = _profile._call_overhead_job()
    with pytest.raises(RuntimeError, match="EnvCreatedWithGlobalThreadPools"):
        _profile._time_graph(*job, 2, 0.01, "min", shared_pool=True)
    before = set(multiprocessing.active_children())
    with _profile._onnx_timer(2) as time_graph:
        (warm,) = time_graph(*job, 2, 0.01, "min")
        assert 0 < warm["ms"] < 1000 and warm["blocks"] >= 1
        (child,) = set(multiprocessing.active_children()) - before
        assert _ignores_ctrl_c(child.pid)
        with pytest.raises(MpsolveError, match=r"^timing an ONNX Runtime component failed: \w+: .*$"):
            time_graph(b"not a graph", [()], 1, [], 2, 0.01, "min")
        child.kill()
        child.join()
        with pytest.raises(MpsolveError, match=r"components ended \(exit status -9\): out of memory"):
            time_graph(*job, 2, 0.01, "min")
    assert not set(multiprocessing.active_children()) - before
    with monkeypatch.context() as patch:  # a multiprocessing.Pool worker cannot start a process
        patch.setitem(multiprocessing.current_process()._config, "daemon", True)
        with pytest.raises(MpsolveError, match="cannot start: profile from the main process"), _profile._onnx_timer(2):
            pass
    space = SearchSpace(num_blocks=1, embed_dims=(64,), ffn_ratios=(1.0,), layers=(1, 2), vocab_size=256,
                        embed_proj_dim=64, max_positions=16, head_dim=32)
    profile = _profile.profile_latency(space, 8, threads=2, runtime="onnxruntime", phase="decode", min_run_time=0.01,
                                       progress=False, graph_dir=tmp_path, lean=True)  # the child's sessions lean
    (layer,) = profile["layers"]
    assert profile["threads"] == 2 and profile["call_overhead_ms"] > 0 and layer["repeated"]["applications"] == [2]
    assert profile["lean"] is True
    assert all(x >= 0 for x in [layer["ms"], layer["warm_ms"], *layer["repeated"]["ms"], profile["head_ms"]])
    assert len(list(tmp_path.glob("*.onnx"))) == 1 + len(profile["projections"]) + 2  # kept for the next profile
    assert not set(multiprocessing.active_children()) - before


def test_the_onnx_runtime_timing_child_ends_with_its_parent(tmp_path: Path) -> None:
    """A parent killed outright (a worker terminated, out of memory) runs no ``finally``: its timing child must not
    go on timing (a minute here) on the cores it held, then print a traceback when its answer finds no reader."""
    pytest.importorskip("onnxruntime")
    script = (
        "import multiprocessing, sys\n"
        "from mpsolve.merino_model import _profile\n"
        "if __name__ == '__main__':  # the spawned child imports this file: it exports nothing\n"
        "    job = _profile._call_overhead_job()\n"
        "    with _profile._onnx_timer(2) as time_graph:\n"
        "        time_graph(*job, 2, 0.01, 'min')\n"
        "        print(multiprocessing.active_children()[0].pid, flush=True)\n"
        "        time_graph(*job, 2, 60.0, 'min')\n"
    )
    (tmp_path / "parent.py").write_text(script)
    parent = subprocess.Popen([sys.executable, str(tmp_path / "parent.py")], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    try:
        child = int(parent.stdout.readline())
    finally:
        parent.kill()
        parent.wait()

    def alive(pid: int) -> bool:  # a zombie no one reaps (no init in a container) counts as gone
        try:
            return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            return False

    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        assert not alive(child), "the timing child outlived its parent"
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)


def test_the_onnx_runtime_timing_child_ignores_ctrl_c_when_profiled_from_a_thread() -> None:
    """Off the main thread the parent cannot ignore Ctrl-C while the child starts; the child must ignore it itself,
    or a Ctrl-C at the terminal ends it with a traceback (and the profiling thread with a made-up cause)."""
    pytest.importorskip("onnxruntime")
    import multiprocessing
    import threading

    from mpsolve.merino_model import _profile

    job = _profile._call_overhead_job()
    seen: list[bool | BaseException] = []
    before = set(multiprocessing.active_children())

    def profile() -> None:
        try:
            with _profile._onnx_timer(2) as time_graph:
                time_graph(*job, 2, 0.01, "min")
                (child,) = set(multiprocessing.active_children()) - before
                seen.append(_ignores_ctrl_c(child.pid))
        except BaseException as exc:  # noqa: BLE001 - reported below
            seen.append(exc)

    thread = threading.Thread(target=profile)
    thread.start()
    thread.join(60)
    (ignored,) = seen
    assert ignored is True, ignored


def test_the_onnx_runtime_call_overhead_is_timed_once(tiny_space: SearchSpace, monkeypatch) -> None:
    """The overhead is one warm ``session.run`` of a trivial graph: one timing before the components (as before the
    shared pool), not also a cold rotation whose timing is thrown away (``min_run_time`` more per profile)."""
    pytest.importorskip("onnxruntime")
    from mpsolve.merino_model import _profile

    class Stop(Exception):
        pass

    timed = []

    def time_call(fn, threads, min_run_time, statistic):
        timed.append(fn)
        return {"ms": 0.01, "iqr_ms": 0.0, "blocks": 10, "noisy": False}

    def stop(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(_profile, "time_call", time_call)
    monkeypatch.setattr(_profile, "_component_graph", stop)
    with pytest.raises(Stop):
        _profile.profile_latency(tiny_space, 16, threads=1, runtime="onnxruntime", progress=False)
    assert len(timed) == 1


def _stand_in_components(monkeypatch) -> tuple[SearchSpace, list[tuple[str, bool]], list[dict]]:
    """A one-shape space whose profile exports stand-ins (:func:`_identity_graph`) and times its calibration's
    designs at 1 ms: the space, then what each export was of (module, lean table) and each calibration timing's
    options, recorded from now on."""
    from mpsolve.merino_model import _profile

    exported, timings = [], []

    def design_latency(arch, **timing):
        timings.append(timing)
        return {"ms": 1.0, "iqr_ms": 0.0, "blocks": 10, "noisy": False}

    def export(module, inputs, max_positions, lean_table=False):
        exported.append((type(module).__name__, lean_table))
        return _identity_graph(inputs)

    monkeypatch.setattr(_profile, "design_latency", design_latency)
    monkeypatch.setattr(_profile, "_export_component", export)
    space = SearchSpace(num_blocks=1, embed_dims=(64,), ffn_ratios=(1.0,), layers=(1,), vocab_size=256,
                        embed_proj_dim=64, max_positions=16, head_dim=32)
    return space, exported, timings


def _identity_graph(inputs: tuple[torch.Tensor, ...]) -> bytes:
    """A stand-in for a component's export: an ONNX graph of the component's inputs whose output is the first."""
    from onnx import TensorProto, helper

    kinds = {torch.int64: TensorProto.INT64, torch.bool: TensorProto.BOOL, torch.float32: TensorProto.FLOAT}
    given = [helper.make_tensor_value_info(f"x{i}", kinds[x.dtype], None) for i, x in enumerate(inputs)]
    graph = helper.make_graph([helper.make_node("Identity", ["x0"], ["y"])], "stub", given,
                              [helper.make_tensor_value_info("y", kinds[inputs[0].dtype], None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10).SerializeToString()


def test_a_lean_profile_times_every_component_as_a_lean_graph_runs_it(tmp_path: Path, monkeypatch) -> None:
    """``lean=True`` times as a lean graph's session runs: every component with prepacking off, the embedding's
    graph exported lean (its table ``(D, vocab)``: the export is checked in the dynamic-axes test below, here it is
    a stand-in), the calibration's designs lean; the profile says lean."""
    pytest.importorskip("onnxruntime")
    from mpsolve.merino_model import _onnx

    options = []
    session_options = _onnx._session_options

    def recorded(threads, lean=False):
        options.append(lean)
        return session_options(threads, lean)

    monkeypatch.setattr(_onnx, "_session_options", recorded)
    space, exported, timings = _stand_in_components(monkeypatch)
    profile = profile_latency(space, 8, threads=1, runtime="onnxruntime", min_run_time=0.01, progress=False,
                              graph_dir=tmp_path, lean=True, calibrate=3)
    assert profile["lean"] is True and LatencyCost(profile).workload["lean"] is True
    assert "a lean graph" in profile["workload"] and "prepacking off" in profile["workload"]
    assert len(options) == 4 and all(options)  # call overhead and 3 components
    assert [t["lean"] for t in timings] == [True] * 3
    assert sorted(exported) == [("CachedLayer", False), ("Embeddings", True), ("Head", False)]
    assert len(list(tmp_path.glob("*embedding-lean.onnx"))) == 1  # beside the default one, when both are kept


def test_an_int8_profile_times_every_components_dynamic_int8(tmp_path: Path, monkeypatch) -> None:
    """``int8=True`` times each component's dynamic INT8 (the quantisation is checked in the dynamic-axes test below,
    here the exports are stand-ins), not the call-overhead graph; the calibration's designs INT8; the profile says
    int8, and lean with int8 is refused."""
    pytest.importorskip("onnxruntime")
    from mpsolve.merino_model import _profile

    quantized = []
    quantize = _profile._quantize_component

    def recorded(graph):
        quantized.append(graph)
        return quantize(graph)

    monkeypatch.setattr(_profile, "_quantize_component", recorded)
    space, exported, timings = _stand_in_components(monkeypatch)
    options = {"threads": 1, "runtime": "onnxruntime", "min_run_time": 0.01, "progress": False, "graph_dir": tmp_path}
    profile = profile_latency(space, 8, int8=True, calibrate=3, **options)
    assert profile["int8"] is True and profile["lean"] is False and LatencyCost(profile).workload["int8"] is True
    assert "dynamic INT8" in profile["workload"] and [(t["int8"], t["lean"]) for t in timings] == [(True, False)] * 3
    assert sorted(exported) == [("CachedLayer", False), ("Embeddings", False), ("Head", False)]
    assert len(quantized) == 3
    assert len(list(tmp_path.glob("*-int8.onnx"))) == 3 and len(list(tmp_path.glob("*.onnx"))) == 6  # and the fp32
    assert LatencyCost(profile_latency(space, 8, **options)).workload["int8"] is False  # the fp32 graphs, kept
    assert len(exported) == 3 and len(quantized) == 3  # nothing exported or quantised again
    profile_latency(space, 8, int8=True, **options)
    assert len(exported) == 3 and len(quantized) == 3
    with pytest.raises(MpsolveError, match="lean and int8 together are not timed"):
        profile_latency(space, 8, lean=True, int8=True, **options)
    with pytest.raises(MpsolveError, match="int8 is the exported graph's: give it with runtime='onnxruntime'"):
        profile_latency(space, 8, int8=True, threads=1, progress=False)


def test_a_kept_embedding_graph_is_one_of_the_spaces_max_positions(tmp_path: Path, monkeypatch) -> None:
    """Before: the kept embedding graph was named without the space's max_positions, so a profile of a space with
    another (a position table of another size) timed the first space's graph; now it exports its own, and reuses
    the other components' graphs."""
    pytest.importorskip("onnxruntime")
    space, exported, _ = _stand_in_components(monkeypatch)
    options = {"threads": 1, "runtime": "onnxruntime", "min_run_time": 0.01, "progress": False, "graph_dir": tmp_path}
    profile_latency(space, 8, **options)
    assert sorted(name for name, _ in exported) == ["CachedLayer", "Embeddings", "Head"]
    profile_latency(SearchSpace(**{**space.to_dict(), "max_positions": 32}), 8, **options)
    assert sorted(name for name, _ in exported) == ["CachedLayer", "Embeddings", "Embeddings", "Head"]
    assert len(list(tmp_path.glob("*-embedding.onnx"))) == 2


def test_kept_component_graphs_serve_every_phase_and_length(tmp_path: Path, monkeypatch) -> None:
    """A component's graph depends on its weights and shapes, not on the workload: a decode profile (another
    length, batch and logits) after a prefill one with the same ``graph_dir`` exports nothing (before: each phase and
    length exported every component again, a few seconds each); another seed's weights are exported anew."""
    pytest.importorskip("onnxruntime")
    space, exported, _ = _stand_in_components(monkeypatch)
    options = {"threads": 1, "runtime": "onnxruntime", "min_run_time": 0.01, "progress": False, "graph_dir": tmp_path}
    assert "calibration" not in profile_latency(space, 8, **options)  # opt-in: none by default
    assert sorted(name for name, _ in exported) == ["CachedLayer", "Embeddings", "Head"]
    profile = profile_latency(space, 12, 2, phase="decode", logits="last", **options)
    assert (profile["phase"], profile["seq_len"], profile["batch"]) == ("decode", 12, 2)
    assert len(exported) == 3 and len(list(tmp_path.glob("*.onnx"))) == 3
    profile_latency(space, 8, seed=1, **options)
    assert len(exported) == 6  # its three components


def test_graphs_are_exported_in_processes_only_where_graph_dir_lacks_two(tmp_path: Path, monkeypatch) -> None:
    """``jobs=2`` shares out the exports ``graph_dir`` lacks; none, or one (which the profile exports itself), starts
    no process, and a daemonic process is told it cannot start them. The processes' exports are checked end to end
    by ``tests/merino_model/test_merino_cli.py`` (``--jobs 2``)."""
    import concurrent.futures
    import multiprocessing

    from mpsolve.merino_model import _profile

    def refuse(*args, **kwargs):
        raise AssertionError("a process started")

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", refuse)
    names = {label: f"s0-{label}" for label in ("embedding", "head", "layer 64x64")}
    components = {label: (torch.nn.Identity(), ()) for label in names}
    for label in ("embedding", "head"):
        _profile._component_path(tmp_path, names[label]).write_bytes(b"kept")
    export = functools.partial(_profile._export_graphs, components, names, [], 16, tmp_path, 0, "all", False, 2, False)
    assert export() == set()  # the profile exports the one lacking
    _profile._component_path(tmp_path, names["head"]).unlink()
    with monkeypatch.context() as patch:  # a multiprocessing.Pool worker cannot start a process
        patch.setitem(multiprocessing.current_process()._config, "daemon", True)
        with pytest.raises(MpsolveError, match=r"^jobs=2 exports in processes of their own, .*: give jobs=1"):
            export()
    with pytest.raises(AssertionError, match="a process started"):
        export()
    with pytest.raises(MpsolveError, match="^jobs=2 exports the components, which torch does not: give it with"):
        profile_latency(SearchSpace(num_blocks=1, embed_dims=(64,), ffn_ratios=(1.0,), layers=(1,)), 8, threads=1,
                        progress=False, jobs=2)


def test_a_second_ctrl_c_while_the_exports_finish_ends_them_deaf_to_a_third(tmp_path: Path, monkeypatch) -> None:
    """On a Ctrl-C the running exports finish and are kept; a second one while they finish ends them, and they are
    waited for with Ctrl-C ignored. Before, the wait was the pool's shutdown, whose join of its thread a Ctrl-C
    interrupted; Python 3.11 then took that thread for ended: at exit, its traceback ("handle is closed") or an
    abort ("terminate called without an active exception"), seen with two real Ctrl-Cs."""
    import concurrent.futures

    from mpsolve.merino_model import _profile

    events = []

    class Process:
        def terminate(self) -> None:
            events.append("terminate")

    class Pool:  # a stand-in
        def __init__(self, workers, **kwargs) -> None:
            self._processes = {1: Process()}

        def submit(self, job, *args):
            return concurrent.futures.Future()

        def shutdown(self, wait=True, *, cancel_futures=False) -> None:
            events.append(("shutdown", wait, cancel_futures, signal.getsignal(signal.SIGINT)))

    def first_ctrl_c(futures):
        raise KeyboardInterrupt

    def second_ctrl_c(futures):
        events.append(("wait", len(futures), signal.getsignal(signal.SIGINT)))
        raise KeyboardInterrupt

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Pool)
    monkeypatch.setattr(concurrent.futures, "as_completed", first_ctrl_c)
    monkeypatch.setattr(concurrent.futures, "wait", second_ctrl_c)
    names = {label: f"s0-{label}" for label in ("embedding", "head")}
    components = {label: (torch.nn.Identity(), ()) for label in names}
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # a test process may start with it ignored
    try:
        with pytest.raises(KeyboardInterrupt):
            _profile._export_graphs(components, names, [], 16, tmp_path, 0, "all", False, 2, False)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert events[0] == ("wait", 2, signal.default_int_handler)
    assert events[1:] == ["terminate", ("shutdown", True, True, signal.SIG_IGN)]


def test_a_profile_times_the_graphs_its_processes_export_without_checking_them(tmp_path: Path, monkeypatch) -> None:
    """With ``jobs=2`` the components and the calibration's designs are exported in processes (here a stand-in
    pool), a design drawn twice once, before any timing; what they wrote is timed without the check a graph kept by
    an earlier run gets (an ONNX Runtime session each: 9.4 s on the default space's 98 components), and a kept one
    is still checked."""
    pytest.importorskip("onnxruntime")
    import concurrent.futures

    from mpsolve.merino_model import _profile

    space, exported, timings = _stand_in_components(monkeypatch)
    jobs, checked, timed = [], [], []

    class Inline:  # a pool that runs its jobs in this process
        def __init__(self, workers, **kwargs) -> None:
            assert workers == 2 and kwargs["initializer"] is pool_worker

        def submit(self, job, *args) -> concurrent.futures.Future:
            jobs.append(job.__name__)
            job(*args)
            done = concurrent.futures.Future()
            done.set_result(None)
            return done

        def shutdown(self, **kwargs) -> None:
            pass

    def design_graph(arch, seed, logits, folder, lean=False):
        _profile._design_path(arch, seed, logits, folder, lean=lean).write_bytes(b"design")

    def model_latency(graph, **workload):
        timed.append(graph)
        return {"ms": 2.0, "iqr_ms": 0.0, "blocks": 10, "noisy": False}

    check = _profile._check_kept_graph
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Inline)
    monkeypatch.setattr(_profile, "design_graph", design_graph)
    monkeypatch.setattr(_profile, "model_latency", model_latency)
    monkeypatch.setattr(_profile, "_check_kept_graph", lambda graph, path, *args: (checked.append(path),
                                                                                   check(graph, path, *args)))
    threads = torch.get_num_threads()
    options = {"threads": 1, "runtime": "onnxruntime", "min_run_time": 0.01, "progress": False, "calibrate": 3}
    profile = profile_latency(space, 8, graph_dir=tmp_path, jobs=2, **options)
    assert torch.get_num_threads() == threads  # the stand-in pool's jobs set one thread in this process
    designs = {_profile._design_path(space.decode(x), 0, "all", tmp_path) for x in profile["calibration"]["encodings"]}
    assert len(designs) == 1  # a space of one design: exported once, timed three times
    assert sorted(jobs) == ["_export_component_file"] * 3 + ["_export_design_file"] and jobs[0] == "_export_design_file"
    assert len(exported) == 3 and checked == [] and timings == [] and timed == [*designs] * 3
    assert profile["calibration"]["measured_ms"] == [2.0] * 3
    profile_latency(space, 8, graph_dir=tmp_path, jobs=2, **options)  # all kept: checked, and timed as kept
    assert len(jobs) == 4 and len(exported) == 3 and len(checked) == 3 and len(timings) == 3


def test_the_call_overhead_graph_needs_no_exporter(monkeypatch) -> None:
    """The one-``Add`` graph whose run is the call overhead is written directly: torch's exporter took seconds for it,
    in every process that profiles ONNX Runtime, even one whose components were all kept."""
    pytest.importorskip("onnxruntime")
    from mpsolve.merino_model import _profile

    def refuse(*args, **kwargs):
        raise AssertionError("exported")

    monkeypatch.setattr(torch.onnx, "export", refuse)
    monkeypatch.setattr(_profile, "_export_component", refuse)
    graph, feeds, copies, counts = _profile._call_overhead_job.__wrapped__()
    (x,) = feeds[0]
    session = _profile.onnx_session(graph, threads=1)
    (y,) = session.run(None, {session.get_inputs()[0].name: x})
    assert (copies, counts) == (1, None) and x.shape == (1, 1) and (y == x + 1).all()


def test_a_components_weights_are_the_seeds_alone(tiny_space: SearchSpace) -> None:
    """The same modules, to the bit, for every phase, length, batch and logits, so one kept graph serves them all;
    the biases were torch's global RNG's (two profiles of one seed timed other weights) and the global RNG moved."""
    from mpsolve.merino_model._components import components

    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    made = [components(tiny_space, 16, 1, "prefill", True, 0, True), components(tiny_space, 48, 2, "decode", True, 0),
            components(tiny_space, 16, 1, "prefill", True, 0)]
    assert torch.equal(torch.random.get_rng_state(), before)
    for parts in made[1:]:
        assert list(parts) == list(made[0])
        for label, (module, _) in parts.items():
            theirs = made[0][label][0].state_dict()
            assert all(torch.equal(t, theirs[name]) for name, t in module.state_dict().items()), label
    other = components(tiny_space, 16, 1, "prefill", True, 1)
    assert not torch.equal(other["head"][0].head.weight, made[0]["head"][0].head.weight)


def test_torch_copies_are_built_outside_inference_mode(tiny_space: SearchSpace, monkeypatch) -> None:
    """As before the ONNX Runtime child: the copies' weights and inputs are ordinary tensors like the first copy's
    (built in inference mode, they were inference tensors, which skip the version and view tracking the first
    copy's pay); only the timing runs in inference mode."""
    from mpsolve.merino_model import _profile

    class Stop(Exception):
        pass

    built = []

    def torch_calls(*args):
        built.append(torch.is_inference_mode_enabled())
        raise Stop

    monkeypatch.setattr(_profile, "_torch_calls", torch_calls)
    with pytest.raises(Stop):
        _profile.profile_latency(tiny_space, 16, threads=1, progress=False)
    assert built == [False]


def test_a_timing_child_that_ends_with_a_job_unread_is_a_one_line_error(monkeypatch) -> None:
    """The pipe is a socket pair: a child that ends before reading the job sent to it (killed, or a main script
    without the ``__main__`` guard failing in it) resets the connection; that is the child's end, said in one line."""
    pytest.importorskip("onnxruntime")
    import multiprocessing
    import multiprocessing.connection

    from mpsolve.merino_model import _profile

    job = _profile._call_overhead_job()
    wait = multiprocessing.connection.wait
    stopped = []

    def kill_then_wait(*args, **kwargs):  # once the job was sent to a child that reads no more
        for child in stopped:
            os.kill(child.pid, signal.SIGKILL)
            child.join()
        return wait(*args, **kwargs)

    monkeypatch.setattr(multiprocessing.connection, "wait", kill_then_wait)
    before = set(multiprocessing.active_children())
    with _profile._onnx_timer(2) as time_graph:
        time_graph(*job, 2, 0.01, "min")
        (child,) = set(multiprocessing.active_children()) - before
        os.kill(child.pid, signal.SIGSTOP)  # the next job stays in its socket
        stopped.append(child)
        with pytest.raises(MpsolveError, match=r"components ended \(exit status -9\)"):
            time_graph(*job, 2, 0.01, "min")


def test_onnx_runtime_components_are_exported_with_a_design_graphs_dynamic_axes(tiny_space: SearchSpace) -> None:
    # static shapes let ONNX Runtime fuse what a design's graph cannot (a Gemm for MatMul + Add), so the components
    # ran other kernels than the model they are summed for; the graphs must also compute right at other shapes. A
    # component's graph does not depend on the phase (the exporter's example inputs are its own), so each is exported
    # once and run at both phases' shapes: a prompt of 16 on an empty cache, and one token on a cache of 48
    import onnx
    import onnxruntime as ort

    from mpsolve.merino_model._components import components
    from mpsolve.merino_model._profile import _export_component, _quantize_component

    prefill, decode = (components(tiny_space, seq_len, 1, phase, True, 0)
                       for seq_len, phase in ((16, "prefill"), (48, "decode")))
    for label in ("embedding", "embedding lean", "head", "layer 128x512", "input 64->128", "output 64->128"):
        module, inputs = prefill[label.removesuffix(" lean")]  # the lean graph's embedding: the table's columns
        graph = _export_component(module, inputs, tiny_space.max_positions, label.endswith("lean"))
        inputs_of_graph = onnx.load_from_string(graph).graph.input
        symbolic = [[d.dim_param for d in i.type.tensor_type.shape.dim] for i in inputs_of_graph]
        assert all(dims[0] == "batch" or dims[0] == "seq" for dims in symbolic), (label, symbolic)
        if label.startswith("layer"):
            assert [dims[2] for dims in symbolic[1:3]] == ["past", "past"] and symbolic[3] == ["seq", "total"]
        if label == "embedding lean":  # the table (D, vocab), its columns gathered, as a lean graph stores it
            tables = {tuple(t.dims) for t in onnx.load_from_string(graph).graph.initializer}
            assert tables == {(tiny_space.embed_proj_dim, 256), (tiny_space.max_positions, tiny_space.embed_proj_dim)}
        quantized = None
        if label in ("head", "layer 128x512"):  # an INT8 profile's graph: every weight's matmul an integer one
            weights = {t.name for t in onnx.load_from_string(graph).graph.initializer}
            quantized = _quantize_component(graph)
            assert sum(n.op_type == "MatMulInteger" for n in onnx.load_from_string(quantized).graph.node) == sum(
                n.op_type == "MatMul" and any(x in weights for x in n.input)
                for n in onnx.load_from_string(graph).graph.node) == (1 if label == "head" else 4)
        session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
        int8_session = quantized and ort.InferenceSession(quantized, providers=["CPUExecutionProvider"])
        for parts in (prefill, decode):
            inputs = parts[label.removesuffix(" lean")][1]
            got = session.run(None, {i.name: x.numpy() for i, x in zip(session.get_inputs(), inputs)})
            with torch.no_grad():
                want = module(*inputs)
            want = want if isinstance(want, tuple) else (want,)
            assert [g.shape for g in got] == [tuple(w.shape) for w in want]
            for g, w in zip(got, want):  # float32 kernels in another order: they differed by 2.4e-7 at most here
                np.testing.assert_allclose(g, w.numpy(), atol=1e-4, rtol=1e-4)
            if int8_session:
                int8 = int8_session.run(None, {i.name: x.numpy() for i, x in zip(int8_session.get_inputs(), inputs)})
                assert [g.shape for g in int8] == [g.shape for g in got] and all(np.isfinite(g).all() for g in int8)
