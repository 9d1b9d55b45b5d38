"""Fuzzing the TOML/JSON loaders: any input either loads or raises one of mpsolve's own errors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mpsolve
from mpsolve.workflows.problem_file import (
    dumps_toml,
    load_problem_file,
    loads_problem,
    problem_from_dict,
    result_to_problem_toml,
)

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EXAMPLE = (Path(__file__).parent.parent / "examples" / "flops-160g.toml").read_text()

#: the schema's own words, so that the fuzzer reaches deep into the validation
SPACE_KEYS = (
    "preset name num_blocks embed_dims ffn_ratios layers vocab_size embed_proj_dim max_positions head_dim".split()
)
OBJECTIVE_KEYS = "name variant eps init_std alpha beta effectiveness penalty gamma draws table_seed".split()
BUDGET_KEYS = "cost limit seq_len include_lm_head batch_size bytes_per_param bytes_per_activation".split()
SOLVER_KEYS = "name seed time_limit iterations population parents batch_size p_neighbour init_samples workers".split()
WORDS = (
    "space objective budget budgets constraints solver shared activation flops params memory latency rho_max "
    "parts non_decreasing_widths blocks embed_dim ffn_ratio entropy ea cpsat exhaustive default small paper "
    "log rate linear exp none both mhsa ffn"
).split()
KEYS = sorted({*SPACE_KEYS, *OBJECTIVE_KEYS, *BUDGET_KEYS, *SOLVER_KEYS, *WORDS})

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, 1, 2, 3, 4, 64, 128, 512, 1024, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["160G", "64M", "-3G", "nan", "1e400", "", "0", "3X"]),
    st.sampled_from(KEYS),
    st.text(max_size=8),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=6))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=20,
)
documents = st.dictionaries(keys, values, max_size=6)


def _loads_or_library_error(fn, *args):
    try:
        with warnings.catch_warnings():  # a warning (a budget beyond max_positions) is an accepted outcome
            warnings.simplefilter("ignore", mpsolve.MpsolveWarning)
            return fn(*args)
    except mpsolve.MpsolveError:
        return None


@FUZZ
@given(text=st.text(max_size=200))
def test_arbitrary_text(text):
    _loads_or_library_error(loads_problem, text, "fuzz.toml")


@FUZZ
@given(data=st.data())
def test_mutated_example(data):
    text = EXAMPLE
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 12)))
        text = text[:i] + data.draw(st.sampled_from(["", "0", "-", "\n", "[", "]", '"', "=", "x", "nan"])) + text[j:]
    _loads_or_library_error(loads_problem, text, "fuzz.toml")


@FUZZ
@given(document=documents)
def test_random_structures(document):
    _loads_or_library_error(problem_from_dict, document, "fuzz")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    space=st.dictionaries(st.sampled_from(SPACE_KEYS), values, max_size=4),
    objective=st.dictionaries(st.sampled_from(OBJECTIVE_KEYS), values, max_size=3),
    budget=st.lists(st.dictionaries(st.sampled_from(BUDGET_KEYS), values, max_size=4), max_size=2),
    solver=st.dictionaries(st.sampled_from(SOLVER_KEYS), values, max_size=3),
)
def test_random_sections_as_toml(space, objective, budget, solver):
    document = {"space": space, "objective": objective, "budget": budget, "solver": solver}
    try:
        text = dumps_toml(document)
    except mpsolve.MpsolveError:  # e.g. None has no TOML spelling
        return
    _loads_or_library_error(loads_problem, text, "fuzz.toml")


@FUZZ
@given(document=values)
def test_random_json_files(tmp_path_factory, document):
    path = tmp_path_factory.mktemp("fuzz") / "problem.json"
    path.write_text(json.dumps(document))
    _loads_or_library_error(load_problem_file, path)


@FUZZ
@given(key=st.sampled_from(["problem", "solver", "options", "seed"]), value=values, data=st.data())
def test_damaged_results(key, value, data):
    result = mpsolve.solve(_PROBLEM, "ea", seed=0, iterations=50, init_samples=16, population=8).to_dict()
    target = result
    if key == "problem" and data.draw(st.booleans()):
        target = result["problem"]
        key = data.draw(st.sampled_from(["space", "objective", "constraints"]))
    target[key] = value
    _loads_or_library_error(result_to_problem_toml, result)


@FUZZ
@given(document=values)
def test_space_and_architecture_json(document):
    _loads_or_library_error(mpsolve.SearchSpace.from_dict, document if isinstance(document, dict) else {"x": 1})
    _loads_or_library_error(mpsolve.Architecture.from_dict, document)


_PROBLEM = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "40G")])
