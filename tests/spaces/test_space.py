import math
from collections import Counter
from itertools import product

import numpy as np
import pytest

from mpsolve import ArchitectureError, MpsolveError, SpaceError
from mpsolve.spaces import Architecture, Block, SearchSpace, get_architecture, get_space, load_space


def brute_force_size(space: SearchSpace) -> int:
    k, n = len(space.embed_dims), space.num_blocks
    orders = sum(1 for w in product(range(k), repeat=n) if list(w) == sorted(w))
    return orders * (len(space.ffn_ratios) * len(space.layers)) ** n


@pytest.mark.parametrize("name", ["small", "paper", "default", "byte-tiny"])
def test_size_counts_non_decreasing_widths(name):
    space = get_space(name)
    assert space.size() == brute_force_size(space)
    assert (
        space.size(ordered=False)
        == len(space.embed_dims) ** space.num_blocks * (len(space.ffn_ratios) * len(space.layers)) ** space.num_blocks
    )


def test_default_space_is_the_spec_space():
    space = get_space("default")
    assert space.num_blocks == 4 and space.embed_dims == tuple(range(128, 1025, 128))
    assert space.size() == 202_836_480  # "about 2e8"


def test_enumerate_yields_every_ordered_design_once(small_space):
    rows = np.concatenate(list(small_space.enumerate(chunk_size=1000)))
    assert len(rows) == small_space.size()
    assert len(np.unique(rows, axis=0)) == len(rows)
    assert small_space.is_ordered(rows).all()
    assert max(len(c) for c in small_space.enumerate(chunk_size=1000)) <= 1000


def test_sample_is_valid_uniform_and_seeded(small_space):
    X = small_space.sample(20000, 7)
    assert small_space.is_ordered(X).all()
    np.testing.assert_array_equal(X, small_space.sample(20000, 7))
    # every ordered width tuple appears with roughly equal frequency (uniform over the space)
    _, counts = np.unique(X[:, 0::3], axis=0, return_counts=True)
    assert len(counts) == math.comb(4 + 3 - 1, 3)
    assert counts.min() > 0.7 * counts.mean() and counts.max() < 1.3 * counts.mean()


def test_mutate_changes_one_variable_and_keeps_order(small_space, rng):
    X = small_space.sample(500, rng)
    Y = small_space.mutate(X, rng)
    assert small_space.is_ordered(Y).all()
    # a mutation changes one element of the width multiset, or one block's ratio or depth
    changed = 0
    for x, y in zip(X, Y):
        widths = Counter(x[0::3].tolist())
        widths.subtract(Counter(y[0::3].tolist()))
        width_moves = sum(v for v in widths.values() if v > 0)
        rl_moves = int(np.sum((x[1::3] != y[1::3]) | (x[2::3] != y[2::3])))
        assert width_moves + rl_moves <= 1
        changed += width_moves + rl_moves
    assert changed > 0.5 * len(X)
    np.testing.assert_array_equal(small_space.mutate(X, 3), small_space.mutate(X, 3))


def test_neighbours_are_one_step_and_ordered(small_space):
    x = small_space.sample(1, 0)[0]
    N = small_space.neighbours(x)
    assert len(N) > 0 and small_space.is_ordered(N).all()
    assert (np.abs(N - x).sum(axis=1) == 1).all()


def test_encode_decode_round_trip(small_space, rng):
    for x in small_space.sample(50, rng):
        arch = small_space.decode(x)
        np.testing.assert_array_equal(small_space.encode(arch), x)


def test_encode_rejects_foreign_architectures(small_space):
    arch = get_architecture("merino-52m")
    with pytest.raises(ArchitectureError, match="blocks"):
        small_space.encode(arch)
    with pytest.raises(ArchitectureError, match="not in the space's grid"):
        get_space("default").encode(arch.replace(blocks=(Block(1152, 1.0, 1),) * 4))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"embed_dims": (100, 128)}, "not multiples of head_dim 64"),
        ({"embed_dims": ()}, "empty"),
        ({"num_blocks": 0}, "num_blocks"),
        ({"layers": (0, 1)}, "positive"),
        ({"ffn_ratios": (1.0, 1.0)}, "duplicates"),
        ({"ffn_ratios": (1.3,), "embed_dims": (64,)}, "not an integer FFN width"),
        ({"embed_dims": (float("nan"),)}, "finite"),
        ({"embed_dims": (10**400,)}, r"embed_dim 100000000000\.\.\. \(401 digits\) is above the largest"),
    ],
)
def test_bad_spaces_say_what_is_wrong(kwargs, match):
    with pytest.raises(SpaceError, match=match):
        SearchSpace(**kwargs)


def test_unknown_preset_lists_known():
    with pytest.raises(SpaceError, match="known spaces: default"):
        get_space("nope")


def test_architecture_json_round_trip_and_errors():
    arch = get_architecture("merino-61m")
    assert Architecture.from_dict(arch.to_dict()) == arch
    bad = arch.to_dict()
    bad["blocks"][0]["embed_dim"], bad["blocks"][1]["embed_dim"] = 1024, 640
    with pytest.raises(ArchitectureError, match="non-decreasing"):
        Architecture.from_dict(bad)
    with pytest.raises(ArchitectureError, match="missing 'blocks'"):
        Architecture.from_dict({"vocab_size": 3})
    with pytest.raises(ArchitectureError, match="multiple of head_dim"):
        Architecture(blocks=(Block(100, 1.0, 1),))
    for blocks in (Block(64, 1.0, 1), None):
        with pytest.raises(ArchitectureError, match="blocks must be a list of Block objects"):
            Architecture(blocks=blocks)
    with pytest.raises(ArchitectureError, match="unknown architecture field"):
        Architecture.from_dict({**arch.to_dict(), "colour": "red"})


def test_bad_method_arguments_say_what_is_wrong(small_space):
    x = small_space.sample(2, 0)
    with pytest.raises(SpaceError, match="p_repeat must be in \\[0, 1\\), got 1.0"):
        small_space.mutate(x, 0, 0.5, 1.0)  # mutated forever before
    with pytest.raises(SpaceError, match="p_neighbour must be in \\[0, 1\\], got nan"):
        small_space.mutate(x, 0, float("nan"))
    with pytest.raises(SpaceError, match="sample size n must be a non-negative integer, got -1"):
        small_space.sample(-1, 0)
    with pytest.raises(MpsolveError, match="seed must be a non-negative integer or None, got -1"):
        small_space.sample(3, -1)
    with pytest.raises(SpaceError, match="chunk_size must be a positive integer, got 0"):
        next(small_space.enumerate(0))
    with pytest.raises(ArchitectureError, match="encode needs an Architecture, got 'x'"):
        small_space.encode("x")
    with pytest.raises(SpaceError, match="unknown search space 3"):
        load_space(3)


def test_a_space_file_must_be_toml(tmp_path):
    (tmp_path / "space.bin").write_bytes(b"\x00")
    with pytest.raises(SpaceError, match=r"space file '.*space\.bin' must be a \.toml file .*give a preset: default"):
        load_space(str(tmp_path / "space.bin"))
    with pytest.raises(SpaceError, match="unknown search space 'nowhere'"):
        load_space("nowhere")


def test_an_architecture_digest_names_it_and_nothing_else():
    arch = get_architecture("merino-52m")
    same = Architecture.from_dict(arch.to_dict())
    assert arch.digest() == same.digest() and len(arch.digest()) == 12
    assert int(arch.digest(), 16) >= 0  # hex digits: safe in a file name
    others = {arch.replace(shared=False), arch.replace(vocab_size=256),
              arch.replace(blocks=(Block(512, 1.0, 3), *arch.blocks[1:]))}
    assert len({arch.digest(), *(o.digest() for o in others)}) == 4


def test_a_space_file_with_a_bom_or_an_upper_case_suffix_loads(tmp_path) -> None:
    """Windows editors write a UTF-8 BOM ('Invalid statement' before); S.TOML is a TOML file too."""
    from mpsolve.spaces import load_space

    path = tmp_path / "S.TOML"
    path.write_bytes(b"\xef\xbb\xbf" + b'[space]\npreset = "small"\nnum_blocks = 2\n')
    space = load_space(str(path))
    assert space.num_blocks == 2 and space.embed_dims == load_space("small").embed_dims


def test_a_space_file_that_holds_more_or_less_than_a_space_is_refused(tmp_path) -> None:
    """Before: a problem file given as a space lost its objective, budgets and solver without a word,
    and an empty file became the default space."""
    problem = tmp_path / "problem.toml"
    problem.write_text('[space]\npreset = "small"\n\n[objective]\nname = "params"\n\n[[budget]]\ncost = "flops"\n'
                       'limit = "20G"\n')
    with pytest.raises(SpaceError, match=r"holds budget, objective besides \[space\].*keep only the space in it"):
        load_space(str(problem))
    problem.write_text('"bud\\nget" = 1\n[space]\npreset = "small"\n')  # the key was printed raw, on two lines
    with pytest.raises(SpaceError, match=r"holds 'bud\\nget' besides \[space\]"):
        load_space(str(problem))
    empty = tmp_path / "empty.toml"
    empty.write_text("# nothing yet\n")
    with pytest.raises(SpaceError, match="holds no space: give SearchSpace fields"):
        load_space(str(empty))
    (tmp_path / "tabled.toml").write_text("[space]\n")
    with pytest.raises(SpaceError, match="holds no space"):
        load_space(str(tmp_path / "tabled.toml"))


def test_a_space_name_must_be_a_string_and_a_huge_width_names_its_limit(tmp_path) -> None:
    dated = tmp_path / "dated.toml"
    dated.write_text('name = 2024-01-01\npreset = "small"\n')  # a TOML date: results could not be written
    with pytest.raises(SpaceError, match=r"a space's name must be a non-empty string, got datetime\.date"):
        load_space(str(dated))
    for name in (None, "", 3):
        with pytest.raises(SpaceError, match="a space's name must be a non-empty string"):
            SearchSpace(name=name)
    with pytest.raises(SpaceError, match="embed_dim 99999999999999999999999 is above the largest supported value"):
        SearchSpace(embed_dims=[64, 99999999999999999999999])  # was "must contain integers"


def test_repeated_mutation_stops_at_a_solves_deadline(small_space, rng) -> None:
    """With p_repeat near 1 a child is mutated about a million times: ea ignored --time-limit 2
    for more than 40 s. The mutation loop now checks the solve's deadline."""
    import time

    from mpsolve.utils.clock import DeadlineReached, deadline

    X = small_space.sample(4, rng)
    with deadline(time.perf_counter() - 1.0), pytest.raises(DeadlineReached):
        small_space.mutate(X, rng, p_repeat=0.999)  # a row repeats with 1 - 1e-12 odds: the loop is entered
    assert small_space.mutate(X, rng, p_repeat=0.5).shape == X.shape  # no deadline: it finishes


def test_numpy_model_constants_are_kept_as_python_integers() -> None:
    """Before: a space kept np.int64(256) as given, so it equalled the same space with 256 yet hashed
    differently (a set of the two held both) and its to_dict was not JSON."""
    import json

    grids = {"num_blocks": 2, "embed_dims": [64, 128], "ffn_ratios": [1.0], "layers": [1]}
    numpy = SearchSpace(**grids, vocab_size=np.int64(256), embed_proj_dim=np.int32(64), max_positions=np.int64(32),
                        head_dim=np.int16(32))
    plain = SearchSpace(**grids, vocab_size=256, embed_proj_dim=64, max_positions=32, head_dim=32)
    assert numpy == plain and len({numpy, plain}) == 1
    assert json.loads(json.dumps(numpy.to_dict())) == plain.to_dict()


def test_numpy_bool_shared_and_float32_ratio_are_taken_as_python_values() -> None:
    """Before: shared=np.False_ was refused as 'shared must be true or false', and a block's np.float32
    ratio as 'ffn_ratio must be a positive finite number' (np.float32 is no float), though numpy integers pass."""
    import json

    grids = {"num_blocks": 2, "embed_dims": [64, 128], "ffn_ratios": [1.0, 1.5], "layers": [1]}
    space = SearchSpace(**grids, shared=np.False_)
    assert space.shared is False and space == SearchSpace(**grids, shared=False)
    assert json.loads(json.dumps(space.to_dict()))["shared"] is False
    arch = Architecture([Block(np.int64(64), np.float32(1.5), np.int64(2))], shared=np.bool_(False))
    assert arch == Architecture([Block(64, 1.5, 2)], shared=False) and arch.shared is False
    for bad in (np.True_, np.float32("nan"), -1.5):
        with pytest.raises(ArchitectureError, match="ffn_ratio must be a positive finite number"):
            Architecture([Block(64, bad, 1)])


def test_repair_takes_one_row_and_refuses_what_is_not_rows_of_numbers() -> None:
    """Before: a row of NaN came back as int64's smallest value (an encoding out of range, silently), one row
    was a raw AxisError and another shape or dtype a raw ValueError."""
    space = get_space("small")
    assert space.repair(np.array([2.6, 0, 0, 0.4, 9, 0, 0, 0, 0])).tolist() == [[0, 0, 0, 0, 2, 0, 3, 0, 0]]  # sorted
    for bad, said in ((np.full((1, 9), np.nan), r"shape \(1, 9\), with NaN"), (np.zeros((2, 5)), r"shape \(2, 5\)"),
                      (np.array([["a"] * 9]), "an array of <U1")):
        with pytest.raises(ArchitectureError, match=f"repair needs rows of 9 numbers .*got {said}"):
            space.repair(bad)


def test_size_refuses_an_ordered_flag_that_is_not_a_bool() -> None:
    """Before: size(ordered="no") counted the ordered designs, as a truthy string."""
    space = get_space("small")
    assert space.size(ordered=np.False_) == space.size(ordered=False) > space.size()
    with pytest.raises(SpaceError, match="ordered must be True or False, got 'no'"):
        space.size(ordered="no")


def test_space_errors_echo_values_short() -> None:
    """Before: a space file's values were echoed whole: a name, a list or a key of 100 000 characters made an error
    line as long (found by the security audit)."""
    long = "x" * 100_000
    cases = [{"name": [long]}, {"embed_dims": long}, {"embed_dims": [long]}, {"embed_dims": [1.5, long]},
             {"embed_dims": [64] * 100_000}, {"embed_dims": list(range(-100_000, 0))},
             {"embed_dims": list(range(1, 16_000, 2))}, {long: 1}, {"name": "s", long: 1}]
    for fields in cases:
        with pytest.raises(SpaceError) as info:
            SearchSpace.from_dict(fields)
        assert len(str(info.value)) < 400, (list(fields), str(info.value)[:200])
