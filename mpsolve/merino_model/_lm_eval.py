"""lm-evaluation-harness on a MeRino checkpoint: tokenizers, task files read as data, a sandboxed run.

lm-eval task configs are YAML files whose fields are Jinja templates and which may name Python
functions (``!function``). Task files handed to :func:`load_task_file` are read as data only
(a ``yaml.SafeLoader``, which refuses ``!function`` and every other Python tag, and aliases), keys
that load code or other files are refused, so are metrics that are not lm-eval's own (the ``evaluate`` library
imports a metric named by a path), and a path given as a task name; and :func:`lm_eval_tasks`
renders every template in Jinja's sandbox, so a template cannot reach Python internals, bounded (``_sandbox``) so it
cannot build more than 1 MiB of text nor run without end; a task file's regular expressions search for at most a
second each. Nothing
is downloaded: the Hugging Face hub and ``datasets`` run offline, so a task's data must be local
files (``dataset_path: json`` with ``data_files`` relative to the task file). Needs the ``[eval]``
extra.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import functools
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mpsolve.merino_model._errors import ModelInputError, require
from mpsolve.utils.errors import first_line, shown, shown_name
from mpsolve.utils.files import atomic_write, missing_reason, read_text_bounded

__all__ = ["byte_tokenizer", "check_task_names", "checkpoint_bpe_tokenizer", "checkpoint_tokenizer", "is_task_file",
           "lm_eval_tasks", "load_task_file", "tokenizer_panics", "trained_seq_len"]

#: keys of an lm-eval task config that would load code or further files
_REFUSED_KEYS = ("include", "class", "custom_dataset")
#: ``datasets``' packaged loaders of local files, the only ``dataset_path`` a task file may name
_LOCAL_LOADERS = ("json", "csv", "text", "parquet")
#: suffixes of task files, read by :func:`load_task_file` (a task name with one is a path)
_TASK_SUFFIXES = (".yaml", ".yml", ".json")
#: size limit of one data file of a task
_DATA_FILE_LIMIT = 1 << 30
#: size limit of a checkpoint's ``tokenizer.json``
_TOKENIZER_FILE_LIMIT = 1 << 30
#: lm-eval's default number of generated tokens of a ``generate_until`` task
_MAX_GEN_TOKS = 256
#: the generation_kwargs lm-eval reads as the number of tokens to generate, first one first
_GEN_LENGTH_KEYS = ("max_gen_toks", "max_new_tokens", "max_tokens", "max_completion_tokens")


def _byte_alphabet() -> list[str]:
    """The printable character that stands for each byte in byte-level tokenizers (GPT-2's mapping)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


#: the token padding uses in saved tokenizers (byte 0's, in every byte-level vocabulary); padding is masked
PAD_TOKEN = _byte_alphabet()[0]


def byte_level_bpe() -> Any:
    """The byte vocabulary as a ``tokenizers.Tokenizer``: byte-level BPE without merges (a token's id is its byte)."""
    require("tokenizers", "hf")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.BPE(vocab={c: b for b, c in enumerate(_byte_alphabet())}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    return tok


def byte_tokenizer() -> Any:
    """A ``transformers`` fast tokenizer whose token ids are the UTF-8 bytes (MeRino's byte vocabulary)."""
    return transformers_tokenizer(None)


def save_tokenizer(folder: str | os.PathLike, bpe: Any | None, max_positions: int) -> None:
    """Write ``tokenizer.json`` (``bpe``, a ``tokenizers.Tokenizer``, or the byte vocabulary for ``None``) and
    the ``tokenizer_config.json`` with which ``transformers.AutoTokenizer.from_pretrained(folder)`` loads it:
    padding on the left (where generation needs it) with :data:`PAD_TOKEN`, and ``max_positions`` tokens."""
    (byte_level_bpe() if bpe is None else bpe).save(str(Path(folder) / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "pad_token": PAD_TOKEN, "padding_side": "left",
              "model_max_length": int(max_positions), "clean_up_tokenization_spaces": False}
    atomic_write(Path(folder) / "tokenizer_config.json", json.dumps(config, indent=1) + "\n")


def checkpoint_bpe_tokenizer(folder: str | os.PathLike) -> Any | None:
    """The ``tokenizers.Tokenizer`` saved in a checkpoint folder (``tokenizer.json``); ``None`` for bytes.

    Raises:
        ModelInputError: ``folder`` is not a folder (a mistyped path would otherwise mean bytes), or
            its ``tokenizer.json`` is missing, damaged or not the one ``training.json`` records.
    """
    if not Path(folder).is_dir():
        raise ModelInputError(f"checkpoint folder {str(folder)!r} does not exist or is not a folder; "
                              "pass the folder that mpsolve train or build wrote")
    path = Path(folder) / "tokenizer.json"
    trained_with = _trained_tokenizer(Path(folder))
    if not path.is_file():
        if isinstance(trained_with, dict):
            raise ModelInputError(f"checkpoint {str(folder)!r} was trained with a BPE tokenizer (training.json) but "
                                  f"{str(path)!r} is missing or not a file; restore the run's tokenizer.json")
        return None
    text = read_text_bounded(path, "tokenizer file", ModelInputError, limit=_TOKENIZER_FILE_LIMIT)
    tokenizer = tokenizer_from_json(text, f"tokenizer file {str(path)!r}", "restore it or train the checkpoint "
                                    "again with mpsolve train --bpe")
    from mpsolve.merino_model._train import _tokenizer_id

    bytes_run = trained_with == "bytes"  # train writes the byte vocabulary's tokenizer.json too
    expected = _tokenizer_id(byte_level_bpe()) if bytes_run else trained_with
    if expected is not None and expected != _tokenizer_id(tokenizer):
        raise ModelInputError(f"tokenizer file {str(path)!r} is not the tokenizer checkpoint {str(folder)!r} was "
                              f"trained with (training.json records {shown(trained_with, 100)}); restore the run's "
                              "tokenizer.json")
    if bytes_run:
        return None
    vocab = _record(Path(folder) / "config.json", "config file").get("vocab_size")
    if isinstance(vocab, int) and tokenizer.get_vocab_size() > vocab:  # its ids would be past the embedding
        raise ModelInputError(f"tokenizer file {str(path)!r} has {tokenizer.get_vocab_size()} tokens, more than the "
                              f"model's vocab_size {vocab} (config.json): restore the run's tokenizer.json")
    return tokenizer


def _record(path: Path, what: str) -> dict[str, Any]:
    """A JSON object of a checkpoint folder; empty when missing or unreadable (its own loader says why)."""
    try:
        record = json.loads(read_text_bounded(path, what, ModelInputError)) if path.is_file() else None
    except (ModelInputError, ValueError, RecursionError):
        return {}
    return record if isinstance(record, dict) else {}


def _trained_tokenizer(folder: Path) -> Any:
    """The tokenizer ``training.json`` records (``"bytes"`` or a :func:`_tokenizer_id`); ``None`` when the
    folder has no readable record (a built, never trained checkpoint)."""
    return _record(folder / "training.json", "run record").get("tokenizer")


def trained_seq_len(folder: str | os.PathLike) -> int | None:
    """The context length a checkpoint was trained at (``training.json``); ``None`` when the folder
    records none (a built, never trained checkpoint)."""
    config = _record(Path(folder) / "training.json", "run record").get("config")
    seq_len = config.get("seq_len") if isinstance(config, dict) else None
    return seq_len if isinstance(seq_len, int) and not isinstance(seq_len, bool) and seq_len >= 2 else None


#: a text a tokenizer read from a file must encode: letters, digits, punctuation, spaces, accents, CJK, an emoji
_PROBE_TEXT = "Hello, world! 123 héllo wörld\n\t~ 漢字 🙂 " * 4


@contextlib.contextmanager
def tokenizer_panics(what: str, way_out: str, *, quiet: bool = True) -> Iterator[None]:
    """A Rust panic of ``tokenizers`` for the duration (pyo3's ``PanicException``, a ``BaseException`` that ``except
    Exception`` misses: a normalizer's pattern it cannot run) as one line: ``{what} failed (why); {way_out}``.

    ``quiet``: Rust's own report of the panic, which the line replaces, is dropped with all else written to the
    process's stderr for the duration: for a duration that only runs the tokenizer. A longer one passes
    ``quiet=False`` and runs the tokenizer's text calls under :func:`_quiet_text_calls`."""
    try:
        with _native_stderr_dropped() if quiet else contextlib.nullcontext():
            yield
    except BaseException as exc:
        if type(exc).__name__ != "PanicException":
            raise
        raise ModelInputError(f"{what} failed ({first_line(exc, 200)}); {way_out}") from None


def _quiet_text_calls(tokenizer: Any) -> Any:
    """A shallow copy of a ``transformers`` fast tokenizer whose calls that run its Rust pipeline on a text (encode,
    decode) drop what is written to the process's stderr while they run: a panic's report. The rest of stderr (a
    log, a progress bar) stays; the tokenizer handed over is left as it is."""
    quiet = copy.copy(tokenizer)
    for name in ("_encode_plus", "_encode_without_added_tokens", "_decode"):
        call = getattr(quiet, name, None)
        if call is None:  # another transformers' internals: its calls run as they are, their report printed
            continue

        @functools.wraps(call)
        def dropped(*args: Any, _call: Any = call, **kwargs: Any) -> Any:
            with _native_stderr_dropped():
                return _call(*args, **kwargs)

        setattr(quiet, name, dropped)
    return quiet


@contextlib.contextmanager
def _native_stderr_dropped() -> Iterator[None]:
    """Drop what is written to the process's stderr (file 2) for the duration: a Rust panic's report (a backtrace
    under RUST_BACKTRACE), which the one-line error replaces."""
    if sys.stderr is not None:
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # stderr closed (2>&-): nothing to drop
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def tokenizer_from_json(text: str, source: str, way_out: str) -> Any:
    """A ``tokenizers.Tokenizer`` from its JSON that encodes a sample text; a damaged one (a Rust panic included) is a
    one-line error naming ``source``."""
    require("tokenizers", "hf")
    from tokenizers import Tokenizer

    try:
        with _native_stderr_dropped():
            tokenizer = Tokenizer.from_str(text)
            tokenizer.encode(_PROBE_TEXT)  # a normalizer or pre-tokenizer that panics on text panics here
        return tokenizer
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # plain Exception for bad JSON and fields, PanicException (a BaseException)
        raise ModelInputError(f"{source} is damaged ({first_line(exc, 200)}); {way_out}") from None


def transformers_tokenizer(bpe: Any | None) -> Any:
    """``bpe`` (a ``tokenizers.Tokenizer``) as a ``transformers`` fast tokenizer; ``None``: the byte vocabulary.
    A byte-level vocabulary pads on the left with :data:`PAD_TOKEN`, as a saved checkpoint's tokenizer does."""
    from transformers import PreTrainedTokenizerFast

    tok = byte_level_bpe() if bpe is None else bpe
    padding = {"pad_token": PAD_TOKEN, "padding_side": "left"} if PAD_TOKEN in tok.get_vocab() else {}
    return PreTrainedTokenizerFast(tokenizer_object=tok, **padding)


def checkpoint_tokenizer(folder: str | os.PathLike) -> Any:
    """The ``transformers`` tokenizer of a checkpoint folder: its ``tokenizer.json`` (BPE) or the byte vocabulary."""
    return transformers_tokenizer(checkpoint_bpe_tokenizer(folder))


def is_task_file(spec: str) -> bool:
    """Whether a ``--tasks`` item names a task file (any path that exists, or a task-file suffix),
    which :func:`load_task_file` reads as data, rather than an installed task."""
    return os.path.lexists(spec) or Path(spec).suffix.lower() in _TASK_SUFFIXES


@functools.cache
def _installed_tasks() -> Any:
    """lm-eval's ``TaskManager`` of its installed tasks: their index is built once (seconds, some 15 000 files)."""
    from lm_eval.tasks import TaskManager

    return TaskManager()


def check_task_names(tasks: Sequence[str | dict[str, Any]]) -> None:
    """Refuse, before a model is loaded, a task name (a ``str`` of ``tasks``; a task file's path is left to
    :func:`lm_eval_tasks`) that is no task, group or tag installed with lm-eval (lm-eval says ``KeyError``)."""
    names = [t for t in tasks if isinstance(t, str) and not is_task_file(t)]
    if not names:  # tasks all from files: the installed ones go unindexed
        return
    require("lm_eval", "eval")
    installed = set(_installed_tasks().all_tasks)
    unknown = [name for name in names if name not in installed]
    if unknown:
        close = difflib.get_close_matches(unknown[0], installed, n=3)
        hint = f" (near {unknown[0]!r}: {', '.join(map(repr, close))})" if close else ""
        raise ModelInputError(f"unknown lm-eval task(s) {', '.join(map(repr, unknown))}{hint}: give the name of a "
                              "task installed with lm-eval (`lm-eval ls tasks` lists them; `lm-eval --tasks list` in "
                              "a release without ls) or a task file "
                              f"({', '.join(_TASK_SUFFIXES)})")


@functools.cache
def _task_loader() -> type:
    """A ``yaml.SafeLoader`` (data only: ``!function`` and every other Python tag refused) that also refuses
    aliases: a few lines of nested aliases ("billion laughs") expand to 10^9 values."""
    import yaml

    class TaskLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                line = self.peek_event().start_mark.line + 1
                raise ModelInputError(f"has an alias at line {line}: YAML anchors and aliases (&name, *name) are "
                                      "not read; write the values out")
            return super().compose_node(parent, index)

    return TaskLoader


def load_task_file(path: str | os.PathLike) -> dict[str, Any]:
    """An lm-eval task config from a YAML (or JSON) file, as data; local ``data_files`` resolved.

    Raises:
        ModelInputError: unreadable, not a mapping with a ``task`` name, a Python tag
            (``!function``), a YAML alias, too deep nesting, a key that loads code or files (``include``, ``class``,
            ``custom_dataset``), ``trust_remote_code``, a ``group`` key (lm-eval would run a group of
            no tasks), a metric that is not lm-eval's own, or data
            that is not local regular files read by one of ``datasets``' packaged loaders (``json``,
            ``csv``, ``text``, ``parquet``).
    """
    require("yaml", "eval")
    import yaml

    path = Path(path)
    text = read_text_bounded(path, "task file", ModelInputError)
    try:
        loader = _task_loader()(text)
        try:
            config = loader.get_single_data()
        finally:
            loader.dispose()
    except ModelInputError as exc:  # an alias, refused by the loader
        raise ModelInputError(f"task file {str(path)!r} {exc}") from None
    except RecursionError:
        raise ModelInputError(f"task file {str(path)!r} is nested too deeply; flatten its values") from None
    except yaml.constructor.ConstructorError as exc:  # a tag safe_load will not build, such as !function
        raise ModelInputError(f"task file {str(path)!r} is not data-only YAML ({first_line(exc)}); "
                              "Python tags such as !function are refused") from None
    except yaml.YAMLError as exc:
        where = f" at line {exc.problem_mark.line + 1}" if getattr(exc, "problem_mark", None) else ""
        raise ModelInputError(f"task file {str(path)!r} is not valid YAML{where} "
                              f"({getattr(exc, 'problem', None) or type(exc).__name__}); fix its syntax") from None
    if not isinstance(config, dict) or not isinstance(config.get("task"), str):
        raise ModelInputError(f"task file {str(path)!r} must be a mapping with a 'task' name (lm-eval's format)")
    refused = [k for k in _REFUSED_KEYS if k in config]
    kwargs = config.get("dataset_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise ModelInputError(f"task file {str(path)!r}: dataset_kwargs must be a mapping")
    # data_files only: trust_remote_code loads code, cache_dir or storage_options choose where data is written
    refused += [f"dataset_kwargs.{shown_name(k)}" for k in kwargs if k != "data_files"]
    if refused:
        raise ModelInputError(f"task file {str(path)!r} uses {', '.join(refused)}, which would load code or other "
                              "files, or choose where data is written; define the task in one file with local data "
                              "(dataset_kwargs: data_files only)")
    if "group" in config:  # lm-eval builds a group of the tasks `task` lists: a name lists none, nothing runs
        raise ModelInputError(f"task file {str(path)!r} has a 'group' key, which lm-eval reads as a group of other "
                              "tasks (this file's task would not run, and no metric would come back): label the task "
                              "with 'tag' instead")
    if config.get("dataset_path") not in _LOCAL_LOADERS or kwargs.get("data_files") is None:
        raise ModelInputError(f"task file {str(path)!r} must read local files: dataset_path one of "
                              f"{', '.join(_LOCAL_LOADERS)} and dataset_kwargs.data_files (nothing is downloaded)")
    _check_metrics(config.get("metric_list"), path)
    kwargs = {**kwargs, "data_files": _resolve(kwargs["data_files"], path.parent)}
    return {**config, "dataset_kwargs": kwargs}


def _check_metrics(metrics: Any, path: Path) -> None:
    """Refuse metrics that are not lm-eval's own: lm-eval looks any other name up in the ``evaluate``
    library, which imports a metric named by a local path as a Python script."""
    if metrics is None:
        return
    if not (isinstance(metrics, list) and all(isinstance(m, dict) for m in metrics)):
        raise ModelInputError(f"task file {str(path)!r}: metric_list must be a list of mappings with a 'metric' name")
    require("lm_eval", "eval")
    import lm_eval.api.metrics  # noqa: F401  (registers lm-eval's metrics)
    from lm_eval.api.registry import metric_registry

    for m in metrics:
        name = m.get("metric")
        if "hf_evaluate" in m or not isinstance(name, str) or name not in metric_registry:
            raise ModelInputError(
                f"task file {str(path)!r}: metric {name!r}" + (" with hf_evaluate" if "hf_evaluate" in m else "")
                + f" is not one of lm-eval's own ({', '.join(sorted(metric_registry.keys()))}); the evaluate "
                "library's metrics are refused: they load code"
            )


def _resolve(files: Any, folder: Path) -> Any:
    """``data_files`` (a path, a list or a split -> path mapping) relative to the task file's folder;
    each must be a regular file of at most 1 GiB inside that folder, links followed (no globs, folders or
    devices)."""
    if isinstance(files, str):
        if Path(files).is_absolute() or ".." in Path(files).parts:
            raise ModelInputError(f"data file {shown(files, 200)} must be a path relative to the task file's folder "
                                  f"{str(folder)!r} and inside it (absolute paths and '..' are refused)")
        file = folder / files
        if file.exists() and not file.resolve().is_relative_to(folder.resolve()):  # a link out (before: read)
            raise ModelInputError(f"data file {str(file)!r} links to {str(file.resolve())!r}, outside the task file's "
                                  f"folder {str(folder)!r}: copy the data into the folder")
        why = missing_reason(file)
        if why:
            raise ModelInputError(f"data file {str(file)!r} {why} (globs, folders and devices are refused)")
        size = file.stat().st_size
        if size == 0:  # datasets' builders stop with a bare StopIteration
            raise ModelInputError(f"data file {str(file)!r} is empty: give it the task's documents")
        if size > _DATA_FILE_LIMIT:
            raise ModelInputError(f"data file {str(file)!r} is larger than {_DATA_FILE_LIMIT >> 30} GiB: refused")
        return str(file)
    if isinstance(files, list):
        return [_resolve(f, folder) for f in files]
    if isinstance(files, dict):
        return {k: _resolve(v, folder) for k, v in files.items()}
    raise ModelInputError(f"data_files must be a path, a list or a mapping, got {type(files).__name__}")


#: lm-eval's warnings about being handed a model object, which is how this module calls it on purpose
_MODEL_OBJECT_WARNINGS = ("`pretrained` model kwarg is not of type `str`", "Passed an already-initialized model")


@contextlib.contextmanager
def _without_model_object_warnings() -> Iterator[None]:
    """Drop lm-eval's warnings about a model object passed in (every other message passes)."""
    logger = logging.getLogger("lm_eval.models.huggingface")

    def keep(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_MODEL_OBJECT_WARNINGS)

    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


#: what lm-eval records of the machine beside the metrics, which :func:`lm_eval_tasks` drops: ``git describe`` of the
#: working folder (the caller's repository, not the model's; outside one it printed "fatal: not a git repository"),
#: and torch's environment report (11 processes, ``pip list`` among them: a second of each evaluation)
_PROBES = {"get_git_commit_hash": lambda: None, "add_env_info": lambda storage: None}


@contextlib.contextmanager
def _swapped(*swaps: tuple[Any, str, Any]) -> Iterator[None]:
    """Set each ``(owner, attribute, value)`` for the duration; the originals come back after."""
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in swaps]
    for owner, name, value in swaps:
        setattr(owner, name, value)
    try:
        yield
    finally:
        for owner, name, original in reversed(originals):
            setattr(owner, name, original)


def _without_environment_probes() -> contextlib.AbstractContextManager[None]:
    """Skip lm-eval's records of the machine (:data:`_PROBES`) for the duration."""
    import lm_eval.evaluator

    return _swapped(*((lm_eval.evaluator, name, probe) for name, probe in _PROBES.items()
                      if hasattr(lm_eval.evaluator, name)))


def _sandboxed_templates() -> contextlib.AbstractContextManager[None]:
    """Render lm-eval's Jinja templates in Jinja's sandbox, bounded in size and work, for the duration."""
    import lm_eval.utils
    from jinja2 import BaseLoader, StrictUndefined

    from mpsolve.merino_model._sandbox import BoundedSandbox

    sandbox = BoundedSandbox(loader=BaseLoader, undefined=StrictUndefined, keep_trailing_newline=True,
                             filters=lm_eval.utils.env.filters)
    return _swapped((lm_eval.utils, "env", sandbox))


def _timed_patterns() -> contextlib.AbstractContextManager[None]:
    """Apply task files' regular expressions with a time limit for the duration (``_sandbox.TIMED_RE`` as the ``re``
    of the lm-eval modules that apply them)."""
    import lm_eval.api.metrics
    import lm_eval.filters.extraction
    import lm_eval.utils

    from mpsolve.merino_model._sandbox import TIMED_RE

    return _swapped(*((module, "re", TIMED_RE)
                      for module in (lm_eval.api.metrics, lm_eval.filters.extraction, lm_eval.utils)))


def _owner(tasks: Sequence[str | dict[str, Any]], text: Any) -> str:
    """``task 'name'`` of the task configs (of ``tasks``) that hold ``text`` (a template, a pattern) in a value."""
    def strings(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, (dict, list)):
            for item in value.values() if isinstance(value, dict) else value:
                yield from strings(item)

    names = [str(t.get("task")) for t in tasks
             if isinstance(t, dict) and isinstance(text, str) and any(text in s for s in strings(t))]
    return f"task {', '.join(map(repr, names))}" if names else "a task"


def _check_generation_lengths(tasks: Sequence[str | dict[str, Any]], max_length: int) -> None:
    """Refuse a task config whose generation (``generation_kwargs``) leaves no room for its prompt."""
    for task in tasks:
        gen = task.get("generation_kwargs") if isinstance(task, dict) else None
        key = next((k for k in _GEN_LENGTH_KEYS if isinstance(gen, dict) and gen.get(k) is not None), None)
        if key is not None and isinstance(gen[key], int) and gen[key] >= max_length:
            raise ModelInputError(f"task {shown(task.get('task'))} generates up to {shown(gen[key])} tokens ({key}) "
                                  f"but the model holds {max_length} positions in all, its prompt included: set "
                                  f"generation_kwargs {key} below {max_length} in the task file")


def _check_documents(task: Any, limit: int | float | None) -> None:
    """Refuse what lm-eval would run wrong in ``task`` (an lm-eval ``Task``, its ``num_fewshot`` set): more few-shot
    examples than its few-shot documents hold (lm-eval: "Sample larger than population"), and a multiple-choice
    document, of those ``limit`` keeps, whose target is not one of its choices (lm-eval scored it as wrong, with a
    warning; the first document's was an ``IndexError``)."""
    import itertools
    import math

    config = task.config
    name = shown(config.task)
    shots = config.num_fewshot or 0
    if shots > 0:
        pool = len(task.fewshot_docs())
        itself = int(config.fewshot_split == config.test_split)  # lm-eval then draws one more, to leave it out
        if shots + itself > pool:
            raise ModelInputError(f"task {name} asks for {shots} few-shot examples, and its few-shot documents number "
                                  f"{pool}{', the one in question among them' if itself else ''}: give "
                                  f"--num-fewshot {max(pool - itself, 0)} or fewer (num_fewshot in Python)")
    if config.output_type != "multiple_choice" or task.multiple_input:
        return
    docs = task.eval_docs
    if limit is not None:  # lm-eval's rule: a fraction of the documents below 1
        limit = math.ceil(len(docs) * limit) if limit < 1.0 else int(limit)
    for index, doc in enumerate(itertools.islice(docs, limit)):
        target, choices = task.doc_to_target(doc), task.doc_to_choice(doc)
        for one in target if isinstance(target, list) else [target]:
            if not (0 <= one < len(choices) if isinstance(one, int) else one in choices):
                raise ModelInputError(f"task {name}: document {index}'s target {shown(one)} is not one of its "
                                      f"{len(choices)} choices (an index from 0, or a choice's text), and lm-eval "
                                      "would score it as wrong: mend the data, or the task's doc_to_target")


def _tasks_in(value: Any) -> Iterator[Any]:
    """The lm-eval tasks in ``value``, a task dict as lm-eval's ``evaluate`` takes it (groups nest)."""
    from lm_eval.api.task import Task

    if isinstance(value, Task):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tasks_in(item)


def _documents_checked(limit: int | float | None) -> contextlib.AbstractContextManager[None]:
    """Check each task's documents (:func:`_check_documents`) once lm-eval has set them up, before the model runs."""
    import lm_eval.evaluator

    original = lm_eval.evaluator.evaluate

    def evaluate(*args: Any, **kwargs: Any) -> Any:
        for task in _tasks_in(kwargs.get("task_dict", args[1] if len(args) > 1 else None)):
            _check_documents(task, limit)
        return original(*args, **kwargs)

    return _swapped((lm_eval.evaluator, "evaluate", evaluate))


def _failed_task(exc: BaseException) -> tuple[Any, str] | None:
    """The lm-eval task in whose method ``exc`` was raised (the innermost), and that method's name."""
    from lm_eval.api.task import Task

    found, tb = None, exc.__traceback__
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        if isinstance(owner, Task):
            found = owner, tb.tb_frame.f_code.co_name
        tb = tb.tb_next
    return found


def _cause_in(task: Any, limit: int | float | None) -> ModelInputError | None:
    """What :func:`_check_documents` finds wrong in ``task``, one lm-eval failed in (maybe half set up), if anything."""
    try:
        _check_documents(task, limit)
    except ModelInputError as found:
        return found
    except Exception:  # lm-eval's own error says more
        return None
    return None


def _explained(exc: Exception, tasks: Sequence[str | dict[str, Any]], limit: int | float | None
               ) -> ModelInputError | None:
    """The one-line error for ``exc``, which lm-eval raised running ``tasks``: what our checks find wrong in the task
    it failed in, else what the error says of the task files; ``None`` for an error of lm-eval's own."""
    from datasets.exceptions import DatasetsError
    from jinja2.exceptions import SecurityError, TemplateError

    from mpsolve.merino_model._sandbox import (
        BUILT_LIMIT,
        ITEM_LIMIT,
        SOURCE_LIMIT,
        STEP_LIMIT,
        TEXT_LIMIT,
        PatternError,
        TemplateLimitError,
    )

    failed = _failed_task(exc)
    found = None if failed is None else _cause_in(failed[0], limit)
    if found is not None:
        return found
    if isinstance(exc, TemplateLimitError):
        return ModelInputError(f"{_owner(tasks, exc.source)}: template {shown(exc.source)} {exc}; a template may be at "
                               f"most {SOURCE_LIMIT >> 10} KiB long and build at most {TEXT_LIMIT >> 20} MiB of text "
                               f"({BUILT_LIMIT >> 20} MiB in all) in at most {STEP_LIMIT} steps, sizing or writing at "
                               f"most {ITEM_LIMIT} list and dict items, per document")
    if isinstance(exc, PatternError):
        return ModelInputError(f"{_owner(tasks, exc.pattern)}: regular expression {shown(exc.pattern)} {exc}; "
                               f"{exc.way_out}")
    if isinstance(exc, SecurityError):
        return ModelInputError(f"a task template tried unsafe access ({exc}); templates may only read document fields")
    if isinstance(exc, DatasetsError):
        files = "; ".join(f"{t.get('task')}: {(t.get('dataset_kwargs') or {}).get('data_files')}"
                          for t in tasks if isinstance(t, dict))
        return ModelInputError(f"lm-eval could not read the task data ({files or 'installed tasks'}): "
                               f"{first_line(exc.__cause__ or exc)[:200]}; check that each data file suits its "
                               f"dataset_path ({', '.join(_LOCAL_LOADERS)})")
    if isinstance(exc, ModelInputError):  # ours, one line already (a tokenizer's panic)
        return exc
    if isinstance(exc, (TemplateError, LookupError, ValueError, TypeError, ArithmeticError, OSError, AssertionError,
                        SyntaxError, ImportError)):  # a choice list it cannot parse; a prompt source it cannot import
        where = "the tasks" if failed is None else f"task {shown(failed[0].config.task)} (in its {failed[1]})"
        return ModelInputError(f"lm-eval could not run {where}: {type(exc).__name__}: {first_line(exc)}")
    return None


def lm_eval_tasks(
    model: Any,
    tokenizer: Any,
    tasks: Sequence[str | dict[str, Any]],
    *,
    limit: int | None = None,
    num_fewshot: int | None = None,
    batch_size: int = 8,
    seed: int | None = None,
) -> dict[str, dict[str, float]]:
    """Run lm-evaluation-harness tasks on a model; the metrics per task.

    Args:
        model: a :class:`MeRinoHFForCausalLM` (or any ``transformers`` causal LM).
        tokenizer: its tokenizer (:func:`checkpoint_tokenizer`).
        tasks: task configs (:func:`load_task_file`) or names of tasks installed with lm-eval
            (whose data must be available offline).
        limit: at most this many documents per task.
        num_fewshot: few-shot examples per prompt (the task's own default when ``None``).
        seed: seed of lm-eval's sampling (few-shot choice); default ``DEFAULT_SEED``.

    A ``generate_until`` task generates up to its ``generation_kwargs`` ``max_gen_toks``
    tokens, by default lm-eval's 256 or half the model's ``max_positions`` if fewer (the
    prompt, cut from the left, fills the rest); a task file asking for ``max_positions`` or
    more is refused before any work. So are, before the model runs, a multiple-choice document
    (of those ``limit`` keeps) whose target is not one of its choices, which lm-eval would score as
    wrong, and more few-shot examples than a task's few-shot documents hold.

    Returns:
        ``{task: {metric: value}}`` (lm-eval's ``metric,filter`` keys, numbers only).
    """
    require("lm_eval", "eval")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from mpsolve.utils.random import DEFAULT_SEED

    for task in tasks:  # lm-eval reads a name that is a path as a task file, with its own loader (!function runs)
        if isinstance(task, str) and is_task_file(task):
            raise ModelInputError(f"task {task!r} is a file path, not an installed task's name: read it with "
                                  "load_task_file (as data) and pass the config")
    names: dict[str, str | dict[str, Any]] = {}
    for task in tasks:  # lm-eval keeps one task a name: the last, without a word
        name = task if isinstance(task, str) else task.get("task")
        if isinstance(name, str) and names.setdefault(name, task) != task:
            raise ModelInputError(f"two different tasks are named {shown(name)}, and lm-eval would report one of them "
                                  "only: give each task file its own task name")
    check_task_names(tasks)
    seed = DEFAULT_SEED if seed is None else seed
    # no BOS token in MeRino vocabularies: an empty context is conditioned on a newline
    with tokenizer_panics("the tokenizer", "restore the checkpoint's tokenizer.json"):
        prefix = tokenizer.encode("\n", add_special_tokens=False)[-1]
    max_length = int(getattr(model.config, "max_positions", 0) or 0) or None
    max_gen_toks = _MAX_GEN_TOKS if max_length is None else min(_MAX_GEN_TOKS, max_length // 2)
    if max_length is not None:  # lm-eval would stop at the first such batch, losing the work before it
        _check_generation_lengths(tasks, max_length)
    eot = tokenizer.eos_token_id
    if PAD_TOKEN in tokenizer.get_vocab():  # a byte-level vocabulary: byte 0's token is in no text
        # no end-of-text token in MeRino vocabularies, and generate_until decodes it as a stop sequence
        eot = tokenizer.convert_tokens_to_ids(PAD_TOKEN) if eot is None else eot
        if tokenizer.pad_token is None:  # lm-eval would add a pad token past the model's vocabulary
            tokenizer = copy.deepcopy(tokenizer)  # the one handed over is left as it is
            tokenizer.pad_token = PAD_TOKEN  # what a saved checkpoint's tokenizer_config.json declares
    tokenizer = _quiet_text_calls(tokenizer)

    class MeRinoLM(HFLM):
        @property
        def eot_token_id(self) -> int | None:
            return eot

        @property
        def max_gen_toks(self) -> int:  # lm-eval's 256 is more than a small model's positions hold
            return max_gen_toks

    with _without_model_object_warnings():
        lm = MeRinoLM(pretrained=model, tokenizer=tokenizer, device="cpu", batch_size=batch_size,
                      max_length=max_length, prefix_token_id=prefix, add_bos_token=False, backend="causal")
    # tasks all from files (their configs refuse `include`): lm-eval's installed tasks, some 15 000, go unindexed
    # (seconds); a task named needs them
    manager = _installed_tasks() if any(isinstance(t, str) for t in tasks) else TaskManager(include_defaults=False)
    try:
        with _sandboxed_templates(), _timed_patterns(), _without_model_object_warnings(), \
                _without_environment_probes(), _documents_checked(limit), \
                tokenizer_panics("the tokenizer, on a task's text,", "restore the checkpoint's tokenizer.json",
                                 quiet=False):
            out = lm_eval.simple_evaluate(model=lm, tasks=list(tasks), task_manager=manager, limit=limit,
                                          num_fewshot=num_fewshot,
                                          log_samples=False, bootstrap_iters=0, random_seed=seed,
                                          numpy_random_seed=seed, torch_random_seed=seed, fewshot_random_seed=seed)
    except Exception as exc:
        explained = _explained(exc, tasks, limit)
        if explained is None:  # lm-eval's own error, not one the task files can mend
            raise
        raise explained from None
    if out is None:
        raise ModelInputError("lm-eval returned no results")
    return {task: {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
            for task, metrics in out["results"].items()}
