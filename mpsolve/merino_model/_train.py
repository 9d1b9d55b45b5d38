"""Train and evaluate MeRino models on a text corpus (the loop the benchmarks use).

Tokens are bytes by default (vocabulary 256); :func:`train_bpe_tokenizer` trains a byte-level
BPE tokenizer on the corpus itself (``tokenizers``, no download) and :meth:`Corpus.encode` uses it.

The recipe is the paper's: AdamW (weight decay on matrices only), linear warm-up, linear decay
to ``min_lr_ratio * lr``, gradient clipping. Batches are random windows of the training bytes
in an order fixed by ``data_seed``, so two runs with the same seed see the same data and, on
the same machine, give the same losses. ``torch`` is imported only when training starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import re
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mpsolve.costs import ParamsCost
from mpsolve.merino_model._errors import ModelInputError, check_init_std
from mpsolve.spaces import Architecture, resolve_architecture
from mpsolve.utils.errors import first_line, shown, shown_name
from mpsolve.utils.files import check_writable, missing_reason
from mpsolve.utils.memory import allocation_failures_as, available_memory, check_memory
from mpsolve.utils.signals import on_ctrl_c
from mpsolve.utils.validation import (
    check_bool,
    check_integer,
    check_positive_number,
    is_finite_number,
    is_fraction,
    is_integer,
)

if TYPE_CHECKING:
    import torch

    from mpsolve.merino_model._model import MeRinoForCausalLM

__all__ = [
    "Corpus",
    "TrainConfig",
    "TrainResult",
    "TrainingInterrupted",
    "batch_starts",
    "check_run_folder",
    "check_train_setup",
    "evaluate",
    "learning_rate",
    "load_corpus",
    "run_files",
    "train",
    "train_bpe_tokenizer",
    "validation_loss",
]

#: every ``VAL_EVERY``-th block of a corpus is validation text (5 %)
VAL_EVERY = 20
#: block size of the train/validation split of corpora of at least ``VAL_EVERY`` such blocks
SPLIT_BLOCK = 1 << 16
TEXT_SUFFIXES = {".txt", ".md", ".rst", ".text", ""}
CHECKPOINT_DIR = "checkpoint"
#: the way out of a run that cannot continue (its folder holds the run, so a fresh start there is refused)
_START_AGAIN = "start again in a new out_dir (mpsolve train --out), without resume"
#: what a built or trained model's folder holds; writing another run there would mix the two
RUN_FILES = ("training.json", CHECKPOINT_DIR, "config.json", "model.safetensors", "tokenizer.json",
             "tokenizer_config.json")
#: largest BPE vocabulary: ``tokenizers`` allocates it up front (and aborts the process when it cannot)
MAX_BPE_VOCAB = 1 << 24


# -- corpus ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Corpus:
    """A corpus split into training and validation token ids: bytes, or BPE tokens after :meth:`encode`.

    Attributes:
        name: where it came from.
        train: training token ids (``uint8`` bytes, or ``int32`` BPE ids).
        val: validation token ids.
        fingerprint: a hash of the corpus bytes.
        tokenizer: the ``tokenizers.Tokenizer`` of BPE ids; ``None`` for bytes.
    """

    name: str
    train: np.ndarray
    val: np.ndarray
    fingerprint: str
    tokenizer: Any = field(default=None, compare=False, repr=False)

    @property
    def vocab_size(self) -> int:
        """Token ids are below this (256 for bytes)."""
        return 256 if self.tokenizer is None else self.tokenizer.get_vocab_size()

    def describe(self) -> dict[str, Any]:
        """Name, fingerprint and sizes (what a result records about its corpus); the tokenizer if BPE."""
        unit = "bytes" if self.tokenizer is None else "tokens"
        described = {"name": self.name, "fingerprint": self.fingerprint, f"train_{unit}": len(self.train),
                     f"val_{unit}": len(self.val)}
        if self.tokenizer is not None:
            described["tokenizer"] = _tokenizer_id(self.tokenizer)
        return described

    def encode(self, tokenizer: Any) -> Corpus:
        """This byte corpus as the ids of ``tokenizer`` (a ``tokenizers.Tokenizer``); same split.

        The training and validation bytes are encoded separately, 64 KiB at a time (a character
        cut by a block boundary is decoded as U+FFFD).
        """
        if self.tokenizer is not None:
            raise ModelInputError("this corpus is already tokenized; encode the byte corpus")
        return dataclasses.replace(self, train=_encode(tokenizer, self.train), val=_encode(tokenizer, self.val),
                                   tokenizer=tokenizer)

    def token_bytes(self) -> np.ndarray:
        """``(vocab_size,)`` bytes each token stands for (all 1 for bytes), for bits per byte."""
        if self.tokenizer is None:
            return np.ones(256, dtype=np.int64)
        lengths = np.zeros(self.vocab_size, dtype=np.int64)
        for token, index in self.tokenizer.get_vocab().items():
            lengths[index] = len(token)  # byte-level BPE: one alphabet character per byte
        return lengths

    @classmethod
    def from_bytes(cls, data: bytes | np.ndarray, name: str = "text", *, block_size: int | None = None) -> Corpus:
        """Split ``data`` into blocks; every 20th block (or the middle one of under 11) is validation.

        The held-out text is spread over the whole corpus and never overlaps the training text.

        Args:
            data: the corpus bytes.
            name: what :meth:`describe` calls it.
            block_size: bytes per block; default 64 KiB, smaller for corpora under 20 such
                blocks so that 5 % of any corpus is held out.
        """
        if not isinstance(data, (bytes, bytearray, memoryview, np.ndarray)):
            raise ModelInputError(f"Corpus.from_bytes takes bytes, got {type(data).__name__}; encode text first "
                                  "(text.encode('utf-8')) or use load_corpus for a file")
        data = np.frombuffer(bytes(data), dtype=np.uint8) if not isinstance(data, np.ndarray) else data
        if data.dtype != np.uint8 or data.ndim != 1:  # a float array would be trained on as if it were text
            raise ModelInputError(f"Corpus.from_bytes takes bytes or a 1-D uint8 array, got a {data.ndim}-D "
                                  f"{data.dtype} array")
        if block_size is not None:
            check_integer(block_size, "block_size", 1, ModelInputError)
        if len(data) < 2 * VAL_EVERY:
            raise ModelInputError(f"corpus {name!r} has {len(data)} bytes; give at least {2 * VAL_EVERY}")
        block = block_size or min(SPLIT_BLOCK, len(data) // VAL_EVERY)
        blocks = [data[i : i + block] for i in range(0, len(data), block)]
        if len(blocks) < 2:  # its one block would be held out, leaving nothing to train on
            raise ModelInputError(f"corpus {name!r} has {len(data)} bytes, one block of block_size={block}, which "
                                  f"leaves no training text: give a block_size of at most {len(data) // 2} (a "
                                  "training and a validation block) or a larger corpus")
        held = {i for i in range(len(blocks)) if i % VAL_EVERY == VAL_EVERY // 2} or {len(blocks) // 2}
        val = np.concatenate([b for i, b in enumerate(blocks) if i in held])
        train = np.concatenate([b for i, b in enumerate(blocks) if i not in held])
        fingerprint = hashlib.sha256(data.tobytes()).hexdigest()[:16]
        return cls(name=name, train=train, val=val, fingerprint=fingerprint)

    @classmethod
    def from_documents(cls, docs: Iterable[str], name: str = "text", *, block_size: int | None = None) -> Corpus:
        """The UTF-8 bytes of ``docs`` (stripped, empty ones dropped) joined by blank lines."""
        if isinstance(docs, (str, bytes)) or not isinstance(docs, Iterable):  # a str would be one per character
            raise ModelInputError(f"Corpus.from_documents takes a list of strings, got {type(docs).__name__}; "
                                  "for one text use [text]")
        docs = list(docs)
        bad = next((d for d in docs if not isinstance(d, str)), None)
        if bad is not None:
            raise ModelInputError(f"Corpus.from_documents takes strings, got a {type(bad).__name__}")
        text = "\n\n".join(d.strip() for d in docs if d.strip())
        if not text:  # from_bytes would say "0 bytes" of a file that has some
            raise ModelInputError(f"corpus {name!r} has no text: its documents are empty or whitespace only")
        return cls.from_bytes(text.encode("utf-8"), name, block_size=block_size)


def _text_chunks(data: np.ndarray, size: int = SPLIT_BLOCK) -> list[str]:
    return [data[i : i + size].tobytes().decode("utf-8", errors="replace") for i in range(0, len(data), size)]


def _encode(tokenizer: Any, data: np.ndarray) -> np.ndarray:
    from mpsolve.merino_model._lm_eval import tokenizer_panics

    with tokenizer_panics("the tokenizer, on the corpus,", "restore the checkpoint's tokenizer.json"):
        encodings = tokenizer.encode_batch(_text_chunks(data))
    return np.concatenate([np.asarray(e.ids, dtype=np.int32) for e in encodings] or [np.zeros(0, np.int32)])


def _tokenizer_id(tokenizer: Any) -> dict[str, Any]:
    """What identifies a tokenizer in records and checkpoints: its type, vocabulary size and a hash."""
    digest = hashlib.sha256(tokenizer.to_str().encode()).hexdigest()[:16]
    return {"type": "bpe", "vocab_size": tokenizer.get_vocab_size(), "sha256": digest}


def train_bpe_tokenizer(corpus: Corpus, vocab_size: int = 4096) -> Any:
    """A byte-level BPE tokenizer (``tokenizers``) trained on ``corpus``'s training text only.

    Every byte is in its alphabet, so any text encodes; nothing is downloaded. Needs the
    ``tokenizers`` package (installed with the ``[hf]`` extra).

    Args:
        corpus: a byte corpus (not yet encoded).
        vocab_size: size of the vocabulary (at least 256, the byte alphabet, at most
            ``MAX_BPE_VOCAB``); smaller when the text has no more pairs to merge.
    """
    from mpsolve.merino_model._errors import require

    require("tokenizers", "hf")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if corpus.tokenizer is not None:
        raise ModelInputError("train the tokenizer on the byte corpus, before encoding it")
    if not is_integer(vocab_size) or not 256 <= vocab_size <= MAX_BPE_VOCAB:
        raise ModelInputError(f"a byte-level BPE vocabulary holds the 256 bytes; vocab_size must be an integer in "
                              f"256..{MAX_BPE_VOCAB}, got {vocab_size!r}")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tokenizer.train_from_iterator(_text_chunks(corpus.train), trainer)
    return tokenizer


#: peak memory of :func:`load_corpus` per corpus byte, measured (ru_maxrss) on 47 MB files: 4.0 for ASCII text (the
#: bytes read, the text, its UTF-8 encoding, the training and validation copies), 7.0 for the same text and one emoji
#: (Python then holds every character in 4 bytes), 3.7 for CJK text; 8 covers the worst
CORPUS_MEMORY_FACTOR = 8


def load_corpus(source: str | os.PathLike | Corpus, *, block_size: int | None = None) -> Corpus:
    """A :class:`Corpus` from a UTF-8 text file or a folder of them (``.txt``, ``.md``, ``.rst``, no suffix).

    A folder's files are read in sorted order, its subfolders included; hidden files and folders
    (a name starting with ``.``: ``.git/``, ``.gitignore``, ``.DS_Store``) are skipped. A
    :class:`Corpus` is returned as it is.
    """
    if isinstance(source, Corpus):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise ModelInputError(f"corpus must be a file or folder path or a Corpus, got {type(source).__name__}")
    path = Path(source).expanduser()
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = _corpus_files(path)
        if not files:
            kinds = ", ".join(s or "no suffix" for s in sorted(TEXT_SUFFIXES))
            raise ModelInputError(f"folder {str(path)!r} holds no text files ({kinds}; hidden files and folders are "
                                  "skipped): give a folder of UTF-8 text or one file")
    else:
        raise ModelInputError(f"corpus {str(source)!r} {missing_reason(path)}: give a UTF-8 text file or a folder of "
                              "text files")
    size = sum(f.stat().st_size for f in files)
    check_memory(size * CORPUS_MEMORY_FACTOR, f"reading corpus {str(source)!r} ({size / 2**30:.1f} GiB)",
                 "give a smaller corpus or a subset of its files", ModelInputError)
    return Corpus.from_documents([_utf8_text(f) for f in files], str(source), block_size=block_size)


def _corpus_files(folder: Path) -> list[Path]:
    """The text files of a corpus folder, sorted: the ``TEXT_SUFFIXES`` files in it and its subfolders,
    less hidden ones (a name starting with ``.``, or inside a folder whose name does: ``.git/``)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _utf8_text(path: Path) -> str:
    """The text of a corpus file; a file that is not UTF-8 is refused (nothing is replaced silently)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelInputError(f"corpus file {str(path)!r} is not UTF-8 text (byte {exc.start}: {exc.reason}); "
                              "convert it to UTF-8 first, e.g. with iconv -t UTF-8") from None


# -- configuration ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained (the benchmarks' recipe; their result keys hash ``to_dict()``).

    AdamW with linear warm-up over ``warmup * steps`` and linear decay to ``min_lr_ratio * lr``;
    batches are random windows of the training bytes in an order fixed by ``data_seed``.

    Attributes:
        tokens: training tokens; ``steps = ceil(tokens / (seq_len * batch_size))``.
        seq_len: window length (at most the model's ``max_positions``).
        batch_size: windows per step.
        lr: peak learning rate.
        min_lr_ratio: final learning rate over ``lr``.
        warmup: fraction of the steps spent warming up.
        weight_decay: AdamW weight decay of matrices (vectors: none).
        betas: AdamW betas.
        grad_clip: maximum global gradient norm.
        init_std: standard deviation of a freshly built model's weights.
        data_seed: seed of the window order.
        eval_tokens: validation tokens per evaluation.
        checkpoints: fractions of the run at which to validate (and, with an ``out_dir``, save).
    """

    tokens: int = 4_000_000
    seq_len: int = 256
    batch_size: int = 8
    lr: float = 2e-3
    min_lr_ratio: float = 0.1
    warmup: float = 0.05
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    init_std: float = 0.02
    data_seed: int = 0
    eval_tokens: int = 1 << 17
    checkpoints: tuple[float, ...] = (0.5, 0.75, 1.0)

    def __post_init__(self) -> None:
        for name, minimum in (("seq_len", 2), ("batch_size", 1), ("tokens", 1), ("eval_tokens", 1), ("data_seed", 0)):
            check_integer(getattr(self, name), name, minimum, ModelInputError)
        batch = self.seq_len * self.batch_size
        if self.tokens < batch:
            raise ModelInputError(f"tokens={self.tokens} is less than one batch; give tokens >= seq_len * batch_size "
                                  f"= {self.seq_len} * {self.batch_size} = {batch}")
        for name in ("lr", "grad_clip"):
            check_positive_number(getattr(self, name), name, ModelInputError)
        check_init_std(self.init_std)
        _check_fraction(self.min_lr_ratio, "min_lr_ratio", "0 <= min_lr_ratio <= 1")
        _check_fraction(self.warmup, "warmup", "0 <= warmup < 1", top=False)
        if not is_finite_number(self.weight_decay) or self.weight_decay < 0:
            raise ModelInputError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if not (isinstance(self.betas, tuple) and len(self.betas) == 2):
            raise ModelInputError(f"betas must be a tuple of two numbers in [0, 1), got {self.betas!r}")
        for beta in self.betas:
            _check_fraction(beta, "betas", "a tuple of two numbers in [0, 1)", top=False)
        if not isinstance(self.checkpoints, tuple):
            raise ModelInputError(f"checkpoints must be a tuple of fractions in (0, 1], got {self.checkpoints!r}")
        for fraction in self.checkpoints:
            _check_fraction(fraction, "checkpoints", "fractions in (0, 1]", bottom=False)
        # numpy numbers as Python ones: numpy betas made AdamW raise a raw ValueError, and to_dict was no JSON
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = tuple(v.item() if isinstance(v, np.generic) else v for v in value)
            object.__setattr__(self, f.name, value.item() if isinstance(value, np.generic) else value)

    @property
    def steps(self) -> int:
        """Optimizer steps of the run."""
        return math.ceil(self.tokens / (self.seq_len * self.batch_size))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """The config :meth:`to_dict` wrote."""
        if not isinstance(data, Mapping):
            raise ModelInputError(f"a training config is a mapping of its fields, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(shown_name(k) for k in data if k not in known)
        if unknown:
            raise ModelInputError(f"unknown training config field(s) {', '.join(unknown)}; the fields are "
                                  f"{', '.join(sorted(known))}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def _check_fraction(value: Any, name: str, valid: str, *, bottom: bool = True, top: bool = True) -> None:
    """Refuse ``value`` unless it lies in [0, 1] (``bottom``/``top``: whether 0 / 1 are allowed)."""
    if not is_fraction(value, zero=bottom, one=top):
        raise ModelInputError(f"{name} must be {valid}, got {value!r}")


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up over ``warmup * steps``, then linear decay to ``min_lr_ratio * lr``."""
    warm = max(1, int(config.warmup * config.steps))
    if step < warm:
        return config.lr * (step + 1) / warm
    progress = (step - warm) / max(1, config.steps - warm)
    return config.lr * (1.0 - (1.0 - config.min_lr_ratio) * min(1.0, progress))


def batch_starts(n_tokens: int, config: TrainConfig) -> np.ndarray:
    """``(steps, batch)`` window starts: the fixed data order of every run with this config."""
    if n_tokens < config.seq_len + 2:
        raise ModelInputError(
            f"the training text has {n_tokens} tokens, fewer than seq_len + 2 = {config.seq_len + 2}; "
            "give a larger corpus, a shorter seq_len, or (BPE) a smaller vocabulary, which merges less"
        )
    check_memory(config.steps * config.batch_size * 8, f"tokens={config.tokens} means {config.steps} steps, whose "
                 "data order", "train on fewer tokens", ModelInputError)
    rng = np.random.default_rng(config.data_seed)
    return rng.integers(0, n_tokens - config.seq_len - 1, size=(config.steps, config.batch_size))


def _windows(data: np.ndarray, starts: np.ndarray, seq_len: int, device: Any = None) -> torch.Tensor:
    import torch

    idx = starts[:, None] + np.arange(seq_len)[None, :]
    return torch.from_numpy(data[idx].astype(np.int64)).to(device)


# -- evaluation --------------------------------------------------------------------------
def validation_loss(model: Any, data: np.ndarray, seq_len: int, eval_tokens: int, batch_size: int = 32) -> float:
    """Mean next-token loss (nats) over the first ``eval_tokens`` of ``data`` in non-overlapping windows,
    ``batch_size`` at a time (on the CPU fewer, where their logits would fill more than half the free memory)."""
    import torch

    check_integer(seq_len, "seq_len", 2, ModelInputError)
    check_integer(eval_tokens, "eval_tokens", 1, ModelInputError)
    check_integer(batch_size, "batch_size", 1, ModelInputError)
    if not callable(getattr(model, "parameters", None)):
        raise ModelInputError(f"model must be a MeRinoForCausalLM or its Hugging Face wrapper, got "
                              f"{type(model).__name__}; load a checkpoint folder with "
                              "MeRinoHFForCausalLM.from_pretrained(folder)")
    _check_validation_text(len(data), seq_len)
    n_windows = max(1, min(eval_tokens, len(data) - 1) // seq_len)
    starts = np.arange(n_windows) * seq_len
    weight = next(model.parameters())
    if weight.is_cpu:
        batch_size = _validation_batch(model, seq_len, batch_size, weight.element_size())
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), allocation_failures_as(ModelInputError, lambda failed: (
                f"validation ran out of memory on windows of seq_len {seq_len} ({failed}): give a shorter seq_len")):
            for i in range(0, n_windows, batch_size):
                x = _windows(data, starts[i : i + batch_size], seq_len, weight.device)
                loss = model(x, labels=x).loss
                n = x.shape[0] * (seq_len - 1)
                total += float(loss) * n
                count += n
    finally:
        model.train(was_training)
    return total / count


def _validation_batch(model: Any, seq_len: int, batch_size: int, size: int) -> int:
    """``batch_size``, or fewer windows where their logits and float32 log-softmax would take more than half the free
    memory (the other half for what is not counted); a one-line error where not one window fits."""
    embedding = getattr(getattr(model, "model", model), "embed_tokens", None)
    if embedding is None:  # not a MeRino model: its logits' width is unknown
        return batch_size
    vocab = embedding.num_embeddings
    window = (size + 4) * seq_len * vocab
    check_memory(window, f"validating one window of seq_len {seq_len} (its logits over {vocab} tokens)",
                 "give a shorter seq_len", ModelInputError)
    free = available_memory()
    return batch_size if free is None else max(1, min(batch_size, free // (2 * window)))


def _check_validation_text(n_tokens: int, seq_len: int) -> None:
    """Refuse validation text shorter than one window of ``seq_len`` tokens and its next token."""
    if n_tokens < seq_len + 1:
        raise ModelInputError(
            f"the validation text has {n_tokens} tokens, fewer than seq_len + 1 = {seq_len + 1}; "
            "give a larger corpus or a shorter seq_len"
        )


def evaluate(
    model: Any,
    corpus: Corpus | str | os.PathLike,
    *,
    seq_len: int = 256,
    eval_tokens: int = 1 << 17,
    batch_size: int = 32,
) -> dict[str, float]:
    """Validation loss, perplexity and bits per byte of ``model`` on ``corpus``'s held-out text.

    Args:
        model: a :class:`MeRinoForCausalLM` or the Hugging Face wrapper.
        corpus: a :class:`Corpus` (bytes or BPE) or a text file / folder (bytes).
        seq_len: window length (at most the model's ``max_positions``).
        eval_tokens: validation tokens to read (from the start of the held-out text).
        batch_size: windows at a time (on the CPU fewer, where memory is short; see :func:`validation_loss`).

    Returns:
        ``loss`` (nats per token), ``perplexity`` (per token), ``bits_per_byte`` (comparable
        across tokenizers), ``tokens`` and ``bytes`` (predicted).
    """
    corpus = load_corpus(corpus)
    embedding = getattr(getattr(model, "model", model), "embed_tokens", None)  # the wrapper's, or the model's
    if embedding is not None and embedding.num_embeddings < corpus.vocab_size:
        kind = "bytes" if corpus.tokenizer is None else "BPE tokens"
        raise ModelInputError(f"the corpus has {corpus.vocab_size} token ids ({kind}) but the model's vocab_size is "
                              f"{embedding.num_embeddings}: give the corpus in the model's own tokenizer")
    data = corpus.val
    loss = validation_loss(model, data, seq_len, eval_tokens, batch_size)
    if not _has_perplexity(loss):
        raise ModelInputError(f"the validation loss is {loss:.6g}: the model's weights or logits are not finite or "
                              "far worse than uniform guessing (a diverged run?); retrain it with a lower learning "
                              "rate")
    n_windows = max(1, min(eval_tokens, len(data) - 1) // seq_len)
    predicted = data[(np.arange(n_windows) * seq_len)[:, None] + np.arange(1, seq_len)[None, :]]
    n_tokens, n_bytes = predicted.size, int(corpus.token_bytes()[predicted].sum())
    return {"loss": loss, "perplexity": math.exp(loss), "bits_per_byte": loss * n_tokens / n_bytes / math.log(2),
            "tokens": n_tokens, "bytes": n_bytes}


def _has_perplexity(loss: float) -> bool:
    """Whether ``exp(loss)`` is a finite perplexity (a loss above ~709 nats per token overflows it)."""
    return math.isfinite(loss) and loss < math.log(sys.float_info.max)


# -- training ----------------------------------------------------------------------------
@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        model: the trained model (the one passed in, or the one built).
        config: the training config.
        steps: optimizer steps done (fewer than ``config.steps`` if the loss became non-finite).
        train_losses: the loss of every step.
        evaluations: one record per validation point: ``fraction``, ``step``, ``tokens``,
            ``val_loss``, ``val_ppl``, ``train_loss`` (mean of the last 50 steps), ``elapsed_s``.
        elapsed_s: training time (of all sessions when resumed).
        out_dir: where the checkpoints and the final Hugging Face checkpoint are, if anywhere.
    """

    model: Any
    config: TrainConfig
    steps: int
    train_losses: list[float] = field(default_factory=list)
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0
    out_dir: Path | None = None

    @property
    def val_loss(self) -> float:
        """The validation loss at the end of the run (NaN if the run stopped early)."""
        last = self.evaluations[-1] if self.evaluations else None
        return last["val_loss"] if last is not None and last["fraction"] == 1.0 else float("nan")


def _model_of(model_or_arch: Any, config: TrainConfig, seed: int) -> MeRinoForCausalLM:
    import torch

    from mpsolve.merino_model._model import MeRinoForCausalLM, build

    inner = getattr(model_or_arch, "model", None)
    if isinstance(model_or_arch, MeRinoForCausalLM):
        return model_or_arch
    if isinstance(inner, MeRinoForCausalLM):
        return inner
    torch.manual_seed(seed)
    return build(model_or_arch, seed=seed, init_std=config.init_std)


def _optimizer(model: Any, config: TrainConfig) -> torch.optim.AdamW:
    import torch

    decay = [p for _, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for _, p in model.named_parameters() if p.dim() < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr, betas=config.betas,
    )


def _progress_callback(progress: bool | Callable[[int, int], None], start: int, total: int):
    """A ``(step, total)`` callback and a closer: a tqdm bar for ``True``, the user's callable, or none."""
    if callable(progress):
        return progress, lambda: None
    if not progress:
        return (lambda step, total: None), lambda: None
    from tqdm import tqdm

    bar = tqdm(total=total, initial=start, desc="training", unit="step", file=sys.stderr)
    return (lambda step, total: bar.update(step - bar.n)), bar.close


def run_files(folder: str | os.PathLike) -> list[str]:
    """The names of :data:`RUN_FILES` in ``folder``: a built or trained model's files, which
    :func:`train` and ``mpsolve build`` refuse to write beside."""
    return [name for name in RUN_FILES if (Path(folder) / name).exists()]


def check_run_folder(out_dir: str | os.PathLike, resume: bool = False) -> None:
    """Refuse an ``out_dir`` that :func:`train` could not write a run to, before any work: one that
    cannot be written, one that holds a run (unless ``resume``), or, with ``resume``, one without a
    readable checkpoint."""
    if not isinstance(out_dir, (str, os.PathLike)):
        raise ModelInputError(f"out_dir must be a folder path, got {out_dir!r}")
    # before the first step: a file there (or a read-only folder) stopped the run at its first save
    check_writable(Path(out_dir) / "training.json", "out_dir")
    held = run_files(out_dir)
    if held and not resume and not (Path(out_dir) / CHECKPOINT_DIR / "state.json").is_file():
        raise ModelInputError(f"out_dir {str(out_dir)!r} already holds a model's or run's files ({held[0]}) but no "
                              "checkpoint to resume (checkpoint/state.json; a built model has none): give a new "
                              "out_dir")
    if held and not resume:
        raise ModelInputError(f"out_dir {str(out_dir)!r} already holds a run ({held[0]}): resume=True (mpsolve "
                              "train --resume) continues an interrupted one; give a new out_dir to start another")
    if resume:
        _checked_state(Path(out_dir) / CHECKPOINT_DIR)


def check_train_setup(model_or_arch: Any, config: TrainConfig, seed: int = 0, device: str | None = None
                      ) -> Architecture:
    """Refuse, before the corpus is read (and a tokenizer trained on it), what :func:`train` would
    refuse of the design, the recipe and the seed: a ``seed`` outside ``0 .. 2**32 - 1``, a
    ``config.seq_len`` above the design's ``max_positions``, and on the CPU a training step that
    cannot fit in the free memory. Returns the design's architecture.

    Args:
        model_or_arch: a model, or an architecture / preset name / JSON file, as :func:`train` takes it.
        config: the recipe.
        seed: seed of a built model's initialisation.
        device: where :func:`train` will train (its default: the model's device, else CUDA when present).
    """
    import torch

    from mpsolve.merino_model._generation import torch_seed
    from mpsolve.merino_model._model import MeRinoForCausalLM

    torch_seed(seed, optional=False)
    model = next((m for m in (model_or_arch, getattr(model_or_arch, "model", None))
                  if isinstance(m, MeRinoForCausalLM)), None)
    arch = model.architecture if model is not None else resolve_architecture(model_or_arch)
    if config.seq_len > arch.max_positions:
        raise ModelInputError(f"seq_len={config.seq_len} exceeds the model's max_positions={arch.max_positions}: "
                              f"give seq_len <= {arch.max_positions} (mpsolve train --seq-len) or a design with a "
                              "larger max_positions")
    if device is None:
        device = next(model.parameters()).device if model is not None else (
            "cuda" if torch.cuda.is_available() else "cpu")
    if _check_device(device).type == "cpu":
        _check_step_memory(arch, config, model if model is not None and next(model.parameters()).is_cpu else None)
    return arch


def _check_step_memory(arch: Architecture, config: TrainConfig, model: Any = None) -> None:
    """Refuse a CPU training step that cannot fit in the free memory. Counted: what a step must hold at once, and no
    more, so that nothing that fits is refused: the weights (unless ``model`` holds them already: float32 when built)
    and, from the second step on, the first step's gradients (set to ``None`` only after the forward pass) and AdamW's
    two moments; the logits and their float32 log-softmax, ``batch x (seq_len - 1) x vocab_size`` values each; and
    of the activations kept for the backward pass, only each layer application's FFN hidden values (the
    down-projection's input)."""
    weights = [p for p in model.parameters() if p.requires_grad] if model is not None else []
    size = weights[0].element_size() if weights else 4
    held = sum(p.numel() * p.element_size() for p in weights) if weights else size * int(ParamsCost().of(arch))
    state = held * (3 * (config.steps > 1) + (not weights))
    tokens = config.batch_size * config.seq_len
    logits = (size + 4) * config.batch_size * (config.seq_len - 1) * arch.vocab_size
    hidden = size * tokens * sum(block.layers * block.ffn_dim for block in arch.blocks)
    check_memory(state + logits + hidden, f"a training step of batch_size {config.batch_size} x seq_len "
                 f"{config.seq_len} on the CPU", "lower batch_size or seq_len (mpsolve train --batch-size, --seq-len), "
                 "or train a smaller design", ModelInputError)


def train(
    model_or_arch: Any,
    corpus: Corpus | str | os.PathLike,
    config: TrainConfig | None = None,
    *,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool | Callable[[int, int], None] = True,
    seed: int = 0,
    save_every: int | None = None,
    device: str | None = None,
) -> TrainResult:
    """Train a MeRino model on a corpus from scratch (or resume a run).

    Args:
        model_or_arch: a model to train in place, or an architecture / preset name / JSON file
            to build with ``seed`` (its ``vocab_size`` must cover the corpus's: 256 for bytes).
        corpus: a :class:`Corpus` (bytes, or BPE after :meth:`Corpus.encode`) or a UTF-8 text
            file / folder (bytes; see :func:`load_corpus`).
        config: the recipe (default :class:`TrainConfig`).
        out_dir: where to save: a resumable checkpoint (``checkpoint/``: safetensors weights,
            the AdamW state, tensors only, loaded with ``weights_only=True``, and a JSON state) at
            every validation point and every ``save_every`` steps, ``training.json`` (config
            and evaluations) and, at the end, a Hugging Face
            checkpoint (``config.json`` + ``model.safetensors``; needs the ``[hf]`` extra) with
            its tokenizer (BPE or bytes: ``tokenizer.json`` + ``tokenizer_config.json``, what
            ``AutoTokenizer.from_pretrained`` loads). A folder that already holds a run or a
            checkpoint is refused unless ``resume``.
        resume: continue from ``out_dir``'s checkpoint (same config); the run then continues
            exactly as if it had not been interrupted.
        progress: a progress bar (``True``), none (``False``), or a ``(step, total)`` callback.
        seed: seed of a built model's initialisation.
        save_every: also save the resumable checkpoint every this many steps.
        device: where to train; default the model's device for a model, else CUDA when present.

    Raises:
        TrainingInterrupted: Ctrl-C (in the main thread) during a run with an ``out_dir``: the
            step under way finishes and the checkpoint is saved first, so ``resume=True``
            continues it exactly (a second Ctrl-C stops at once).
    """
    import torch

    from mpsolve.merino_model._errors import require

    config = TrainConfig() if config is None else config
    if not isinstance(config, TrainConfig):
        raise ModelInputError(f"config must be a TrainConfig, got {type(config).__name__}: TrainConfig(tokens=...)")
    check_integer(save_every, "save_every", 1, ModelInputError, optional=True)
    resume = check_bool(resume, "resume", ModelInputError)  # a truthy string must not resume, silently
    if not callable(progress):
        check_bool(progress, "progress (True, False or a (step, total) callback)", ModelInputError)
    if device is not None:
        _check_device(device)
    arch = check_train_setup(model_or_arch, config, seed, device)
    if resume and out_dir is None:
        raise ModelInputError("resume=True needs the out_dir of the interrupted run")
    if out_dir is not None:
        require("transformers", "hf")
        require("safetensors", "hf")
        check_run_folder(out_dir, resume)
    corpus = load_corpus(corpus)  # after the checks above: a large corpus takes a while to read
    # a design given by name or file is built from the architecture checked above (the file is read once)
    model = _model_of(model_or_arch if isinstance(model_or_arch, torch.nn.Module) else arch, config, seed)
    arch = model.architecture
    if arch.vocab_size < corpus.vocab_size:
        raise ModelInputError(f"the corpus has {corpus.vocab_size} token ids but the model's vocab_size is "
                              f"{arch.vocab_size}; build the model with vocab_size={corpus.vocab_size}")
    if device is None and not isinstance(model_or_arch, torch.nn.Module):
        device = "cuda" if torch.cuda.is_available() else None
    if device is not None:
        model.to(device)
    device = next(model.parameters()).device
    opt = _optimizer(model, config)
    starts = batch_starts(len(corpus.train), config)
    if config.checkpoints:  # found at the first validation point, it lost the steps before
        _check_validation_text(len(corpus.val), config.seq_len)
    # fractions that round to one step keep the largest: the last step's validation is the final one (fraction 1)
    marks = {max(1, round(f * config.steps)): f for f in sorted(config.checkpoints)}
    result = TrainResult(model=model, config=config, steps=0, out_dir=Path(out_dir) if out_dir is not None else None)
    if resume:
        _load_checkpoint(result, opt, corpus, seed)
    report, close = _progress_callback(progress, result.steps, config.steps)
    model.train()
    t0 = time.perf_counter() - result.elapsed_s
    # a Ctrl-C ends the step it arrives in, saves the checkpoint (a consistent one) and stops the run
    doing = "the first step"  # where a step ran out of memory (validation says so itself)
    with _deferred_ctrl_c(out_dir is not None) as interrupted, allocation_failures_as(ModelInputError, lambda failed: (
            f"training ran out of memory in {doing} ({failed}): lower batch_size or seq_len (mpsolve train "
            "--batch-size, --seq-len), or train a smaller design")):
        try:
            for step in range(result.steps, config.steps):
                doing = f"step {step + 1} of {config.steps}"
                for group in opt.param_groups:
                    group["lr"] = learning_rate(step, config)
                x = _windows(corpus.train, starts[step], config.seq_len, device)
                loss = model(x, labels=x).loss
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                opt.step()
                result.train_losses.append(float(loss.detach()))
                if not math.isfinite(result.train_losses[-1]):
                    raise ModelInputError(f"training diverged at step {step + 1} (loss {result.train_losses[-1]}): "
                                          f"lower the learning rate (lr={config.lr}) and {_START_AGAIN}")
                result.steps = step + 1
                if step + 1 in marks:
                    val = validation_loss(model, corpus.val, config.seq_len, config.eval_tokens)
                    if not _has_perplexity(val):
                        raise ModelInputError(f"training diverged by step {step + 1} (validation loss {val:.6g}): "
                                              f"lower the learning rate (lr={config.lr}) and {_START_AGAIN}")
                    result.evaluations.append({
                        "fraction": marks[step + 1], "step": step + 1,
                        "tokens": (step + 1) * config.seq_len * config.batch_size, "val_loss": val,
                        "val_ppl": math.exp(val), "train_loss": float(np.mean(result.train_losses[-50:])),
                        "elapsed_s": time.perf_counter() - t0,
                    })
                result.elapsed_s = time.perf_counter() - t0
                stop = interrupted()
                if out_dir is not None and (step + 1 in marks or (save_every and (step + 1) % save_every == 0)
                                            or stop):
                    _save_checkpoint(result, opt, corpus, seed)
                report(step + 1, config.steps)
                if stop:
                    raise TrainingInterrupted(result.steps, config.steps, result.out_dir)
        finally:
            close()
    result.elapsed_s = time.perf_counter() - t0
    if out_dir is not None:
        _save_final(result, corpus, seed)
    return result


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run with an ``out_dir`` after saving its checkpoint: ``train(..., resume=True)``
    continues it exactly."""

    def __init__(self, steps: int, total: int, out_dir: Path | None) -> None:
        super().__init__(f"training stopped at step {steps} of {total}; its checkpoint in {str(out_dir)!r} resumes it "
                         "(mpsolve train --resume, or train(..., resume=True))")
        self.steps, self.total, self.out_dir = steps, total, out_dir

    def __reduce__(self) -> tuple[Any, ...]:  # from a worker process to its parent (a benchmark's pool)
        return type(self), (self.steps, self.total, self.out_dir)


@contextlib.contextmanager
def _deferred_ctrl_c(defer: bool) -> Iterator[Callable[[], bool]]:
    """Whether Ctrl-C arrived, polled where a checkpoint is consistent (between steps: a
    ``KeyboardInterrupt`` inside ``opt.step()`` would leave half the parameters updated). A second
    Ctrl-C stops at once. Only with ``defer``, where Python's default handler is installed, in the
    main thread; elsewhere Ctrl-C raises as usual."""
    seen: list[bool] = []

    def handler(signum: int, frame: Any) -> None:
        if seen:
            signal.default_int_handler(signum, frame)
        seen.append(True)
        print("\nfinishing the step to save a resumable checkpoint (Ctrl-C again stops at once, losing the steps "
              "since the last save)", file=sys.stderr)

    with on_ctrl_c(handler) if defer else contextlib.nullcontext():
        yield lambda: bool(seen)


# -- checkpoints -------------------------------------------------------------------------
def _check_device(device: Any) -> Any:
    """``device`` as a ``torch.device`` that this machine has, else a one-line error."""
    import torch

    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ModelInputError(f"device must be a torch device such as 'cpu' or 'cuda', got {device!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelInputError("device 'cuda' asked for, but torch sees no CUDA GPU here: train on 'cpu'")
    return device


def _state(result: TrainResult, corpus: Corpus, seed: int) -> dict[str, Any]:
    return {
        "step": result.steps, "config": result.config.to_dict(), "seed": seed, "corpus": corpus.describe(),
        "architecture": result.model.architecture.to_dict(), "train_losses": result.train_losses,
        "evaluations": result.evaluations, "elapsed_s": result.elapsed_s,
        "tokenizer": "bytes" if corpus.tokenizer is None else _tokenizer_id(corpus.tokenizer),
    }


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _save_checkpoint(result: TrainResult, opt: torch.optim.Optimizer, corpus: Corpus, seed: int) -> None:
    """Weights (safetensors) and the AdamW state (tensors only) under new names, then the JSON state.

    The state names the files it belongs to and replaces the previous one atomically, so a run
    killed while saving resumes from the previous checkpoint, which is deleted only afterwards.
    """
    import torch
    from safetensors.torch import save_model

    folder = result.out_dir / CHECKPOINT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    files = {"weights": f"model-{result.steps}.safetensors", "optimizer": f"optimizer-{result.steps}.pt"}
    save_model(result.model, str(folder / files["weights"]))
    torch.save(opt.state_dict(), folder / files["optimizer"])
    _write_json(folder / "state.json", {**_state(result, corpus, seed), "files": files})
    for path in [*folder.glob("model-*.safetensors"), *folder.glob("optimizer-*.pt")]:
        if path.name not in files.values():
            path.unlink()


def _damaged(path: Path, what: str) -> ModelInputError:
    return ModelInputError(f"cannot resume: {str(path)!r} is damaged ({what}); {_START_AGAIN}")


def _checked_state(folder: Path) -> dict[str, Any]:
    """The saved ``state.json`` of a run, its fields' types validated before anything in it is used."""
    from mpsolve.utils.files import parse_data, read_text_bounded

    path = folder / "state.json"
    if not path.is_file():
        held = run_files(folder.parent)  # a model there: starting again without --resume is refused as well
        again = (f"start again in a new out_dir (its {held[0]} is not written over)" if held
                 else "start again without --resume")
        raise ModelInputError(f"cannot resume: no readable checkpoint in {str(folder)!r} (no state.json); {again}")
    try:
        state = parse_data(read_text_bounded(path, "training checkpoint state", ModelInputError), "json",
                           ModelInputError, "not JSON")
    except ModelInputError as exc:
        raise _damaged(path, str(exc)) from None

    if not isinstance(state, dict):
        raise _damaged(path, "not a JSON object")
    kinds = {"step": int, "seed": int, "config": dict, "corpus": dict, "architecture": dict, "train_losses": list,
             "evaluations": list, "elapsed_s": (int, float), "files": dict}
    for key, kind in kinds.items():
        if not isinstance(state.get(key), kind) or isinstance(state.get(key), bool):
            raise _damaged(path, f"{key!r} missing or not a {getattr(kind, '__name__', 'number')}")
    if "tokenizer" not in state:
        raise _damaged(path, "'tokenizer' missing")
    numbers = [*state["train_losses"], state["elapsed_s"]]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in numbers) \
            or state["elapsed_s"] < 0:
        raise _damaged(path, "losses and elapsed time must be finite numbers")
    fields = ("fraction", "step", "tokens", "val_loss", "val_ppl", "train_loss", "elapsed_s")
    if not all(isinstance(e, dict) and sorted(e) == sorted(fields) and all(
            isinstance(e[k], (int, float)) and not isinstance(e[k], bool) and not math.isnan(e[k]) for k in fields)
            for e in state["evaluations"]):
        raise _damaged(path, f"evaluations must be objects of the numbers {', '.join(fields)}")
    files = state["files"]
    step = state["step"]
    for key, pattern in (("weights", rf"model-{step}\.safetensors"), ("optimizer", rf"optimizer-{step}\.pt")):
        if not isinstance(files.get(key), str) or not re.fullmatch(pattern, files[key]):
            raise _damaged(path, f"files.{key} must name the step's file {pattern.replace(chr(92), '')}")
    if len(state["train_losses"]) != step:
        raise _damaged(path, f"{len(state['train_losses'])} training losses for {step} steps")
    return state


def _load_checkpoint(result: TrainResult, opt: torch.optim.Optimizer, corpus: Corpus, seed: int) -> None:
    import torch
    from safetensors.torch import load_model

    folder = result.out_dir / CHECKPOINT_DIR
    state = _checked_state(folder)
    now = "bytes" if corpus.tokenizer is None else _tokenizer_id(corpus.tokenizer)
    config = result.config.to_dict()

    def split(described: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in described.items() if k not in ("name", "tokenizer")}

    mismatch = [
        name for name, saved, current in [
            ("config", state["config"], config),
            # its bytes and, in the same tokens, the sizes of their split (another block_size holds out other
            # text); not where it was read from
            ("corpus", split(state["corpus"]) if state["tokenizer"] == now else state["corpus"].get("fingerprint"),
             split(corpus.describe()) if state["tokenizer"] == now else corpus.fingerprint),
            ("tokenizer", state["tokenizer"], now),
            ("architecture", state["architecture"], result.model.architecture.to_dict()),
            ("seed", state["seed"], seed),
        ] if saved != current
    ]
    if mismatch:
        fields = [f"{k} {shown(state['config'].get(k))} there, {v!r} now" for k, v in config.items()
                  if state["config"].get(k) != v]
        detail = f" ({'; '.join(fields)})" if fields else ""
        verb = "differs" if len(mismatch) == 1 else "differ"
        raise ModelInputError(f"cannot resume from {str(folder)!r}: its {' and '.join(mismatch)} {verb} from this "
                              f"run's{detail}; resume with the run's settings or {_START_AGAIN}")
    if not 0 <= state["step"] <= result.config.steps:
        raise _damaged(folder / "state.json", f"step {state['step']} outside 0..{result.config.steps}")
    for name in (state["files"]["weights"], state["files"]["optimizer"]):  # a FIFO would block the loading
        if why := missing_reason(folder / name):
            raise ModelInputError(f"cannot resume: {str(folder / name)!r} {why} (a checkpoint's weights and "
                                  f"optimizer state are regular files); {_START_AGAIN}")
    device = str(next(result.model.parameters()).device)
    try:
        load_model(result.model, str(folder / state["files"]["weights"]), device=device)
        with warnings.catch_warnings():  # torch warns about legacy (non-zip) files it then refuses anyway
            warnings.simplefilter("ignore", UserWarning)
            saved = torch.load(folder / state["files"]["optimizer"], weights_only=True)
        recipe = [{k: v for k, v in group.items() if k != "params"} for group in opt.param_groups]
        opt.load_state_dict(saved)
        for group, settings in zip(opt.param_groups, recipe):  # the file's moments; the config's betas, eps, decay
            group.update(settings)
    except Exception as exc:  # OSError, RuntimeError, EOFError, UnpicklingError, ...: the files are damaged
        first = first_line(exc)
        if "weights_only" in str(exc) or not first:  # torch's advice to load with weights_only=False would run code
            first = f"not a tensor file: {type(exc).__name__}"
        raise ModelInputError(f"cannot resume from {str(folder)!r}: its weights or optimizer state are damaged "
                              f"({first[:200]}); {_START_AGAIN}") from None
    # load_state_dict checks the number of parameters only: another model's moments failed in the first step
    misfit = next(((name, tuple(value.shape), tuple(p.shape)) for group in opt.param_groups for p in group["params"]
                   for name, value in opt.state.get(p, {}).items()
                   if isinstance(value, torch.Tensor) and value.dim() and value.shape != p.shape), None)
    if misfit is not None:
        raise ModelInputError(f"cannot resume from {str(folder)!r}: its optimizer state "
                              f"{state['files']['optimizer']!r} does not fit the model ({misfit[0]} of shape "
                              f"{misfit[1]} for a parameter of shape {misfit[2]}): it is another run's or damaged; "
                              f"{_START_AGAIN}")
    # a finished run's resume trains no step and saves these weights over the final model: they must be usable
    broken = [k for k, v in result.model.state_dict().items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if broken:
        raise ModelInputError(f"cannot resume from {str(folder)!r}: its weights are not finite (NaN or inf) in "
                              f"{', '.join(broken[:3])}: the file {state['files']['weights']!r} is damaged; "
                              f"{_START_AGAIN}")
    result.steps = state["step"]
    result.train_losses = list(state["train_losses"])
    result.evaluations = list(state["evaluations"])
    result.elapsed_s = float(state["elapsed_s"])


def _save_final(result: TrainResult, corpus: Corpus, seed: int) -> None:
    """The Hugging Face checkpoint of the trained model and ``training.json`` beside it."""
    from mpsolve.merino_model._hf import MeRinoHFForCausalLM, without_hf_progress_bars
    from mpsolve.merino_model._lm_eval import save_tokenizer

    with without_hf_progress_bars():  # training shows its own progress, or none
        MeRinoHFForCausalLM.from_model(result.model).save_pretrained(result.out_dir)
    save_tokenizer(result.out_dir, corpus.tokenizer, result.model.architecture.max_positions)
    _write_json(result.out_dir / "training.json", {k: v for k, v in _state(result, corpus, seed).items()
                                                    if k != "train_losses"})
