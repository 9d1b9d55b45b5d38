"""Public Python calls given the wrong kind of argument raise a one-line MpsolveError, not a TypeError deep inside."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import mpsolve
from mpsolve import Budget, MeRinoEntropy, Problem
from mpsolve.costs import ParamsCost
from mpsolve.spaces import get_architecture
from mpsolve.workflows.sweep import sweep_tasks

PROBLEM = Problem("small", constraints=[Budget("flops", "10G")])

CASES: list[tuple[str, Callable[[], object], str]] = [
    ("pareto-budgets-none", lambda: mpsolve.pareto(PROBLEM, budgets=None), "budgets must be a list"),
    ("pareto-solver-list", lambda: mpsolve.pareto(PROBLEM, budgets=["5G"], solver=["exact"]),
     r"unknown solver \['exact'\]; known solvers: "),
    ("preset-dict", lambda: get_architecture({}), "unknown architecture preset {}"),
    ("entropy-of-none", lambda: MeRinoEntropy().of(None), "expected an Architecture, a preset name"),
    ("cost-of-int", lambda: ParamsCost().of(3), "expected an Architecture, a preset name"),
    ("sample-beyond-memory", lambda: PROBLEM.space.sample(10**12, random_state=0),
     "a sample of 1000000000000 designs needs .* GiB"),
    ("profile-fit-intercept-str", lambda: _profile(fit_intercept="no"), "fit_intercept must be True or False"),
    ("profile-no-intercept-uncalibrated", lambda: _profile(fit_intercept=False),  # was ignored, silently
     r"^fit_intercept=False shapes the calibration, and calibrate is 0: give calibrate"),
    ("profile-progress-str", lambda: _profile(progress="no"), "progress must be True or False"),  # showed a bar
    ("sweep-labels-alike", lambda: sweep_tasks({1: "small", "1": "small"}),  # rows labelled '1' twice
     r"^two problems are labelled '1' \(keys 1, '1'\): their rows could not be told apart"),
    ("profile-torch-all-logits", lambda: _profile(logits="all"), "logits must be one of last for torch"),
    ("profile-threads-beyond-cpus", lambda: _profile(threads=10**5), "CPUs this process may run on"),
    ("design-latency-run-time", lambda: _design_latency(min_run_time=1e9),
     r"^min_run_time must be a number of seconds in \(0, 60\], got 1000000000\.0$"),
    # any statistic but the median was timed as the minimum, silently
    ("design-latency-statistic", lambda: _design_latency(statistic="mean"),
     r"^statistic must be one of median, min, got 'mean'$"),
    ("time-call-statistic", lambda: _time_call(statistic="mean"),
     r"^statistic must be one of median, min, got 'mean'$"),
    ("entropy-alpha-dict", lambda: mpsolve.MeRinoEntropy(alpha={1: 2, 3: 4}), "alpha must be two non-negative"),
    ("evaluate-strings", lambda: PROBLEM.evaluate([["0"] * 9]), "encodings must be integer grid indices, got an array"),
    ("evaluate-booleans", lambda: PROBLEM.evaluate([[True] * 9]), "encodings must be integer grid indices, got an "
     "array of bool"),
    ("quantity-inf", lambda: mpsolve.Budget("flops", "inf"), "'inf' is not a finite quantity"),
    ("export-onnx-to-json", lambda: _export_onnx("model.json"), r"^path 'model\.json' must end in \.onnx"),
    # a truthy string made the predicate vectorized, silently: it then failed deep in the solve
    ("predicate-vectorized-str", lambda: mpsolve.Predicate(lambda a: True, vectorized="no"),
     r"^vectorized must be True or False, got 'no'$"),
    ("predicate-name-none", lambda: mpsolve.Predicate(lambda a: True, name=None),
     r"^a predicate's name must be a non-empty string, got None$"),
    ("result-status", lambda: mpsolve.Result(None, None, float("nan"), {}, "done", "ea", 0.0),  # was a ValueError
     r"^status must be one of optimal, feasible, infeasible, interrupted, got 'done'$"),
    # scikit-learn's RandomState (or a string) escaped as a TypeError
    ("sample-random-state-legacy", lambda: PROBLEM.space.sample(3, random_state=np.random.RandomState(0)),
     r"^seed must be None, a non-negative integer or a numpy Generator, got RandomState"),
    ("mutate-random-state-str", lambda: PROBLEM.space.mutate(PROBLEM.space.sample(2, 0), random_state="0"),
     r"^seed must be None, a non-negative integer or a numpy Generator, got '0'$"),
]


def _design_latency(**options: object) -> object:
    """``design_latency`` refuses its timing options before it builds or exports anything."""
    from mpsolve.merino_model import design_latency

    return design_latency("merino-64m", runtime="onnxruntime", **options)


def _time_call(**options: object) -> object:
    """``time_call`` refuses its options before it calls anything."""
    from mpsolve.merino_model import time_call

    return time_call(lambda: None, 1, **options)


def _export_onnx(path: str) -> object:
    """``export_onnx`` refuses a file name before it looks at the model (``onnx.save`` picks the format by suffix)."""
    from mpsolve.merino_model import export_onnx

    return export_onnx(None, path)


def _profile(**options: object) -> object:
    """``profile_latency`` of the small space, refused before any timing when its options are wrong."""
    from mpsolve.merino_model import profile_latency

    return profile_latency("small", **{"progress": False, **options})


@pytest.mark.parametrize(("call", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_wrong_arguments_are_clear_errors(call: Callable[[], object], message: str) -> None:
    with pytest.raises(mpsolve.MpsolveError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


def test_scores_and_costs_take_what_resolve_architecture_takes() -> None:
    arch = get_architecture("merino-52m")
    assert MeRinoEntropy().of("merino-52m") == MeRinoEntropy().of(arch)
    assert ParamsCost().of(arch.to_dict()) == ParamsCost().of(arch)
    assert MeRinoEntropy().details("merino-52m") == MeRinoEntropy().details(arch)


def test_model_calls_refuse_the_wrong_kind_of_corpus_and_config() -> None:
    pytest.importorskip("torch")
    from mpsolve.merino_model import Corpus, ModelInputError, train

    with pytest.raises(ModelInputError, match=r"takes bytes, got str; encode text first"):
        Corpus.from_bytes("some text")
    with pytest.raises(ModelInputError, match="config must be a TrainConfig, got dict"):
        train("merino-52m", Corpus.from_bytes(b"x" * 5000), {"tokens": 512}, progress=False)


def test_architectures_of_numpy_values_serialise_and_have_one_digest() -> None:
    """An architecture built from numpy values (a grid read from an array) was accepted, then its to_json / digest
    raised a TypeError; and one built with an integer ffn_ratio had another digest than its own JSON round trip."""
    import json

    from mpsolve import Architecture, Block

    plain = Architecture(blocks=[Block(64, 2.0, 1), Block(128, 1.0, 2)], vocab_size=256, embed_proj_dim=64,
                         max_positions=64)
    numpy = Architecture(blocks=[Block(np.int64(64), np.float64(2.0), np.int32(1)), Block(np.int64(128), 1, 2)],
                         vocab_size=np.int64(256), embed_proj_dim=np.int64(64), max_positions=np.int16(64),
                         head_dim=np.int64(64))
    assert numpy == plain and numpy.to_json() == plain.to_json() and numpy.digest() == plain.digest()
    assert Architecture.from_dict(json.loads(numpy.to_json())).digest() == plain.digest()
    assert all(type(v) is int for v in (numpy.vocab_size, numpy.blocks[0].embed_dim, numpy.blocks[1].layers))
    assert type(numpy.blocks[1].ffn_ratio) is float
