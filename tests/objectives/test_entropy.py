import numpy as np
import pytest

from mpsolve import MpsolveError, MpsolveWarning, Problem
from mpsolve.costs import batch_of
from mpsolve.objectives import (
    DecoderParamsObjective,
    MeRinoEntropy,
    ParamsObjective,
    SpectrumTable,
    effectiveness,
    exact_entropy,
    get_objective,
)
from mpsolve.spaces import Architecture, Block, get_architecture, get_space


def one_block(E: int, L: int, r: float = 4.0) -> Architecture:
    return Architecture(blocks=(Block(E, r, L),))


def test_effectiveness_reproduces_paper_table_1():
    wide, deep = one_block(256, 1), one_block(64, 24)
    for arch, rho in ((wide, 0.008), (deep, 0.25)):
        b = batch_of(arch)
        assert effectiveness(b.layers, b.embed_dims, 1 / 16)[0] == pytest.approx(rho, abs=5e-4)
        assert MeRinoEntropy(beta=1 / 16).details(arch)["rho_mhsa"] == pytest.approx(rho, abs=5e-4)
        assert MeRinoEntropy().details(arch)["rho_mhsa"] == pytest.approx(4 * rho, abs=2e-3)  # default beta 1/4


@pytest.fixture(scope="module")
def memory_table() -> SpectrumTable:
    return SpectrumTable(draws=4, seed=0, cache_dir=False)


def test_lookup_table_agrees_with_exact_svd_on_random_shapes(memory_table):
    rng = np.random.default_rng(5)
    shapes = [(int(rng.integers(64, 256)), int(rng.integers(64, 512))) for _ in range(8)]
    errors = memory_table.verify(shapes, variant="log", eps=1e-6, init_std=1.0)
    assert max(errors.values()) < 0.01
    errors = memory_table.verify(shapes, variant="rate", eps=1e-2, init_std=0.5)
    assert max(errors.values()) < 0.01


def test_entropy_equals_definition_for_a_one_layer_model(memory_table):
    arch = one_block(128, 1, 2.0)
    log = {"variant": "log", "eps": 1e-6, "table": memory_table, "expectation": "monte-carlo"}
    obj = MeRinoEntropy(effectiveness=False, alpha=(1, 1), **log)
    h_att = memory_table.expected_entropy([(128, 128)], "log", 1e-6, 1.0)[0]
    h_ffn = memory_table.expected_entropy([(128, 256)], "log", 1e-6, 1.0)[0]
    assert obj.of(arch) == pytest.approx(4 * h_att + 2 * h_ffn, rel=1e-12)
    # a block's L shared layers count L times; the penalty scales each part by (1 - rho)
    obj = MeRinoEntropy(**log)
    d = obj.details(one_block(128, 3, 2.0))
    assert d["entropy_mhsa"] == pytest.approx((1 - d["rho_mhsa"]) * 3 * 4 * h_att, rel=1e-12)
    assert d["entropy_ffn"] == pytest.approx((1 - d["rho_ffn"]) * 3 * 2 * h_ffn, rel=1e-12)
    weighted = MeRinoEntropy(alpha=(0.5, 2.0), **log).details(one_block(128, 3, 2.0))
    assert weighted["entropy"] == pytest.approx(0.5 * d["entropy_mhsa"] + 2.0 * d["entropy_ffn"], rel=1e-12)


def test_exact_entropy_matches_closed_form_scaling():
    # s(cW) = c s(W): with tiny eps, log variant shifts by r log c
    a = exact_entropy(64, 96, "log", 1e-12, 1.0, np.random.default_rng(0))
    b = exact_entropy(64, 96, "log", 1e-12, 3.0, np.random.default_rng(0))
    assert b - a == pytest.approx(64 * np.log(3.0), rel=1e-9)


def test_exp_penalty_and_options():
    arch = one_block(64, 24)
    lin = MeRinoEntropy(beta=1 / 16).details(arch)
    exp = MeRinoEntropy(beta=1 / 16, penalty="exp", gamma=4.0).details(arch)
    assert exp["entropy_mhsa"] / lin["entropy_mhsa"] == pytest.approx(np.exp(-4 * 0.25) / 0.75, rel=1e-3)
    for kwargs, match in (
        ({"variant": "x"}, "variant"),
        ({"eps": 0}, "eps"),
        ({"penalty": "q"}, "penalty"),
        ({"alpha": (1,)}, "alpha"),
        ({"init_std": -1}, "init_std"),
        ({"eps": "x"}, "eps must be a positive number, got 'x'"),
        ({"init_std": None}, "init_std must be a positive number, got None"),
        ({"alpha": 3}, "alpha must be two non-negative numbers"),
        ({"alpha": ("x", 1)}, "alpha must be two non-negative numbers"),
        ({"alpha": (0, 0.0)}, r"alpha must weigh at least one part .* got \(0, 0.0\)"),  # every design scored 0
        ({"beta": "x"}, "beta and gamma must be non-negative numbers"),
        ({"effectiveness": "no"}, "effectiveness must be True or False, got 'no'"),
        ({"effectiveness": False, "penalty": "exp"}, r"^effectiveness=False turns the depth penalty off, which "
         r"conflicts with penalty='exp': give penalty='none'"),  # before: the exp penalty was silently dropped
        ({"table": 3, "expectation": "monte-carlo"}, "table must be a SpectrumTable or None, got 3"),
    ):
        with pytest.raises(MpsolveError, match=match):
            MeRinoEntropy(**kwargs)


def test_an_entropy_rebuilt_from_its_options_scores_alike():
    """The refusal of effectiveness=False with another penalty than the default leaves every options() round trip
    (and the benchmarks' unpenalised entropy) possible."""
    space = get_space("small")
    batch = space.decode_batch(space.sample(20, 0))
    for kwargs in ({}, {"penalty": "exp"}, {"penalty": "none"}, {"effectiveness": False},
                   {"effectiveness": False, "penalty": "none"}, {"effectiveness": True, "penalty": "none"}):
        obj = MeRinoEntropy(**kwargs)
        np.testing.assert_array_equal(MeRinoEntropy(**obj.options()).evaluate(batch, space),
                                      obj.evaluate(batch, space))
    exp = MeRinoEntropy(penalty="exp")
    off = MeRinoEntropy(**{**exp.options(), "effectiveness": False, "penalty": "none"})  # as the benchmark does
    assert off.options() == MeRinoEntropy(effectiveness=False).options()


def test_vectorised_evaluation_matches_per_architecture():
    space = get_space("default")
    X = space.sample(200, 3)
    obj = MeRinoEntropy()  # the shared on-disk table of the default space
    values = obj.evaluate(space.decode_batch(X), space)
    np.testing.assert_allclose(values, [obj.of(space.decode(x)) for x in X], rtol=1e-12)


def test_table_is_cached_on_disk_versioned_and_extended(tmp_path):
    table = SpectrumTable(draws=2, seed=1, cache_dir=tmp_path)
    first = table.expected_entropy([(64, 128)], "log", 1e-6, 1.0)
    assert table.path.name == "spectra-v2-seed1-draws2.npz" and table.path.exists()
    again = SpectrumTable(draws=2, seed=1, cache_dir=tmp_path)
    assert again.expected_entropy([(128, 64)], "log", 1e-6, 1.0)[0] == first[0]  # transpose: same entry
    again.expected_entropy([(64, 192)], "log", 1e-6, 1.0)  # a new shape is computed and saved
    with np.load(table.path) as data:
        assert set(data.files) == {"64x128", "64x192", "__sha256__"}


@pytest.mark.parametrize("damage", ["garbage", "truncated", "scaled", "nan", "resealed-scaled"])
def test_a_damaged_or_tampered_table_is_rebuilt_with_a_warning(tmp_path, damage):
    from mpsolve.objectives._lookup import _checksum

    table = SpectrumTable(draws=2, seed=1, cache_dir=tmp_path)
    first = table.expected_entropy([(64, 128)], "log", 1e-6, 1.0)[0]
    raw = table.path.read_bytes()
    if damage == "garbage":
        table.path.write_bytes(b"corrupt")
    elif damage == "truncated":
        table.path.write_bytes(raw[: len(raw) // 2])
    else:
        spectra = {(64, 128): np.load(table.path)["64x128"] * (np.nan if damage == "nan" else 10.0)}
        seal = _checksum(spectra, 1, 2) if damage == "resealed-scaled" else np.load(table.path)["__sha256__"]
        np.savez(table.path, **{"64x128": spectra[(64, 128)], "__sha256__": np.array(seal)})
    rebuilt = SpectrumTable(draws=2, seed=1, cache_dir=tmp_path)
    with pytest.warns(MpsolveWarning, match="rebuilding"):
        assert rebuilt.expected_entropy([(64, 128)], "log", 1e-6, 1.0)[0] == first
    again = SpectrumTable(draws=2, seed=1, cache_dir=tmp_path)  # the rebuilt file loads cleanly
    assert again.expected_entropy([(64, 128)], "log", 1e-6, 1.0)[0] == first


def test_alternative_objectives():
    arch = get_architecture("merino-52m")
    params = ParamsObjective().of(arch)
    assert params == pytest.approx(52.61e6, rel=1e-3)
    embeddings = (arch.vocab_size + arch.max_positions) * arch.embed_proj_dim
    assert DecoderParamsObjective().of(arch) == params - embeddings
    with pytest.raises(MpsolveError, match="known objectives: entropy"):
        get_objective("loss")


def test_exp_penalty_that_underflows_for_every_design_is_refused():
    # the default space's least rho: 4 blocks of 1 layer at the widest FFN (4096): 4 / 4 / 12 = 1/12,
    # at the widest attention (1024): 1/10; exp(-x) is subnormal above x = 708.4
    space = get_space("default")
    problem = Problem(space, MeRinoEntropy(penalty="exp", gamma=8400.0))
    widest = Architecture(blocks=(Block(1024, 4.0, 1),) * 4)
    assert problem.objective.details(widest)["entropy_ffn"] > np.finfo(np.float64).tiny  # exp(-700): normal
    with pytest.raises(MpsolveError, match=r"for every design of space 'default' .* take gamma below 8501"):
        Problem(space, MeRinoEntropy(penalty="exp", gamma=8600.0))
    with pytest.raises(MpsolveError, match="take gamma below 7084"):  # the attention part alone counts
        Problem(space, MeRinoEntropy(penalty="exp", gamma=7200.0, alpha=(1, 0)))
    Problem(space, MeRinoEntropy(penalty="linear", gamma=1e6))  # gamma only shapes the exp penalty


def test_an_option_set_after_scoring_is_the_one_scored(tmp_path, monkeypatch):
    """Options are the attributes of the same name (what results and repr show), but matrix entropies were
    cached by shape alone: after `obj.variant, obj.eps = "log", 1e-6` the objective went on scoring the
    rate entropy while naming the log one."""
    arch = get_architecture("merino-52m")
    obj = MeRinoEntropy()
    before = obj.of(arch)
    obj.variant, obj.eps = "log", 1e-6
    after = MeRinoEntropy(variant="log", eps=1e-6).of(arch)
    assert abs(after - before) > 100  # 39999 against 40624 nats: the two option sets differ
    assert obj.of(arch) == after
    monkeypatch.setenv("MPSOLVE_CACHE_DIR", str(tmp_path))  # the Monte-Carlo tables of seeds 3 and 4
    small = one_block(64, 1, 2.0)
    sampled = MeRinoEntropy(expectation="monte-carlo", draws=2, table_seed=3)
    seed_3 = sampled.of(small)
    sampled.table_seed = 4
    seed_4 = MeRinoEntropy(expectation="monte-carlo", draws=2, table_seed=4).of(small)
    assert seed_3 != seed_4 and sampled.of(small) == seed_4



def test_a_handed_table_is_recorded_in_the_options(tmp_path):
    """Before: options() said draws 'auto', table_seed 0 of a table of 2 draws and seed 1, so a problem's
    fingerprint, a checkpoint and a sweep row named another table than the one that scored."""
    table = SpectrumTable(draws=2, seed=1, cache_dir=tmp_path)
    obj = MeRinoEntropy(expectation="monte-carlo", table=table)
    assert (obj.options()["draws"], obj.options()["table_seed"]) == (2, 1)
    assert MeRinoEntropy(expectation="monte-carlo", draws=2, table_seed=1, table=table).options() == obj.options()
    with pytest.raises(MpsolveError, match="table_seed=5 conflict with the table's draws=2, seed=1"):
        MeRinoEntropy(expectation="monte-carlo", table_seed=5, table=table)


def test_the_shared_table_follows_the_cache_dir_set_later(tmp_path, monkeypatch):
    """Before: the table shared by every objective kept the folder of its first use in the process, so setting
    $MPSOLVE_CACHE_DIR afterwards was ignored (`mpsolve table` wrote to, or failed on, the earlier folder)."""
    monkeypatch.setenv("MPSOLVE_CACHE_DIR", str(tmp_path / "a"))
    first = MeRinoEntropy(expectation="monte-carlo").table
    monkeypatch.setenv("MPSOLVE_CACHE_DIR", str(tmp_path / "b"))
    assert first.path.parent == tmp_path / "a"
    assert MeRinoEntropy(expectation="monte-carlo").table.path.parent == tmp_path / "b"
    monkeypatch.setenv("MPSOLVE_CACHE_DIR", str(tmp_path / "a"))
    assert MeRinoEntropy(expectation="monte-carlo").table is first  # still built once per folder
