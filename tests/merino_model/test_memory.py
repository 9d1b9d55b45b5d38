"""The inference-memory cost (weights + KV cache at a context length + working set) against measured peak memory."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from mpsolve.costs import MemoryCost, ParamsCost
from mpsolve.spaces import get_space


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize("seq_len", [128, 2048])
def test_memory_cost_predicts_the_measured_peak(seq_len: int) -> None:
    from mpsolve.merino_model import design_memory

    space = get_space("default")
    for x in space.sample(1, random_state=1):
        arch = space.decode(x)
        predicted = MemoryCost(seq_len=seq_len).of(arch)
        live = design_memory(arch, seq_len, mmap_threshold=128 * 1024)
        assert live["weights"] == pytest.approx(4 * ParamsCost().of(arch), rel=0.02)
        ratio = live["peak"] / predicted
        # the live tensors (freed blocks returned): this design measured 1.010 at 128 tokens and 0.995 at 2048,
        # 20 others 0.967-1.023 up to 2048 tokens (benchmarks/results/memory_live_s42.md): 0.045 beyond them
        assert 0.92 < ratio < 1.07, f"{arch} at {seq_len} tokens: measured {live['peak']:.3g} B, ratio {ratio:.3f}"


def _live_peak(model, ids, attention_mask=None) -> int:
    """The largest sum of the storages torch's ops return that are alive at once, through a prefill of ``ids``."""
    import weakref

    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    live: dict[int, list[int]] = {}  # storage address: [tensors on it alive, bytes]
    now = peak = 0

    def release(address: int) -> None:
        nonlocal now
        entry = live[address]
        entry[0] -= 1
        if not entry[0]:
            now -= entry[1]
            del live[address]

    class Track(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            nonlocal now, peak
            out = func(*args, **(kwargs or {}))
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor) and t.untyped_storage().nbytes():
                    address = t.untyped_storage().data_ptr()
                    if address not in live:
                        live[address] = [0, t.untyped_storage().nbytes()]
                        now += live[address][1]
                        peak = max(peak, now)
                    live[address][0] += 1
                    weakref.finalize(t, release, address)
            return out

    with torch.inference_mode(), Track():
        model(ids, attention_mask=attention_mask, use_cache=True, logits_to_keep=1)
    return peak


@pytest.mark.parametrize("ratio", [1.0, 4.0])
def test_memory_cost_is_the_live_tensors_of_the_built_model(ratio: float) -> None:
    """The tensors alive at once in a prefill (what torch's ops return, tracked one by one) are the cost beyond the
    weights where the last block holds the largest working set, but for the position ids (8 bytes a token). Before:
    the attention's working set was counted as 7 E a token, with a copy of its output that the reshape never makes
    (SDPA returns it laid out as (batch, seq, heads, head_dim)): the cost was 1 E a token high on such blocks."""
    import torch

    from mpsolve.merino_model import build
    from mpsolve.spaces import Architecture, Block

    arch = Architecture(blocks=(Block(32, 1.0, 1), Block(64, ratio, 2)), vocab_size=5, embed_proj_dim=16,
                        max_positions=128, head_dim=16, shared=False)
    ids = torch.randint(0, 5, (2, 128), generator=torch.Generator().manual_seed(0))
    predicted = MemoryCost(seq_len=128, batch_size=2).of(arch) - 4 * ParamsCost().of(arch)
    assert _live_peak(build(arch, seed=0).eval(), ids) == pytest.approx(predicted, abs=8 * 128)


@pytest.mark.parametrize(("batch", "seq_len"), [(2, 128), (3, 100)])
def test_a_padded_batch_holds_its_mask_and_no_scores(batch: int, seq_len: int) -> None:
    """With a padding mask SDPA stays fused: the prefill holds the cost's tensors and the boolean mask
    (``padded``), but for the position ids (measured 15.8-16.0 bytes a token: twice that is allowed), and no
    ``seq_len x seq_len`` scores (4 bytes a pair per head: 16 times the mask here). Before: the cost said that a
    padding mask may hold more, and did not count the mask. What SDPA allocates inside its call is not seen
    here (one op to the tracker): its float copy of the mask is measured below. These blocks' FFN working set is
    above the attention's with that copy."""
    import torch

    from mpsolve.merino_model import build
    from mpsolve.spaces import Architecture, Block

    arch = Architecture(blocks=(Block(32, 1.0, 1), Block(64, 4.0, 2)), vocab_size=5, embed_proj_dim=16,
                        max_positions=128, head_dim=16, shared=False)
    ids = torch.randint(0, 5, (batch, seq_len), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(batch, seq_len, dtype=torch.long)
    mask[0, : seq_len // 4] = 0  # the first prompt left-padded
    weights = 4 * ParamsCost().of(arch)
    predicted = MemoryCost(seq_len=seq_len, batch_size=batch, padded=True).of(arch) - weights
    assert predicted - (MemoryCost(seq_len=seq_len, batch_size=batch).of(arch) - weights) == batch * seq_len**2
    assert _live_peak(build(arch, seed=0).eval(), ids, mask) == pytest.approx(predicted, abs=32 * batch * seq_len)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_a_padded_batch_holds_sdpas_float_copy_of_its_mask() -> None:
    """Measured resident memory (freed blocks returned): a padded batch of two 1024-token prompts holds 9.75 MB
    more than the same batch unpadded, against the cost's 9.0 MB: the boolean mask (2 MB) and, through each SDPA
    call, its float copy (8 MB) beside 5 E. Before, the cost counted the mask alone (2 MB), and the tracker of the
    test above cannot see inside SDPA; SDPA with a float mask makes no copy (measured)."""
    from mpsolve.merino_model import design_memory
    from mpsolve.merino_model._errors import ModelInputError
    from mpsolve.spaces import Architecture, Block

    arch = Architecture(blocks=(Block(64, 1.0, 1), Block(128, 2.0, 2)), vocab_size=256, embed_proj_dim=64,
                        max_positions=1024, head_dim=32)
    peaks, costs = {}, {}
    for padded in (False, True):
        peaks[padded] = design_memory(arch, 1024, batch_size=2, padded=padded, mmap_threshold=131072)["peak"]
        costs[padded] = MemoryCost(seq_len=1024, batch_size=2, padded=padded).of(arch)
    # measured 9.75 MB twice (0.03 MB apart) against 9.0: 1.5 MB either side, 7 MB from the mask alone's 2 MB
    assert abs((peaks[True] - peaks[False]) - (costs[True] - costs[False])) < 1.5 * 2**20
    assert costs[True] - costs[False] == 2 * 1024**2 + 4 * 2 * 1024 * (5 * 128 + 1024 - 6 * 128)
    with pytest.raises(ModelInputError, match="^padded needs an attention mask, which the exported graph does not "
                                              "take: measure a padded batch with runtime='torch'$"):
        design_memory(arch, 16, padded=True, runtime="onnxruntime")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_design_memory_in_onnx_runtime_keeps_a_graph_that_int8_quantises(tmp_path: Path) -> None:
    """The design's opset-23 KV-cache graph in an ONNX Runtime session: its weights, and a prefill above them.
    The graph is kept under its digest and opset. Its ONNX Attention nodes, which ORT's quantisation tools read as
    their contrib op of that name, stay fp32 in INT8 (before: quantize_onnx failed with an AssertionError in
    ORT's shape inference, and without it wrote a QAttention no session loaded; then ONNX's shape inference
    missed the weights stored apart)."""
    import numpy as np
    import onnx

    from mpsolve.merino_model import design_memory, onnx_generate, quantize_onnx
    from mpsolve.spaces import Architecture, Block

    arch = Architecture(blocks=(Block(256, 2.0, 2), Block(512, 2.0, 1)), vocab_size=4096, embed_proj_dim=256,
                        max_positions=512)
    m = design_memory(arch, 256, runtime="onnxruntime", opset=23, graph_dir=tmp_path)
    # ONNX Runtime holds the tied embedding twice, the table for the lookup and the head's transpose it folds:
    # measured 1.045 times 4 bytes a parameter and a table, twice
    assert m["opset"] == 23 and abs(m["weights"] / (4 * ParamsCost().of(arch) + 4 * 4096 * 256) - 1) < 0.15
    assert m["load_peak"] > m["weights"] and m["peak"] > m["weights"]
    (graph,) = tmp_path.glob("*.onnx")  # one file, as mpsolve export writes it
    assert graph.name == f"design-{arch.digest()}-s0-last-op23-whole.onnx"
    int8 = quantize_onnx(graph, tmp_path / "int8" / "design.onnx")
    assert onnx_generate(int8, np.array([[1, 2, 3]]), 4).shape == (1, 7)
    # every linear layer an integer matmul: attention's products are inside its nodes, so no MatMul is left (with
    # the weights stored apart, a shared layer's transposed weights stayed fp32 until they were read into one file)
    ops = [n.op_type for n in onnx.load(str(int8)).graph.node]
    assert "MatMul" not in ops and ops.count("MatMulInteger") == 3 * 4 + 3  # 3 layer applications, 2 projections, head


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_a_lean_graph_holds_its_table_once_in_onnx_runtime(tmp_path: Path) -> None:
    """ONNX Runtime holds the default graph's tied table twice and a lean one's once (prepacking off): the weights
    differ by the table. Measured (3 runs each, 256 tokens): 1.016 times 4 bytes a parameter and a table, twice,
    and 1.029 times 4 bytes a parameter, lean; the difference 1.000 times the table."""
    from mpsolve.merino_model import ModelInputError, design_latency, design_memory
    from mpsolve.spaces import Architecture, Block

    arch = Architecture(blocks=(Block(256, 1.0, 1),), vocab_size=16384, embed_proj_dim=256, max_positions=512)
    table, weights = 4 * 16384 * 256, 4 * ParamsCost().of(arch)
    default, lean = (design_memory(arch, 256, runtime="onnxruntime", lean=lean, graph_dir=tmp_path)
                     for lean in (False, True))
    assert lean["lean"] and not default["lean"]
    assert abs((default["weights"] - lean["weights"]) / table - 1) < 0.1
    assert abs(lean["weights"] / weights - 1) < 0.15 and abs(default["weights"] / (weights + table) - 1) < 0.15
    assert sorted(p.name for p in tmp_path.glob("*.onnx")) == [f"design-{arch.digest()}-s0-last-whole{kind}.onnx"
                                                                for kind in ("-lean", "")]
    with pytest.raises(ModelInputError, match="lean is the exported graph's: give it with runtime='onnxruntime'"):
        design_latency(arch, 16, 1, lean=True)


def test_design_memory_docstring_is_indented_as_one() -> None:
    """Its ``lean`` lines started at column 0, so ``help(design_memory)`` showed every other line indented."""
    import inspect

    from mpsolve.merino_model import design_memory

    doc = inspect.getdoc(design_memory)
    assert "\n``runtime=\"onnxruntime\"`` measures" in doc and "\n``lean`` exports the graph" in doc


def test_design_memory_refuses_what_it_cannot_measure() -> None:
    from mpsolve.merino_model import ModelInputError, design_memory

    with pytest.raises(ModelInputError, match="seq_len 4096 exceeds the design's max_positions 2048"):
        design_memory("merino-52m", 4096)
    with pytest.raises(ModelInputError, match="seed must be below 2"):
        design_memory("merino-52m", 16, seed=2**32)
    with pytest.raises(ModelInputError, match="mmap_threshold 33554433 is above the largest glibc documents"):
        design_memory("merino-52m", 16, mmap_threshold=2**25 + 1)
    with pytest.raises(ModelInputError, match="mmap_threshold must be"):
        design_memory("merino-52m", 16, mmap_threshold=-1)
    with pytest.raises(ModelInputError, match="runtime must be one of torch, onnxruntime, got 'ort'"):
        design_memory("merino-52m", 16, runtime="ort")
    for given in ({"opset": 23}, {"lean": True}):
        with pytest.raises(ModelInputError, match="opset, graph_dir and lean are the exported graph's: give them"):
            design_memory("merino-52m", 16, **given)
    with pytest.raises(ModelInputError, match="lean must be True or False"):
        design_memory("merino-52m", 16, runtime="onnxruntime", lean="yes")
    with pytest.raises(ModelInputError, match="opset must be an integer >= 17"):
        design_memory("merino-52m", 16, runtime="onnxruntime", opset=12)


def test_design_memory_refuses_an_opset_onnx_does_not_know_and_returns_an_int(monkeypatch) -> None:
    """Before: an opset beyond the installed onnx's latest was exported (seconds) and failed in torch's exporter
    with a traceback (ConversionError, e.g. 2**40); a numpy integer opset came back as numpy's, which json.dumps
    refuses."""
    import json

    import numpy as np
    import onnx

    from mpsolve.merino_model import ModelInputError, _memory, _profile

    latest = onnx.defs.onnx_opset_version()
    for opset in (latest + 1, 2**40):
        with pytest.raises(ModelInputError, match=rf"^opset {opset} is beyond the latest the installed onnx .* "
                                                  rf"knows, {latest}: give a lower one"):
            _memory.design_memory("merino-52m", 16, runtime="onnxruntime", opset=opset)
    monkeypatch.setattr(_profile, "design_graph", lambda *args, **kwargs: Path("g.onnx"))  # no export, no process
    monkeypatch.setattr(_memory, "_in_fresh_process", lambda task, what: {"weights": 1, "peak": 2, "load_peak": 2})
    measured = _memory.design_memory("merino-52m", 16, runtime="onnxruntime", opset=np.int64(23))
    assert type(measured["opset"]) is int and json.loads(json.dumps(measured))["opset"] == 23


def test_a_graph_dir_that_is_not_a_folder_is_refused_before_the_export(tmp_path: Path) -> None:
    """Before: an int was a TypeError, and a file was refused only once the design was built and being exported,
    as the graph's path (an MpsolveError, not the ModelInputError documented), in design_memory and design_latency."""
    from mpsolve.merino_model import ModelInputError, design_latency, design_memory

    (tmp_path / "f").write_text("x")
    for measure in (lambda g: design_memory("merino-52m", 16, runtime="onnxruntime", graph_dir=g),
                    lambda g: design_latency("merino-52m", 16, 1, runtime="onnxruntime", graph_dir=g)):
        with pytest.raises(ModelInputError, match=r"^graph_dir must be a folder's path or None, got int$"):
            measure(5)
        with pytest.raises(ModelInputError, match=rf"^graph_dir '{tmp_path / 'f'}' is not a folder: give a folder"):
            measure(tmp_path / "f")


def test_an_error_of_the_measuring_process_is_one_line(monkeypatch) -> None:
    """Before: the measuring process's own error (torch's allocator out of memory, say) came back as itself,
    a traceback from ``mpsolve memory``, though the docstring promises a ModelInputError in one line."""
    import math

    from mpsolve.merino_model import ModelInputError, _memory

    monkeypatch.setattr(_memory, "_measure", math.factorial)  # importable in the fresh process; it raises there
    before = set(threading.enumerate())
    with pytest.raises(ModelInputError, match=r"at 16 tokens failed: TypeError: .*factorial\(\) takes exactly one"):
        _memory.design_memory("merino-52m", 16)
    # the pool's thread has ended: left running, it closed its wake-up pipe while an exiting script wrote to it
    # ("Exception ignored ... OSError: [Errno 9] Bad file descriptor" after the error, seen once in a script)
    assert [thread for thread in threading.enumerate() if thread not in before] == []


def test_a_script_without_a_main_guard_is_told_so(tmp_path) -> None:
    """Before: 'ended without an answer (out of memory?)' of a script whose design_memory call has no
    ``if __name__ == "__main__":``, which the fresh (spawned) process runs again and cannot start a process in."""
    import subprocess

    script = tmp_path / "measure.py"
    script.write_text('from mpsolve.merino_model import design_memory\nprint(design_memory("merino-52m", 16))\n')
    import os

    import mpsolve

    root = str(Path(mpsolve.__file__).resolve().parents[1])  # this checkout's mpsolve, not another installed one
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 1
    last = done.stderr.splitlines()[-1]
    assert "ModelInputError: " in last and 'if __name__ == "__main__":' in last, done.stderr


def _state(pid: int) -> str | None:
    """A process's state letter (``Z``: ended, unreaped), ``None`` once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_measuring_process_ends_with_its_parent_killed_outright(tmp_path) -> None:
    """Before: a parent killed outright (SIGTERM, SIGKILL) left the measuring process running, then waiting for
    another task forever with the model's memory (0.5 GB for merino-52m); the profiler's timing child ends."""
    import os
    import signal
    import subprocess
    import time

    import mpsolve

    script = tmp_path / "measure.py"
    script.write_text('if __name__ == "__main__":\n    from mpsolve.merino_model import design_memory\n'
                      '    design_memory("merino-52m", 2048)\n')
    root = str(Path(mpsolve.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    parent = subprocess.Popen([sys.executable, str(script)], env=env)
    child = None
    try:
        end = time.monotonic() + 120
        while child is None and parent.poll() is None and time.monotonic() < end:
            for entry in Path("/proc").iterdir():
                try:
                    ppid = int(Path(entry, "stat").read_text().rsplit(")", 1)[1].split()[1])
                    cmd = Path(entry, "cmdline").read_bytes()
                except (OSError, ValueError, IndexError):
                    continue
                if ppid == parent.pid and b"spawn_main" in cmd:
                    child = int(entry.name)
            time.sleep(0.05)
        assert child is not None, "no measuring process started"
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        end = time.monotonic() + 30
        while _state(child) not in (None, "Z") and time.monotonic() < end:
            time.sleep(0.1)
        assert _state(child) in (None, "Z"), "the measuring process outlived its parent"
    finally:
        parent.kill()
        if child is not None and _state(child) not in (None, "Z"):
            os.kill(child, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize("seq_len", [2, 7])
def test_a_padded_batch_of_short_prompts_is_measured(seq_len: int) -> None:
    """A padded batch shorter than the warm-up's 8 tokens: the warm-up's mask has the warm-up's length (before, it
    had 8 and the measuring process failed on its shape), and the first prompt is padded by a token at least
    (before, under 4 tokens it was not padded at all, and the measurement had no mask)."""
    from mpsolve.merino_model import design_memory
    from mpsolve.merino_model._memory import _measure
    from mpsolve.spaces import Architecture, Block

    arch = Architecture(blocks=(Block(64, 1.0, 1),), vocab_size=256, embed_proj_dim=64, max_positions=64, head_dim=32)
    assert design_memory(arch, seq_len, batch_size=2, padded=True)["peak"] > 0
    import torch

    seen = []
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def spy(*args, **kwargs):
        seen.append(kwargs.get("attn_mask"))
        return sdpa(*args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    threads = torch.get_num_threads()
    try:
        _measure(arch.to_dict(), seq_len, 0, None, 2, True)  # in this process, to see its attention
    finally:
        mp.undo()
        torch.set_num_threads(threads)
    assert seen and seen[-1] is not None  # the measured prefill's attention is masked


def test_a_batch_that_cannot_fit_is_refused_before_the_measuring_process(monkeypatch) -> None:
    """A batch whose predicted peak exceeds the free memory is refused in one line naming the way out, before a
    process starts (before, it started one that failed to allocate, or that the kernel killed for memory)."""
    from mpsolve.merino_model import ModelInputError, _memory, design_memory

    def no_process(*args, **kwargs):
        raise AssertionError("a measuring process was started")

    monkeypatch.setattr(_memory, "_in_fresh_process", no_process)
    monkeypatch.setattr("mpsolve.utils.memory.available_memory", lambda: 2**30)
    with pytest.raises(ModelInputError, match=r"^a prefill of 100000 x 1024 tokens needs [0-9.]+ GiB but only 1.0 GiB "
                                              "of memory is available; lower batch_size or seq_len$"):
        design_memory("merino-52m", 1024, batch_size=100_000)
    with pytest.raises(ModelInputError, match="^batch_size 1000000000000000 is above the largest supported value"):
        design_memory("merino-52m", 64, batch_size=10**15, runtime="onnxruntime")
