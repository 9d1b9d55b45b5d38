"""An adversarial battery over every loader (issue 11): mutations of valid files, truncations, random bytes.

Each input must give a one-line :class:`mpsolve.MpsolveError` (or exit status 2 with one line
on stderr through the CLI) or a correct answer (named per loader below); never another
exception. Mutations are deterministic (seeded), so each run feeds the same inputs. Distinct
inputs per loader (each test asserts its own count): checkpoints 100, latency profiles 60,
architecture JSON 60, space files 50, result files 40, the lookup-table cache 20, HF config.json
35, safetensors metadata 5, CLI flags 40: 410 in all, on top of ``tests/cli/test_bad_input.py``
and the hypothesis fuzzing of ``tests/test_fuzz_loaders.py``.
"""

from __future__ import annotations

import copy
import io
import json
import math
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mpsolve
from mpsolve.cli import main
from mpsolve.core.checkpoint import load_checkpoint
from mpsolve.costs import get_cost
from mpsolve.spaces import load_space, resolve_architecture
from mpsolve.workflows.problem_file import dumps_toml, load_problem_file

#: values a hostile or careless editor puts where a valid one was
BAD_VALUES: list[Any] = [
    None, True, "x", "", -1, 0, 2**64, -(2**63) - 1, 10**400, 1e308, -1e308, math.nan, math.inf, -math.inf, 0.5,
    [], {}, [[[[[[[[1]]]]]]]], {"__array__": {"dtype": "object", "shape": [1], "data": [0]}},
]


def _paths(doc: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every key/index path of a JSON document (containers first)."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:3]):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def _set(doc: Any, path: tuple, value: Any, delete: bool = False) -> Any:
    out = copy.deepcopy(doc)
    target = out
    for k in path[:-1]:
        target = target[k]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return out


def mutations(doc: dict, n: int, seed: int) -> list[tuple[str, bytes]]:
    """``n`` distinct damaged serialisations of ``doc``: deleted keys, bad values, truncation, noise."""
    rng = np.random.default_rng(seed)
    text = json.dumps(doc)
    out: dict[bytes, str] = {}
    paths = list(_paths(doc))
    for i, path in enumerate(paths):
        if isinstance(path[-1], str):
            out.setdefault(json.dumps(_set(doc, path, None, delete=True)).encode(), f"del {path}")
        value = BAD_VALUES[(i * 7) % len(BAD_VALUES)]
        try:
            out.setdefault(json.dumps(_set(doc, path, value)).encode(), f"{path}={value!r:.20}")
        except ValueError:  # 10**400 has no JSON spelling beyond Python's digit limit
            pass
    while len(out) < n:
        kind = rng.integers(4)
        if kind == 0:  # truncated
            data = text[: int(rng.integers(0, len(text)))].encode()
        elif kind == 1:  # random bytes
            data = rng.bytes(int(rng.integers(1, 200)))
        elif kind == 2:  # a few bytes flipped
            raw = bytearray(text.encode())
            for j in rng.integers(0, len(raw), size=3):
                raw[j] = int(rng.integers(0, 256))
            data = bytes(raw)
        else:  # a bad value at a random path
            path = paths[int(rng.integers(len(paths)))]
            value = BAD_VALUES[int(rng.integers(len(BAD_VALUES)))]
            try:
                data = json.dumps(_set(doc, path, value)).encode()
            except ValueError:
                continue
        out.setdefault(data, f"kind {kind}")
    assert len(out) >= n
    return [(label, data) for data, label in list(out.items())[:n]]


def _run_battery(cases: list[tuple[str, bytes]], load: Callable[[bytes], Any]) -> dict[str, int]:
    """Feed every case to ``load``; collect every exception that is not a one-line MpsolveError."""
    counts = {"loaded": 0, "refused": 0}
    bad = []
    for label, data in cases:
        try:
            load(data)
            counts["loaded"] += 1
        except mpsolve.MpsolveError as exc:
            counts["refused"] += 1
            if "\n" in str(exc) or not str(exc):
                bad.append((label, f"multi-line or empty message: {str(exc)[:200]!r}"))
        except Exception as exc:  # noqa: BLE001 - the point: anything else is a finding
            bad.append((label, f"{type(exc).__name__}: {str(exc)[:200]}"))
    assert not bad, f"{len(bad)} of {len(cases)} inputs escaped as tracebacks:\n" + "\n".join(map(str, bad[:15]))
    assert len({data for _, data in cases}) == len(cases)
    print(counts)
    return counts


# -- checkpoints ---------------------------------------------------------------------------------
EA = {"iterations": 30, "population": 8, "parents": 4, "init_samples": 16, "batch_size": 4}


def test_damaged_checkpoints(tmp_path):
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "40G")])
    solver = mpsolve.get_solver("ea", **EA)
    path = tmp_path / "run.ckpt"
    solver.solve(problem, seed=0, checkpoint=path)
    full = solver.solve(problem, seed=0)
    doc = json.loads(path.read_text())
    cases = mutations(doc, 100, seed=1)

    def load(data: bytes) -> None:
        path.write_bytes(data)
        load_checkpoint(path, problem, solver)  # the structure is checked first ...
        resumed = solver.solve(problem, resume=path)  # ... and the backend's own state on resuming
        # correct answer: a damaged checkpoint that still resumes must reach the uninterrupted run's design
        assert resumed.objective <= full.objective + 1e-9 * abs(full.objective)
        assert all(problem.evaluate(resumed.x[None, :]).feasible)

    counts = _run_battery(cases, load)
    assert len(cases) == 100 and counts["refused"] >= 85


# -- latency profiles ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def profile() -> dict:
    pytest.importorskip("torch")
    from mpsolve.merino_model import profile_latency

    space = mpsolve.SearchSpace(num_blocks=1, embed_dims=(64,), ffn_ratios=(1.0,), layers=(1,), vocab_size=64,
                                embed_proj_dim=64, max_positions=16, name="one")
    return profile_latency(space, seq_len=16, threads=1, min_run_time=0.01, progress=False)


def test_damaged_latency_profiles(tmp_path, profile):
    from mpsolve.costs import LatencyCost

    arch = {"blocks": [{"embed_dim": 64, "ffn_ratio": 1.0, "layers": 1}], "vocab_size": 64, "embed_proj_dim": 64,
            "max_positions": 16}
    cases = mutations(profile, 60, seed=2)
    path = tmp_path / "p.json"

    def load(data: bytes) -> None:
        path.write_bytes(data)
        cost = LatencyCost(path)
        # correct answer: a profile that loads predicts a finite, positive latency
        value = float(cost.of(resolve_architecture(arch)))
        assert math.isfinite(value) and value > 0, value

    counts = _run_battery(cases, load)
    assert len(cases) == 60 and counts["refused"] >= 5


# -- architecture JSON and space files ------------------------------------------------------------
ARCH = {"blocks": [{"embed_dim": 64, "ffn_ratio": 1.0, "layers": 1}, {"embed_dim": 128, "ffn_ratio": 2.0, "layers": 2}],
        "vocab_size": 256, "embed_proj_dim": 64, "max_positions": 64, "head_dim": 32, "activation": "relu",
        "shared": False}


def _cli(argv: list[str], capsys) -> None:
    """Run the CLI: exit 0, or exit 2 with one line (raised as an MpsolveError for the battery)."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    if code == 2:
        lines = [line for line in err if line.startswith("mpsolve")]
        if len(lines) != 1 or "Traceback" in "\n".join(err):
            raise AssertionError(f"exit 2 without one error line: {err}")
        raise mpsolve.MpsolveError(lines[0])
    assert code == 0, (code, err)


def test_damaged_architecture_json(tmp_path, capsys):
    cases = mutations(ARCH, 60, seed=3)
    path = tmp_path / "a.json"

    def load(data: bytes) -> None:
        path.write_bytes(data)
        _cli(["cost", str(path), "--json"], capsys)
        # correct answer: what loads has the counts of the architecture it describes
        arch = resolve_architecture(path)
        assert arch.to_dict()["blocks"] and get_cost("params").of(arch) > 0

    counts = _run_battery(cases, load)
    assert len(cases) == 60 and counts["refused"] >= 50


SPACE = {"space": {"num_blocks": 2, "embed_dims": [128, 256], "ffn_ratios": [1.0, 2.0], "layers": [1, 2],
                   "vocab_size": 256, "embed_proj_dim": 128, "max_positions": 64, "head_dim": 32,
                   "activation": "relu", "shared": False}}


def test_damaged_space_files(tmp_path):
    cases = []
    for label, data in mutations(SPACE, 200, seed=4):
        try:
            doc = json.loads(data)
            cases.append((label, dumps_toml(doc).encode()))
        except (ValueError, mpsolve.MpsolveError):  # not JSON, or no TOML spelling (None): keep the raw bytes
            cases.append((label, data))
    cases = list({data: label for label, data in cases}.items())[:50]
    cases = [(label, data) for data, label in cases]
    path = tmp_path / "s.toml"

    def load(data: bytes) -> None:
        path.write_bytes(data)
        space = load_space(str(path))
        # correct answer: a space that loads gives designs with finite, positive costs
        problem = mpsolve.Problem(space, constraints=[mpsolve.Budget("flops", "1P")])
        ev = problem.evaluate(problem.corner_designs()[0])
        assert np.all(np.isfinite(ev.objective)) and all(np.all(np.asarray(c) > 0) for c in ev.costs.values())

    counts = _run_battery(cases, load)
    assert len(cases) == 50 and counts["refused"] >= 45


# -- result files (rerun through --problem) --------------------------------------------------------
def test_damaged_result_files(tmp_path):
    problem = mpsolve.Problem("small", constraints=[mpsolve.Budget("flops", "40G")])
    result = mpsolve.solve(problem, "ea", seed=0, **EA).to_dict()
    doc = {"problem": result["problem"], "status": result["status"], "solver": result["solver"],
           "options": result["options"], "seed": result["seed"]}
    cases = mutations(doc, 40, seed=5)
    path = tmp_path / "r.json"

    def load(data: bytes) -> None:
        path.write_bytes(data)
        spec = load_problem_file(path)
        # correct answer: what loads is a problem that solves
        assert spec.problem.n_var > 0

    counts = _run_battery(cases, load)
    assert len(cases) == 40 and counts["refused"] >= 20


# -- the lookup-table cache ------------------------------------------------------------------------
def test_damaged_lookup_table_caches(tmp_path):
    from mpsolve.objectives._lookup import SpectrumTable

    shapes = [(8, 8), (8, 16), (16, 32)]
    truth = SpectrumTable(draws=3, seed=4, cache_dir=False).expected_entropy(shapes, "log", 1e-6, 1.0)
    SpectrumTable(draws=3, seed=4, cache_dir=tmp_path).expected_entropy(shapes, "log", 1e-6, 1.0)
    path = next(tmp_path.glob("*.npz"))
    good = path.read_bytes()
    rng = np.random.default_rng(6)
    cases = [(f"truncated {k}", good[:k]) for k in np.linspace(0, len(good) - 1, 8, dtype=int)]
    cases += [(f"random {i}", rng.bytes(int(rng.integers(1, 4000)))) for i in range(4)]
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    for i, tamper in enumerate([lambda a: a * 10, lambda a: a + np.nan, lambda a: -a, lambda a: a[:, :1],
                                lambda a: a.astype(np.float32), lambda a: np.zeros_like(a), lambda a: a[::-1],
                                lambda a: np.full_like(a, np.inf)]):
        key = sorted(k for k in arrays if "x" in k)[i % 3]
        buffer = io.BytesIO()
        np.savez(buffer, **{**arrays, key: tamper(arrays[key])})
        cases.append((f"tampered {key} #{i}", buffer.getvalue()))

    def load(data: bytes) -> None:
        path.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mpsolve.MpsolveWarning)  # "rebuilding it"
            got = SpectrumTable(draws=3, seed=4, cache_dir=tmp_path).expected_entropy(shapes, "log", 1e-6, 1.0)
        # correct answer: the table of the seed, rebuilt when the file is not its own
        np.testing.assert_allclose(got, truth, rtol=1e-12)

    counts = _run_battery(cases, load)
    assert len(cases) == 20 and counts["loaded"] == 20


# -- Hugging Face checkpoints ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def hf_checkpoint(tmp_path_factory):
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from mpsolve.merino_model import MeRinoConfig, MeRinoHFForCausalLM

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("hf")
    model = MeRinoHFForCausalLM(MeRinoConfig.from_architecture(resolve_architecture(ARCH))).eval()
    model.save_pretrained(folder)
    tokens = torch.arange(10)[None, :]
    with torch.no_grad():
        logits = model(tokens).logits
    return folder, tokens, logits


def _load_and_compare(folder: Path, tokens: Any, logits: Any) -> None:
    import torch

    from mpsolve.merino_model import MeRinoHFForCausalLM

    model = MeRinoHFForCausalLM.from_pretrained(folder).eval()
    with torch.no_grad():
        got = model(tokens).logits
    # correct answer: a checkpoint that loads computes the saved model's logits
    assert got.shape == logits.shape and torch.allclose(got, logits, atol=1e-6), "loaded, with other logits"


def test_damaged_hf_configs(tmp_path, hf_checkpoint):
    import shutil

    folder, tokens, logits = hf_checkpoint
    config = json.loads((folder / "config.json").read_text())
    cases = mutations(config, 35, seed=7)
    work = tmp_path / "ckpt"
    shutil.copytree(folder, work)

    def load(data: bytes) -> None:
        (work / "config.json").write_bytes(data)
        _load_and_compare(work, tokens, logits)

    counts = _run_battery(cases, load)
    assert len(cases) == 35 and counts["refused"] >= 20


def test_damaged_safetensors_metadata(tmp_path, hf_checkpoint):
    import shutil
    import struct

    folder, tokens, logits = hf_checkpoint
    weights = next(folder.glob("*.safetensors")).name
    raw = (folder / weights).read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + size])
    body = raw[8 + size:]
    metadata = header.get("__metadata__", {})

    def with_header(h: dict) -> bytes:
        text = json.dumps(h).encode()
        text += b" " * (-len(text) % 8)
        return struct.pack("<Q", len(text)) + text + body

    record = {k: v for k, v in metadata.items()}
    cases = [
        ("metadata-not-json", with_header({**header, "__metadata__": {**record, **{k: "{" for k in record}}})),
        ("metadata-activation", with_header({**header, "__metadata__": {
            **record, **{k: json.dumps({**json.loads(v), "activation": "gelu"}) for k, v in record.items()
                         if v.startswith("{")}}})),
        ("header-size-huge", struct.pack("<Q", 2**62) + raw[8:]),
        ("header-truncated", raw[: 8 + size // 2]),
        ("dtype-bogus", with_header({k: ({**v, "dtype": "Q99"} if isinstance(v, dict) and "dtype" in v else v)
                                     for k, v in header.items()})),
    ]
    work = tmp_path / "ckpt"
    shutil.copytree(folder, work)

    def load(data: bytes) -> None:
        (work / weights).write_bytes(data)
        _load_and_compare(work, tokens, logits)

    counts = _run_battery(cases, load)
    assert len(cases) == 5 and counts["refused"] >= 4


# -- CLI flags -------------------------------------------------------------------------------------
FLAG_VALUES = ["", "-1", "0", "nan", "inf", "1e400", "x", "9" * 400]


def test_bad_cli_flags(capsys, tmp_path):
    commands = [
        ["design", "--space", "small", "--budget", "flops=10G", "--option", "iterations=50", "--time-limit", "{v}"],
        ["design", "--space", "small", "--budget", "flops={v}", "--option", "iterations=50"],
        ["design", "--space", "small", "--budget", "flops=10G", "--option", "iterations=50", "--seed", "{v}"],
        ["table", "--space", "small", "--verify", "{v}"],
        ["cost", "merino-52m", "--seq-len", "{v}"],
    ]
    cases = [(" ".join(c).replace("{v}", v), tuple(a.replace("{v}", v) for a in c)) for c in commands
             for v in FLAG_VALUES]

    def load(argv: tuple[str, ...]) -> None:
        _cli(list(argv), capsys)

    counts = _run_battery(cases, load)  # type: ignore[arg-type]
    assert len(cases) == 40 and counts["refused"] >= 30
