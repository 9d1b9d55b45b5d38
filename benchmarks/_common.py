"""Shared pieces of the benchmarks: corpora, training jobs (through the library's loop), cached results.

Every training run is identified by a hash of (architecture, training config, seed, corpus
fingerprint) and stored as one small JSON file, so a killed benchmark resumes where it
stopped. Training is deterministic per seed: the initialisation comes from the seed, the data
order is the same for every run (``data_seed`` of the config), and each worker uses one thread.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import hashlib
import json
import math
import os
import re
import shlex
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from functools import lru_cache, wraps
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from mpsolve import Architecture, MpsolveError
from mpsolve.costs import FlopsCost, ParamsCost
from mpsolve.merino_model._train import SPLIT_BLOCK, Corpus, TrainConfig
from mpsolve.merino_model._train import load_corpus as load_text_corpus
from mpsolve.utils.files import check_not_input, check_writable, parse_data, read_text_bounded
from mpsolve.utils.quantities import parse_quantity
from mpsolve.utils.signals import children_ignore_ctrl_c, close_pool, pool_worker, stop_pool
from mpsolve.utils.validation import first_repeat

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
#: where ``--quick`` smoke tests write without ``--out`` (ignored by git): never over the committed results
QUICK = RESULTS / "quick"
DEFAULT_CORPUS = "python-docs"
#: the entropy options the spec proposes before any measurement (its [C] marks)
SPEC_PROVISIONAL_ENTROPY: dict[str, Any] = {"variant": "log", "eps": 1e-6, "init_std": 1.0, "alpha": (1.0, 1.0),
                                            "beta": 1 / 16, "penalty": "linear"}
#: a larger English corpus from a registry package: the reStructuredText sources of the Linux
#: kernel's documentation (Debian's ``linux-doc-6.1``, about 21 MB of English without the
#: translations), so that 16 M-byte budgets see each byte at most once. Kept in the repository
#: (xz, 4.8 MB): Debian replaces the package at every point release and drops the old version
#: from its mirror, which changed the corpus under the running studies once already.
LINUX_DOC = "linux-doc"
LINUX_DOC_FILE = ROOT / "benchmarks" / "data" / "linux-doc-6.1.170-3.txt.xz"
LINUX_DOC_FINGERPRINT = "a3bd529ef4e94c6b"
LINUX_DOC_GLOB = "/usr/share/doc/linux-doc-*/html/_sources"


# -- corpus ------------------------------------------------------------------------------
def _python_docs() -> list[str]:
    """English prose that ships with every CPython: the stdlib's docstrings and pydoc's topics.

    About 2.1 MB on CPython 3.11: the reference-manual topics behind ``help()`` and the
    docstrings of the pure-Python standard library (tests and IDLE excluded), in file order.
    """
    import pydoc_data.topics

    docs = [pydoc_data.topics.topics[k] for k in sorted(pydoc_data.topics.topics)]
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.rglob("*.py")):
        rel = path.relative_to(stdlib).parts
        if any(p in {"test", "tests", "idlelib", "site-packages", "dist-packages"} for p in rel):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) >= 40:
                    docs.append(doc)
    return docs


def _cached_python_docs() -> list[str]:
    """:func:`_python_docs`, kept in mpsolve's cache dir per Python version (parsing takes seconds)."""
    from mpsolve.objectives import default_cache_dir

    path = default_cache_dir() / "benchmarks" / f"python-docs-{sys.version.split()[0]}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        docs = _python_docs()
    try:
        write_json(path, docs)
    except OSError:
        pass  # an unwritable cache only costs the parsing again
    return docs


def _linux_doc() -> list[str]:
    """The kept kernel documentation (``LINUX_DOC_FILE``), one document."""
    import lzma

    return [lzma.decompress(LINUX_DOC_FILE.read_bytes()).decode("utf-8")]


def vendor_linux_doc(path: Path = LINUX_DOC_FILE) -> Path:
    """Write the installed ``linux-doc-6.1`` package's text to ``path`` (how ``LINUX_DOC_FILE`` was made)."""
    import lzma

    text = "\n\n".join(d.strip() for d in _linux_doc_package() if d.strip())
    path.write_bytes(lzma.compress(text.encode("utf-8"), preset=9 | lzma.PRESET_EXTREME))
    return path


def _linux_doc_package() -> list[str]:
    """The English ``.rst`` sources of the installed kernel documentation (Debian gzips the larger ones)."""
    import glob

    roots = sorted(glob.glob(LINUX_DOC_GLOB))
    if not roots:
        raise SystemExit(f"corpus {LINUX_DOC!r} needs Debian's kernel documentation: apt-get install linux-doc-6.1")
    root = Path(roots[-1])
    docs = []
    for path in sorted(root.rglob("*.rst.txt*")):
        if path.relative_to(root).parts[0] == "translations":
            continue
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        docs.append(raw.decode("utf-8", errors="replace"))
    return docs


@lru_cache(maxsize=4)
def load_corpus(spec: str | None = None) -> Corpus:
    """The corpus named by ``spec``: ``python-docs`` (default), ``linux-doc``, or a UTF-8 text file or folder.

    The text is concatenated (documents separated by blank lines), cut into 64 KiB blocks, and
    every 20th block goes to validation (the middle block of a corpus under 11 blocks), so the
    held-out text is spread over the whole corpus and never overlaps the training text. A file
    or folder is read by the library's loader, as ``mpsolve train`` reads it: a file that is not
    UTF-8 is refused (:class:`MpsolveError`), never altered.
    """
    spec = spec or DEFAULT_CORPUS
    if spec in (DEFAULT_CORPUS, LINUX_DOC):
        docs = _cached_python_docs() if spec == DEFAULT_CORPUS else _linux_doc()
        corpus = Corpus.from_documents(docs, spec, block_size=SPLIT_BLOCK)
    elif Path(spec).expanduser().exists():
        try:
            corpus = load_text_corpus(spec, block_size=SPLIT_BLOCK)
        except MpsolveError:  # one block of SPLIT_BLOCK or less: too small, said below with what the benchmarks need
            corpus = load_text_corpus(spec)  # any other fault (not UTF-8, no text files) is raised again here
    else:
        raise SystemExit(f"--corpus {spec!r} is neither {DEFAULT_CORPUS!r} nor an existing file or folder")
    size = len(corpus.train) + len(corpus.val)
    if size < 4 * SPLIT_BLOCK:
        raise SystemExit(f"corpus {spec!r} has {size} bytes; the benchmarks need at least {4 * SPLIT_BLOCK} "
                         f"(give a larger file or folder, or {DEFAULT_CORPUS!r})")
    if spec == LINUX_DOC and corpus.fingerprint != LINUX_DOC_FINGERPRINT:
        raise SystemExit(f"{LINUX_DOC_FILE} has fingerprint {corpus.fingerprint}, not {LINUX_DOC_FINGERPRINT}: "
                         "restore it with git checkout")
    return corpus


# -- training ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    """One training run: an architecture, a config, a seed, a corpus, where to cache it."""

    arch: dict[str, Any]
    config: dict[str, Any]
    seed: int
    corpus: str
    cache_dir: str
    tags: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return run_key(self.arch, self.config, self.seed, load_corpus(self.corpus).fingerprint)

    @property
    def path(self) -> Path:
        return Path(self.cache_dir) / f"{self.key}.json"


#: version of the builder's initialisation; part of every cache key, so that runs (and
#: init-time scores) made under another initialisation are never reused. 2: width projections
#: get N(0, 1/fan_in) (runs under 1 are kept in results/pilots/projection_init_v1/).
BUILDER_INIT = 2


def run_key(arch: dict[str, Any], config: dict[str, Any], seed: int, fingerprint: str) -> str:
    blob = json.dumps(
        {"arch": arch, "config": config, "seed": seed, "corpus": fingerprint, "init": BUILDER_INIT}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def git_commit(folder: Path = ROOT) -> str:
    """The commit checked out in ``folder`` (the repository's by default), or ``unknown``."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def arch_costs(arch: Architecture, seq_len: int) -> dict[str, float]:
    return {"params": ParamsCost().of(arch), "flops": FlopsCost(seq_len=seq_len).of(arch)}


def train(job: Job, progress: Callable[[int, int], None] | None = None, device: str = "cpu") -> dict[str, Any]:
    """Train ``job``'s architecture from scratch with the library loop; return its result record (not cached)."""
    import torch

    from mpsolve.merino_model import train as train_model

    torch.set_num_threads(1)
    cfg = TrainConfig.from_dict(job.config)
    corpus = load_corpus(job.corpus)
    arch = Architecture.from_dict(job.arch)
    run = train_model(arch, corpus, cfg, seed=job.seed, progress=progress or False, device=device)
    final = run.val_loss
    return {
        "key": job.key, "arch": job.arch, "arch_str": str(arch), **arch_costs(arch, cfg.seq_len),
        "depth": arch.depth, "seed": job.seed, "config": job.config, "corpus": corpus.describe(),
        "tokens": cfg.steps * cfg.seq_len * cfg.batch_size, "val_loss": final, "val_ppl": math.exp(final),
        "checkpoints": run.evaluations, "train_time_s": run.elapsed_s, "tokens_per_s": cfg.steps * cfg.seq_len
        * cfg.batch_size / run.elapsed_s, "git_commit": git_commit(), "torch": torch.__version__, "threads": 1,
        "python": sys.version.split()[0], "tags": job.tags, "device": device_name(device),
    }


def device_name(device: str) -> str:
    """``cpu``, or the GPU's name (what a result records about where it was trained)."""
    import torch

    return torch.cuda.get_device_name(device) if device.startswith("cuda") else device


def check_device(device: str) -> str:
    """``device`` (``cpu``, ``cuda`` or ``cuda:N``) if torch can train there; else argparse's one-line error."""
    import torch

    if device != "cpu" and not re.fullmatch(r"cuda(:\d+)?", device):
        raise argparse.ArgumentTypeError(f"{device!r} is not cpu, cuda or cuda:N")
    if device != "cpu" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"torch {torch.__version__} sees no CUDA device here; use --device cpu")
    if device.startswith("cuda:") and int(device[5:]) >= torch.cuda.device_count():
        raise argparse.ArgumentTypeError(f"there are {torch.cuda.device_count()} CUDA devices here")
    return device


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` atomically (a killed process never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=float) + "\n")
    os.replace(tmp, path)


def read_runs(what: str, *paths: Path) -> list[dict[str, Any]]:
    """Saved benchmark runs (JSON), each read as data; a one-line error naming ``what`` for one that is missing or
    not JSON."""
    return [parse_data(read_text_bounded(path, what, MpsolveError), "json", MpsolveError, f"cannot read {str(path)!r}")
            for path in paths]


def write_analysis(stem: str, command: str, result: dict[str, Any], markdown: str) -> None:
    """An analysis of saved runs into ``stem``.json (with its command) and ``stem``.md."""
    Path(stem + ".json").write_text(json.dumps({"command": command, **result}, indent=1) + "\n")
    Path(stem + ".md").write_text(markdown)
    print(f"wrote {stem}.json and {stem}.md")


def write_report(results: dict[str, Any], out: Path | None, md: Path | None,
                 render: Callable[[dict[str, Any]], str]) -> None:
    """``results`` as JSON into ``out`` and rendered as Markdown into ``md`` (each where given; folders created)."""
    for path, text in ((out, lambda: json.dumps(results, indent=2) + "\n"), (md, lambda: render(results))):
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text())
            print(f"wrote {path}")


def median_summary(values: Iterable[float], seed: int) -> dict[str, Any]:
    """The median of ``values`` with its 95 % percentile bootstrap interval (10 000 resamples; one value: itself),
    and their range."""
    from scipy import stats

    x = np.asarray(list(values), dtype=float)
    lo = hi = float(x[0])
    if len(x) > 1:
        ci = stats.bootstrap((x,), np.median, confidence_level=0.95, n_resamples=10_000, method="percentile",
                             random_state=seed).confidence_interval
        lo, hi = float(ci.low), float(ci.high)
    return {"median": float(np.median(x)), "ci95": [lo, hi], "min": float(x.min()), "max": float(x.max())}


def total_line(results: dict[str, Any], what: str) -> str:
    """A report's last line: its minutes, and whether it was interrupted."""
    return f"Total {results['elapsed_s'] / 60:.1f} min" + ("" if results["complete"] else
                                                          f" (interrupted: the {what} that finished)")


def measure_rows(results: dict[str, Any], stem: str, measure: Callable[[Callable[[], None]], None],
                 summarize: Callable[[list[dict[str, Any]]], Any], render: Callable[[dict[str, Any]], str],
                 what: str) -> int:
    """Run ``measure(save)``, which appends to ``results["rows"]`` and calls ``save()`` to write ``STEM.json`` so
    far; then write ``STEM.json`` and ``STEM.md`` and print the report. Ctrl-C keeps the rows measured (exit 130)."""
    t0 = time.time()

    def save() -> None:
        results["summary"], results["elapsed_s"] = summarize(results["rows"]), time.time() - t0
        write_json(Path(stem + ".json"), results)  # nothing measured is lost

    try:
        measure(save)
        results["complete"] = True
    except KeyboardInterrupt:
        if not results["rows"]:
            print(f"interrupted (Ctrl-C) before any {what} were measured: no report written", file=sys.stderr)
            return 130
        print(f"interrupted (Ctrl-C): the {what} measured so far are written", file=sys.stderr)
    results["summary"], results["elapsed_s"] = summarize(results["rows"]), time.time() - t0
    write_report(results, Path(stem + ".json"), Path(stem + ".md"), render)
    print(render(results))
    return 0 if results["complete"] else 130


#: what every cached run record holds (a file without them is damaged: its run is trained again)
RUN_FIELDS = ("key", "arch", "arch_str", "config", "corpus", "seed", "tokens", "val_loss", "val_ppl")


def read_run(path: Path) -> dict[str, Any] | None:
    """The run record in ``path``, or ``None`` where it is missing or damaged (not JSON, not a run record)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and all(k in record for k in RUN_FIELDS) else None


def cached(job: Job) -> dict[str, Any] | None:
    return read_run(job.path)


def train_and_cache(job: Job, device: str = "cpu") -> dict[str, Any]:
    """Worker entry point: the cached result, or train (on ``device``) and cache it."""
    result = cached(job)
    if result is None:
        result = train(job, device=device)
        write_json(job.path, result)
    return result


def run_jobs(jobs: Iterable[Job], workers: int = 2, desc: str = "training", device: str = "cpu"
             ) -> Iterator[dict[str, Any]]:
    """Results of ``jobs`` (cached ones first), training the rest in ``workers`` spawned processes on ``device``.
    A Ctrl-C stops this process only, which ends the runs under way: they are not cached, the finished ones are."""
    from tqdm import tqdm

    jobs = list(jobs)
    todo = []
    for job in jobs:
        result = cached(job)
        if result is not None:
            yield result
        else:
            todo.append(job)
    if not todo:
        return
    with tqdm(total=len(todo), desc=desc, unit="model", file=sys.stderr) as bar:  # closed before a Ctrl-C's line
        if workers <= 1:
            for job in todo:
                yield train_and_cache(job, device)
                bar.update()
            return
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=pool_worker)
        try:
            with children_ignore_ctrl_c():  # a Ctrl-C stops this process, which stops the runs; submit starts them
                pending = {pool.submit(train_and_cache, job, device) for job in todo}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        raise MpsolveError(f"a training process died (killed, or out of memory) after {bar.n} of "
                                           f"{len(todo)} runs: the finished ones are cached; run the same command to "
                                           "go on (with fewer --workers if memory ran out)") from None
                    bar.update()
                    bar.set_postfix_str(f"{result['arch_str'][:40]} val {result['val_loss']:.3f}")
                    yield result
        except BaseException:  # Ctrl-C, an error, a caller that stops early: the unfinished runs end, uncached
            stop_pool(pool)
            raise
        close_pool(pool)


def run_planned(jobs: list[Job], no_train: bool, max_runs: int | None, workers: int,
                desc: str, device: str = "cpu") -> dict[tuple[str, int], dict[str, Any]]:
    """Results of the cached ``jobs`` and of up to ``max_runs`` new ones (none if ``no_train``), trained on ``device``.

    Keyed by (the seed-0 run key of the architecture and config, seed), so a seed's twin is
    found from the seed-0 key. GPU runs are cached in ``<cache>-cuda``: their arithmetic is not the
    CPU's, so one study never mixes runs of both.
    """
    if device != "cpu":
        jobs = [replace(j, cache_dir=f"{j.cache_dir}-cuda") for j in jobs]
    # a run planned twice (a second seed drawn for a member twice) is trained once and counted once
    unique: dict[Path, Job] = {}
    for j in jobs:
        unique.setdefault(j.path, j)
    jobs = list(unique.values())
    if no_train:
        jobs = [j for j in jobs if cached(j) is not None]
    elif max_runs is not None:
        fresh = [j for j in jobs if cached(j) is None][:max_runs]
        jobs = [j for j in jobs if cached(j) is not None] + fresh
    return {(run_key(r["arch"], r["config"], 0, r["corpus"]["fingerprint"]), r["seed"]): r
            for r in run_jobs(jobs, workers=workers, desc=desc, device=device)}


def parse_count(text: str) -> int:
    """``4M`` -> 4_000_000, ``300k`` -> 300_000, ``1.5G`` -> 1_500_000_000 (the library's units K, M, G, T)."""
    return int(parse_quantity(str(text)))


# -- command lines -----------------------------------------------------------------------
def at_least(minimum: int) -> Callable[[str], int]:
    """argparse type: an integer ``>= minimum`` (else argparse's one-line usage error)."""
    def integer(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer >= {minimum}")
        return value

    return integer


def positive(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number > 0")
    return value


def positives(text: str) -> list[str]:
    """argparse type: comma-separated :func:`positive` numbers (``50,130``), as written; ``''`` for none."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    for t in items:
        positive(t)
    return items


def quantity(text: str) -> str:
    """argparse type: a quantity >= 1 with an optional unit K, M, G or T (``160G``), as written."""
    try:
        value = parse_quantity(text.strip())
    except MpsolveError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not (math.isfinite(value) and value >= 1):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite quantity >= 1: e.g. 60G, 4M or 6144")
    return text.strip()


def quantities(none_ok: bool = False) -> Callable[[str], list[str]]:
    """argparse type: comma-separated :func:`quantity` values (``60G,160G``); ``''`` (none) only if ``none_ok``."""
    def parse(text: str) -> list[str]:
        items = [quantity(t) for t in text.split(",") if t.strip()]
        if not items and not none_ok:
            raise argparse.ArgumentTypeError("give at least one quantity, e.g. 60G,160G")
        return items

    return parse


def seeds(text: str) -> list[int]:
    """argparse type: comma-separated integer seeds >= 0 (``0,1,2``)."""
    parse = at_least(0)
    items = [parse(t.strip()) for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("give at least one seed, e.g. 0,1,2")
    return items


def names(what: str, example: str) -> Callable[[str], list[str]]:
    """argparse type: comma-separated names (``ea,exact``), at least one, each once (a name given twice
    would repeat its runs and count them twice)."""
    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"give at least one {what}, e.g. {example}")
        twice = first_repeat(items)
        if twice is not None:
            raise argparse.ArgumentTypeError(f"{twice!r} is given twice: give each {what} once")
        return items

    return parse


def output_stem(text: str) -> str:
    """argparse type: the stem of a script's output files (``results/solvers``: ``.json``, ``.md`` are added),
    refused when it names a folder (its files would land beside the folder, not in it)."""
    if not text:  # Path("") is the current folder
        raise argparse.ArgumentTypeError("an empty name is no file stem: give one, e.g. results/run")
    if text.endswith(("/", os.sep)) or Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder, not a file stem: give a stem in it, e.g. "
                                         f"{os.path.join(text, 'run')!r}")
    return text


def add_out_arg(p: argparse.ArgumentParser, runs: str, default: Path = RESULTS) -> None:
    """``--out``, the output folder of a training benchmark (see :func:`output_folder`)."""
    p.add_argument("--out", default=None, help=f"output folder (default {default.relative_to(ROOT)}, with --quick "
                                               f"{quick_folder(default).relative_to(ROOT)}; runs cached in OUT/{runs})")


def quick_folder(default: Path) -> Path:
    return QUICK / default.relative_to(RESULTS)


def output_folder(out: str | None, quick: bool, default: Path = RESULTS) -> Path:
    """``--out`` if given, else ``default``; a ``--quick`` smoke test writes its counterpart under ``QUICK``."""
    if out:
        return Path(out)
    return quick_folder(default) if quick else default


def check_outputs(outputs: dict[str, str | Path | None], inputs: dict[str, str | Path | None] | None = None) -> None:
    """Refuse, before any work, outputs (by their description) that cannot be written, that name one file
    twice, or that would overwrite an input. Missing folders are fine: the writers create them."""
    given = {what: Path(path) for what, path in outputs.items() if path is not None}
    seen: dict[Path, str] = {}
    for what, path in given.items():
        check_writable(path, what)
        check_not_input(path, what, inputs or {})
        first = seen.setdefault(path.resolve(), what)
        if first != what:
            raise MpsolveError(f"{first} and {what} are the same file {str(path)!r}: give each its own file name")


def one_line_errors(main: Callable[..., int]) -> Callable[..., int]:
    """A script's ``main`` that turns the library's input errors and missing files into one-line exits."""
    @wraps(main)
    def run(*args: Any, **kwargs: Any) -> int:
        try:
            return main(*args, **kwargs)
        except MpsolveError as exc:
            raise SystemExit(f"error: {exc}") from None
        except FileNotFoundError as exc:
            missing = repr(str(exc.filename)) if exc.filename else "a file"
            raise SystemExit(f"error: {missing} does not exist: give an existing file") from None
        except KeyboardInterrupt:  # a script that keeps its finished runs on Ctrl-C writes them and returns 130
            print("interrupted (Ctrl-C): no report written (training runs already cached are kept: run the same "
                  "command to go on)", file=sys.stderr)
            raise SystemExit(130) from None

    return run


def finished(result: Any) -> Any:
    """A solver's ``Result``; a KeyboardInterrupt when Ctrl-C cut it short (a solver answers Ctrl-C with an
    ``interrupted`` result, its best so far), so that a benchmark stops instead of recording it as a measurement."""
    if result.status == "interrupted":
        raise KeyboardInterrupt
    return result


def sample_parser(doc: str | None, designs: int, designs_help: str | None = None,
                  least: int = 1) -> argparse.ArgumentParser:
    """A measuring script's parser with the flags of its random sample of designs: ``--space``, ``--designs``
    (at least ``least``) and ``--seed``."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", default="default", help="search space (preset or TOML file) the designs come from")
    p.add_argument("--designs", type=at_least(least), default=designs,
                   help=designs_help or f"random designs (default {designs})")
    p.add_argument("--seed", type=at_least(0), default=0, help="sampling seed (and the bootstrap's)")
    return p


def add_recipe_args(p: argparse.ArgumentParser, tokens: str | None = "4M") -> None:
    """The training-recipe flags (``--tokens`` only when the script trains one budget)."""
    if tokens is not None:
        p.add_argument("--tokens", default=tokens, type=quantity,
                       help="training tokens (bytes) per model, same for all")
    p.add_argument("--seq-len", type=at_least(2), default=256, help="context of the training windows (>= 2)")
    p.add_argument("--batch-size", type=at_least(1), default=8)
    p.add_argument("--lr", type=positive, default=2e-3)


def add_run_args(p: argparse.ArgumentParser, workers: int, quick: str) -> None:
    """The flags that say how many runs to train, in how many processes (``quick``: the smoke test's help)."""
    p.add_argument("--workers", type=at_least(1), default=workers, help="training processes (one thread each)")
    p.add_argument("--device", default="cpu", type=check_device,
                   help="where to train: cpu (default) or cuda (one GPU shared by the workers; its runs are cached "
                        "apart, in <cache>-cuda)")
    p.add_argument("--no-train", action="store_true", help="only report on the runs already cached")
    p.add_argument("--max-runs", type=at_least(0), default=None,
                   help="train at most this many new runs (0: none), then report")
    p.add_argument("--quick", action="store_true",
                   help=f"smoke test: {quick}; without --out it writes under {QUICK.relative_to(ROOT)}")


def train_config(args: Any) -> TrainConfig:
    """The training config a benchmark's parsed command line asks for (``--quick`` evaluates on less text)."""
    return TrainConfig(
        tokens=parse_count(args.tokens), seq_len=args.seq_len, batch_size=args.batch_size, lr=args.lr,
        **({"eval_tokens": 4096} if args.quick else {}),
    )


def provenance(meta: dict[str, Any]) -> str:
    """Markdown lines naming the command, commit and entropy options of a result."""
    opts = ", ".join(f"{k}={v}" for k, v in meta["entropy_options"].items() if k not in ("draws", "table_seed"))
    return f"Command: `{meta['command']}` (commit {meta['git_commit'][:10]}). Entropy options: {opts}.\n\n"


def command_line(script: str, argv: list[str] | None) -> str:
    """The shell command that reproduces this run (recorded with its results)."""
    return f"python benchmarks/{script} " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
