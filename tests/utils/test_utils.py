"""The bottom layer: the registry, the validators, quantities and atomic writes."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

from mpsolve.utils.errors import MpsolveError, SolverError
from mpsolve.utils.files import atomic_write, check_suffix, check_writable, read_text_bounded
from mpsolve.utils.quantities import exact_quantity, format_quantity, parse_quantity
from mpsolve.utils.registry import Registry
from mpsolve.utils.validation import check_integer, check_positive_number, check_time_limit


def test_registry_loads_lazy_entries_on_first_use() -> None:
    registry = Registry("thing", SolverError, lazy={"dec": "decimal:Decimal", "gone": "no_such_module_xyz:X"})
    assert list(registry) == ["dec"]  # an entry whose module is missing is not offered
    assert "gone" not in registry
    assert registry["dec"].__name__ == "Decimal" and registry.by_attribute("Decimal") is registry["dec"]
    with pytest.raises(SolverError, match="unknown thing 'gone'; known things: dec"):
        registry["gone"]
    registry.add("int", int)
    registry.remove("dec")
    assert registry.names() == ["int"]


def test_registry_aliases_and_sorted_names() -> None:
    registry = Registry("cost", aliases={"b_alias": "b"}, sort=True)
    registry.add("b", float)
    registry.add("a", int)
    assert registry["b_alias"] is float and "b_alias" in registry
    with pytest.raises(MpsolveError, match="known costs: a, b"):
        registry["c"]


def test_registry_refuses_a_taken_name_unless_replace() -> None:
    registry = Registry("solver", SolverError, lazy={"dec": "decimal:Decimal"}, aliases={"d": "dec"})
    import decimal

    registry.add("dec", decimal.Decimal)  # the lazy entry's own object: the same registration
    registry.add("int", int)
    registry.add("int", int)
    with pytest.raises(SolverError, match="a solver named 'dec' is already registered; .* replace=True"):
        registry.add("dec", float)
    with pytest.raises(SolverError, match="a solver named 'int' is already registered"):
        registry.add("int", float)
    with pytest.raises(SolverError, match="'d' is another name of the solver 'dec'"):
        registry.add("d", float)
    assert registry["dec"] is decimal.Decimal and registry["int"] is int
    registry.add("int", float, replace=True)
    assert registry["int"] is float
    with pytest.raises(SolverError, match="replace must be True or False, got 'no'"):  # before: it stood in
        registry.add("int", complex, replace="no")
    assert registry["int"] is float


def test_registry_remove_undoes_the_latest_registration_and_keeps_built_ins_importable() -> None:
    registry = Registry("thing", SolverError, lazy={"dec": "decimal:Decimal"})
    import decimal

    registry.add("dec", float, replace=True)
    registry.add("dec", int, replace=True)
    assert registry["dec"] is int and registry.by_attribute("Decimal") is decimal.Decimal
    registry.remove("dec")
    assert registry["dec"] is float
    registry.remove("dec")
    assert registry["dec"] is decimal.Decimal
    registry.remove("dec")
    registry.remove("dec")  # nothing left to remove: no error (a test's teardown)
    assert "dec" not in registry and registry.by_attribute("Decimal") is decimal.Decimal
    with pytest.raises(SolverError, match=r"^unknown thing 'dec' \(a built-in one removed from the registry: register "
                                          r"Decimal again to use it\); known things: $"):
        registry["dec"]
    registry.add("dec", decimal.Decimal)
    assert registry["dec"] is decimal.Decimal


def test_validators_accept_what_they_name_and_say_what_was_wrong() -> None:
    assert check_integer(np.int64(3), "n") == 3 and check_integer(None, "n", optional=True) is None
    assert check_integer(0, "n", minimum=0) == 0
    for bad in (0, True, 1.5, "2"):
        with pytest.raises(MpsolveError, match="n must be a positive integer, got"):
            check_integer(bad, "n")
    with pytest.raises(SolverError, match="w must be a positive integer or None"):
        check_integer(-1, "w", error=SolverError, optional=True)
    assert check_positive_number(2, "x") == 2.0
    for bad in (0, -1.0, float("inf"), float("nan"), False, 10**400):
        with pytest.raises(MpsolveError, match="x must be a positive number"):
            check_positive_number(bad, "x")


def test_a_huge_integer_is_echoed_short() -> None:
    """Before: time_limit=10**400 printed all 401 digits in the error (10**5000: Python refused to write it out,
    a ValueError instead of the error)."""
    for value, said in ((10**400, "1e+400"), (-(10**5000) - 1, "-1e+5000"), (10**400 - 1, "9.999e+399")):
        with pytest.raises(MpsolveError) as caught:
            check_time_limit(value)
        assert str(caught.value) == f"time_limit must be a positive number of seconds or None, got {said}"
    with pytest.raises(MpsolveError, match=r"x must be a positive number, got 1\.234e\+401$"):
        check_positive_number(12345678 * 10**394, "x")


def test_quantities_round_trip() -> None:
    assert parse_quantity("160G") == 160e9 and parse_quantity(5) == 5.0
    assert format_quantity(160e9) == "160G" and parse_quantity(format_quantity(64e6)) == 64e6
    # what rounds to a whole unit takes that unit (before: 999.95e6 was "1000M")
    assert [format_quantity(v) for v in (999.95e6, 999.94e6, 999.96, 999.5)] == ["1G", "999.9M", "1K", "999.5"]
    assert exact_quantity(160e9) == "160G" and exact_quantity(1e9 / 3) == 1e9 / 3
    with pytest.raises(MpsolveError, match="bad unit"):
        parse_quantity("3X")
    assert parse_quantity(np.int64(5)) == 5.0
    with pytest.raises(MpsolveError, match="401 digits is too large"):
        parse_quantity(10**400)
    with pytest.raises(MpsolveError, match="not a quantity: None"):
        parse_quantity(None)


def test_atomic_write_replaces_the_whole_file(tmp_path) -> None:
    path = tmp_path / "deep" / "file.txt"
    atomic_write(path, "first")
    atomic_write(path, b"second")
    assert path.read_text() == "second" and [p.name for p in path.parent.iterdir()] == ["file.txt"]
    assert sys.modules["mpsolve.utils.files"].tomllib.loads("a = 1") == {"a": 1}


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="a device whose writes fail (Linux)")
def test_a_failed_write_names_its_file() -> None:
    """Before: ``mpsolve sweep --out /dev/full`` ran every run, then said "No space left on device", no file."""
    with pytest.raises(OSError, match="No space left on device") as info:
        atomic_write("/dev/full", "rows")
    assert info.value.filename == "/dev/full"


def test_atomic_write_honours_the_umask_and_keeps_a_replaced_files_mode(tmp_path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "new.json", "{}")  # mkstemp made it 0o600 whatever the umask
        assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o644
        os.chmod(tmp_path / "new.json", 0o640)
        atomic_write(tmp_path / "new.json", "[]")
        assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o640
    finally:
        os.umask(old)


def test_atomic_write_writes_through_a_symbolic_link(tmp_path) -> None:
    (tmp_path / "results").mkdir()
    target = tmp_path / "results" / "run.json"
    target.write_text("old")
    link = tmp_path / "latest.json"
    link.symlink_to(target)
    atomic_write(link, "new")  # before: the link was replaced by a regular file and the target kept "old"
    assert link.is_symlink() and target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", "results"]
    dangling = tmp_path / "next.json"
    dangling.symlink_to(tmp_path / "results" / "new" / "run.json")
    atomic_write(check_writable(dangling), "made")  # its target's folder is made, as for a plain path
    assert dangling.is_symlink() and dangling.read_text() == "made"


def test_a_fifo_is_written_in_place_not_replaced(tmp_path) -> None:
    import threading

    fifo = tmp_path / "out.csv"
    os.mkfifo(fifo)  # as /dev/stdout: before, the rename put a regular file there (or failed, naming a .tmp)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    atomic_write(check_writable(fifo), "a,b\n")
    reader.join(timeout=30)
    assert got == [b"a,b\n"] and stat.S_ISFIFO(fifo.stat().st_mode)


def test_an_output_path_ending_in_a_slash_is_refused(tmp_path) -> None:
    with pytest.raises(MpsolveError, match=r"names a folder \(it ends in '/'\); give a file path$"):
        check_writable(f"{tmp_path}/new/")  # before: a file named 'new' was written
    assert list(tmp_path.iterdir()) == []


def test_json_with_a_repeated_key_is_refused() -> None:
    from mpsolve.utils.files import parse_data

    with pytest.raises(MpsolveError, match=r"^arch\.json: key 'blocks' appears twice in one object$"):
        parse_data('{"blocks": [1], "x": {"a": 1}, "blocks": []}', "json", MpsolveError, "arch.json")
    assert parse_data('{"a": {"a": 1}, "b": [{"a": 2}]}', "json", MpsolveError, "x") == {"a": {"a": 1}, "b": [{"a": 2}]}


def test_check_suffix_names_the_file_and_the_suffix_it_needs(tmp_path) -> None:
    assert check_suffix(tmp_path / "m.ONNX", ".onnx", "out") == tmp_path / "m.ONNX"
    for bad in (tmp_path / "m.json", "model", None):
        with pytest.raises(MpsolveError, match=r"^out .* must end in \.onnx; e\.g\. model\.onnx$"):
            check_suffix(bad, ".onnx", "out")
    with pytest.raises(SolverError):
        check_suffix("m.json", ".onnx", "out", SolverError)


def test_available_memory_honours_a_containers_cgroup_limit(tmp_path, monkeypatch) -> None:
    from mpsolve.utils import memory

    (tmp_path / "proc").write_text("0::/user/app\n")
    (tmp_path / "user" / "app").mkdir(parents=True)
    (tmp_path / "user" / "app" / "memory.max").write_text("max\n")
    for name, text in (("memory.max", f"{64 << 20}\n"), ("memory.current", f"{48 << 20}\n"),
                       ("memory.stat", f"anon {32 << 20}\ninactive_file {16 << 20}\n")):
        (tmp_path / "user" / name).write_text(text)
    monkeypatch.setattr(memory, "PROC_CGROUP", tmp_path / "proc")
    monkeypatch.setattr(memory, "CGROUP_ROOT", tmp_path)
    # 64 MiB limit, 48 MiB charged of which 16 MiB reclaimable page cache: 32 MiB left
    assert memory.available_memory() == 32 << 20
    with pytest.raises(MpsolveError, match=r"^a table needs 0\.1 GiB but only 0\.0 GiB of memory is available; less$"):
        memory.check_memory(100 << 20, "a table", "less", MpsolveError)


def test_a_failed_allocation_is_told_from_other_errors() -> None:
    """Real failures: torch's CPU allocator and numpy asked for an exbibyte; torch's GPU error by its class."""
    torch = pytest.importorskip("torch")
    from mpsolve.utils.memory import allocation_failed

    errors = {}
    for name, allocate in (("torch", lambda: torch.empty(2**60, dtype=torch.uint8)),
                           ("numpy", lambda: np.empty(2**60, dtype=np.uint8)), ("other", lambda: torch.ones(2) @ 1)):
        with pytest.raises(Exception) as caught:
            allocate()
        errors[name] = caught.value
    assert allocation_failed(errors["torch"]) == "torch could not allocate 1073741824.0 GiB"
    assert isinstance(errors["numpy"], MemoryError) and allocation_failed(errors["numpy"]) == str(errors["numpy"])
    assert allocation_failed(errors["other"]) is None
    gpu = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB.\nGPU 0 has ...")
    assert allocation_failed(gpu) == "CUDA out of memory. Tried to allocate 20.00 MiB."
    assert allocation_failed(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 3145728 "
                                          "bytes")) == "torch could not allocate 3.0 MiB"


def test_a_file_that_cannot_be_read_is_named_with_the_reason(tmp_path) -> None:
    (tmp_path / "loop.toml").symlink_to(tmp_path / "loop.toml")
    (tmp_path / "dangling.toml").symlink_to(tmp_path / "gone.toml")
    for name, reason in (("loop.toml", "cannot be opened: Too many levels of symbolic links"),
                         ("dangling.toml", "is a symbolic link to a missing file"),
                         ("gone.toml", "does not exist"), (".", "is not a regular file")):
        with pytest.raises(MpsolveError, match=rf"^problem file '.*{name}' {reason}$"):
            read_text_bounded(tmp_path / name, "problem file")


_ENDED_HELPER = """
import multiprocessing
import time

from mpsolve.utils.signals import end_with_parent


def helper(ready):
    end_with_parent()
    from tqdm import tqdm

    tqdm(total=1, disable=True)  # as torch.fx's interpreter makes one in an export
    ready.set()
    time.sleep(60)


if __name__ == "__main__":
    context = multiprocessing.get_context("spawn")
    ready = context.Event()  # (also starts the resource tracker here)
    process = context.Process(target=helper, args=(ready,))
    process.start()
    assert ready.wait(60)
    process.terminate()
    process.join()
"""


_POOL = """
import concurrent.futures
import multiprocessing
import os
import sys

from mpsolve.utils.signals import close_pool, pool_worker


class TornDown:
    def __del__(self):
        os.write(1, b" torn down")


def job():
    from tqdm import tqdm

    tqdm(total=1, disable=True)
    sys.modules["torn_down"] = TornDown()  # collected in the interpreter's teardown, if it runs
    sys.stdout.write("said in the worker")  # kept in the buffer of a pipe
    return 1


if __name__ == "__main__":
    context = multiprocessing.get_context("spawn")
    pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=context, initializer=pool_worker)
    assert pool.submit(job).result() == 1
    worker, = pool._processes.values()
    close_pool(pool)
    print(" and ended", worker.exitcode, pool._executor_manager_thread)
"""


def test_a_pool_worker_ends_without_teardown_its_output_flushed(tmp_path: Path) -> None:
    """A pool's worker (``initializer=pool_worker``) skips the interpreter's teardown, which ``close_pool`` waited
    for (with torch loaded, a large part of a ``design_memory`` call): what it wrote still comes out, no semaphore is
    left, and the pool's thread has ended once ``close_pool`` returns."""
    import os
    import subprocess

    script = tmp_path / "pool.py"
    script.write_text(_POOL, encoding="utf-8")
    env = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "said in the worker and ended 0 None\n"
    assert "leaked" not in done.stderr


def test_a_helper_process_ended_leaves_no_semaphore_behind(tmp_path: Path) -> None:
    """A helper process (``end_with_parent``) gives tqdm a lock for its threads: tqdm's own, a multiprocessing lock,
    was a semaphore that the resource tracker said was leaked ("There appear to be 2 leaked semaphore objects") once
    a second Ctrl-C had ended ``profile-latency --jobs 2``'s export processes."""
    import subprocess

    script = tmp_path / "ended.py"
    script.write_text(_ENDED_HELPER, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "leaked" not in done.stderr
