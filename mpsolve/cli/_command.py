"""The ``mpsolve`` command: one parser made of every subcommand module, and the error handling."""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import select
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import mpsolve
from mpsolve.cli import design, info, model, pareto, sweep
from mpsolve.utils.errors import MpsolveError, MpsolveWarning
from mpsolve.utils.memory import allocation_failures_as
from mpsolve.utils.signals import ctrl_c_held

__all__ = ["build_parser", "main"]

#: subcommand modules, in the order ``mpsolve --help`` lists them
SUBCOMMANDS = (design, info, model, pareto, sweep)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mpsolve", description="mpsolve: design small language models by mathematical programming (MeRino)."
    )
    parser.add_argument("--version", action="version", version=f"mpsolve {mpsolve.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    # each subcommand's result_files: the flags whose file, when given, holds its result; saves_result: what it
    # saves whatever is given (said when --json, on a closed stdout, is refused); imports_runtimes: it imports torch
    # and ONNX Runtime first
    for module in SUBCOMMANDS:
        module.add_subcommands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if sys.stderr is None:  # closed by the shell (`2>&-`): print would fall back to stdout, into its JSON
        sys.stderr = open(os.devnull, "w")  # for the rest of the process
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit:  # --help, --version or a usage error, printed by argparse
        code = _flush_stdout()
        if code is not None:
            return code
        raise
    as_json = getattr(args, "json", False)  # the JSON asked for goes to stdout, whatever file is given
    files, saves = getattr(args, "result_files", ()), getattr(args, "saves_result", None)
    saved = saves or any(getattr(args, flag[2:].replace("-", "_")) is not None for flag in files)
    if sys.stdout is None and (as_json or not saved):
        # closed by the shell (`>&-`): the result printed there would be lost, and the command say 0
        also = " or ".join(f"{flag} FILE" for flag in files)
        also = f", or {'leave out --json and ' if as_json else ''}give {also}" if also else (
            f", or leave out --json ({saves})" if saves else "")
        command = f"{args.command}{' --json' if as_json and also else ''}"
        _say(f"mpsolve: error: stdout is closed, and mpsolve {command} writes its result there: keep stdout "
             f"open (redirect it to a file: > FILE){also}")
        return 2
    try:
        if getattr(args, "imports_runtimes", False):
            with ctrl_c_held():  # a Ctrl-C delivered inside torch's import aborted the process (1 in 40 tries)
                _import_runtimes()
        with warnings.catch_warnings():
            shown: set[str] = set()  # one line per message, however many places rebuild the problem
            warnings.showwarning = functools.partial(_show_warning, shown=shown)
            with allocation_failures_as(MpsolveError, lambda failed: (  # past every check (each refuses what it counts)
                    f"mpsolve {args.command} ran out of memory ({failed}): ask for less (a smaller design, seq_len or "
                    "batch) or free memory")):
                code = int(args.func(args) or 0)
        return _flush_stdout() or code  # a closed pipe fails here, not in the interpreter's own flush at exit
    except MpsolveWarning as exc:  # PYTHONWARNINGS=error makes a warning an error
        _say(f"mpsolve: error: {exc}")
        return 2
    except MpsolveError as exc:
        _say(f"mpsolve: error: {exc}")
        return 2
    except OSError as exc:  # a path the system refuses (name too long, a device, a vanished folder, a pipe)
        quiet = _reader_gone(exc)
        if quiet is not None:
            return quiet
        pipe = isinstance(exc, BrokenPipeError)  # an output other than stdout (a --csv named by a pipe)
        named = f" {exc.filename!r}" if exc.filename else ""
        where = f" writing{named or ' an output'}: give a file" if pipe else f":{named}" if named else ""
        _say(f"mpsolve: error: {exc.strerror or exc}{where}")
        _flush_stdout(report=False)
        return 2
    except KeyboardInterrupt as exc:  # a training run says where its checkpoint is
        _say("mpsolve: interrupted" + (f": {exc}" if str(exc) else ""))
        return 130


def _import_runtimes() -> None:
    """Import torch and ONNX Runtime where they are installed (a command says how to install one it needs): a
    Ctrl-C inside ONNX Runtime's import made it an ImportError ("import numpy failed"), said as not installed."""
    for name in ("torch", "onnxruntime"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _flush_stdout(report: bool = True) -> int | None:
    """Write out stdout now, not in the interpreter's flush at exit, where a failure is a
    traceback-like report: 141 when its reader has gone, 2 (said on stderr unless ``report`` is
    false) when it cannot take the output (a full disk), else ``None``. A stdout that failed is
    pointed at the null device."""
    if sys.stdout is None:  # closed by the shell (`>&-`)
        return None
    try:
        sys.stdout.flush()
        return None
    except OSError as exc:
        quiet = _reader_gone(exc)
        if quiet is not None:
            return quiet
        _drop(sys.stdout)
        if report:
            _say(f"mpsolve: error: {exc.strerror or exc} writing the output")
        return 2


def _reader_gone(exc: OSError) -> int | None:
    """141, with stdout pointed at the null device, when ``exc`` is stdout's reader having left
    (`| head`): the command stops quietly, as other tools do; else ``None``."""
    if isinstance(exc, BrokenPipeError) and _stdout_closed():
        _drop(sys.stdout)
        return 141  # 128 + SIGPIPE, the shell's status of a command a closed pipe stopped
    return None


def _stdout_closed() -> bool:
    """Whether stdout is a pipe or socket whose reader has gone."""
    try:
        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poll.poll(0))
    except (OSError, ValueError, AttributeError):  # no descriptor (captured in tests), or no poll here
        return False


def _drop(stream: Any) -> None:
    """Point ``stream`` (stdout or stderr) at the null device, so that flushing it at exit cannot fail again."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, stream.fileno())
    except (OSError, ValueError, AttributeError):  # a stream without a file descriptor (captured in tests)
        pass


def _say(line: str) -> None:
    """``line`` on stderr; a stderr that cannot take it (`2>/dev/full`) is pointed at the null device, and
    the command keeps its exit status (there is nowhere left to say more)."""
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:
        _drop(sys.stderr)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, file=None,
                  line: str | None = None, *, shown: set[str]) -> None:
    """mpsolve's own warnings as one line, each once; any other as Python prints it."""
    if issubclass(category, MpsolveWarning):
        if str(message) not in shown:
            shown.add(str(message))
            _say(f"mpsolve: warning: {message}")
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))
