"""Hugging Face ``transformers`` integration: config, ``PreTrainedModel`` wrapper, Auto registration.

The HF model holds the pure-PyTorch :class:`MeRinoForCausalLM` as ``.model`` (one implementation
of the network) and adds what ``transformers`` expects: ``save_pretrained``/``from_pretrained``
with safetensors and the tied LM head, ``generate`` through ``GenerationMixin`` with a
``DynamicCache`` (one slot per layer application), ``Trainer``-compatible losses, and the Auto
classes (``model_type="merino"``).
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM, GenerationMixin, PreTrainedConfig, PreTrainedModel
from transformers.initialization import guard_torch_init_functions
from transformers.modeling_outputs import CausalLMOutputWithPast

from mpsolve.merino_model._errors import CheckpointMismatchError, ModelInputError, check_init_std
from mpsolve.merino_model._generation import torch_seed
from mpsolve.merino_model._model import (
    MeRinoForCausalLM,
    causal_lm_loss,
    check_fits_in_memory,
    resolve_architecture,
)
from mpsolve.spaces import MODEL_CONSTANTS, Architecture, get_architecture, model_constants
from mpsolve.utils.errors import ArchitectureError, shown, shown_name, warn
from mpsolve.utils.files import missing_reason

__all__ = ["MeRinoConfig", "MeRinoHFForCausalLM", "register", "without_hf_progress_bars"]


_DEFAULT_BLOCKS = [b.to_dict() for b in get_architecture("merino-64m").blocks]
#: safetensors header key holding the architecture the weights were saved for: the fields that
#: shapes cannot reveal (activation, head size, the layer count of a shared block) are checked
ARCHITECTURE_METADATA = "mpsolve_architecture"


class MeRinoConfig(PreTrainedConfig):
    """A MeRino architecture as a ``transformers`` config (its fields are :class:`Architecture`'s).

    ``num_hidden_layers`` is derived: the number of layer applications (KV-cache slots).
    ``initializer_range`` and ``init_seed`` drive the initialisation of a fresh model.
    """

    model_type = "merino"
    attribute_map = {"hidden_size": "embed_proj_dim", "max_position_embeddings": "max_positions"}

    blocks: list[dict[str, Any]] | None = None
    vocab_size: int = 50272
    embed_proj_dim: int = 768
    max_positions: int = 2048
    head_dim: int = 64
    shared: bool = True
    activation: str = "gelu"
    num_hidden_layers: int | None = None
    initializer_range: float = 0.02
    init_seed: int | None = 0
    use_cache: bool = True
    tie_word_embeddings: bool = True
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    pad_token_id: int | None = None

    def __post_init__(self, **kwargs: Any) -> None:
        if self.blocks is None:
            self.blocks = [dict(b) for b in _DEFAULT_BLOCKS]
        if not self.tie_word_embeddings:
            raise ArchitectureError(
                "MeRino ties the token embedding with the LM head; tie_word_embeddings must be true"
            )
        for name, check in (("initializer_range", check_init_std), ("init_seed", torch_seed)):
            try:  # as Python values (a numpy std is no JSON)
                setattr(self, name, check(getattr(self, name)))
            except ModelInputError as exc:  # named as the config field, not as a function argument
                raise ModelInputError(f"config {name}: {exc}") from None
        arch = self.architecture
        self.blocks = [b.to_dict() for b in arch.blocks]
        self.num_hidden_layers = arch.depth
        super().__post_init__(**kwargs)

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], **kwargs: Any) -> Any:
        """``PreTrainedConfig.from_dict``, refusing a saved config without ``blocks`` or a model constant.

        ``MeRinoConfig()`` defaults to MeRino-64M (transformers builds default configs), but a loaded
        config without its blocks or, say, its ``vocab_size`` would describe another model than its weights.

        Raises:
            CheckpointMismatchError: ``blocks`` or a field of :data:`MODEL_CONSTANTS` is missing or null.
        """
        if isinstance(config_dict, dict):
            given = {**config_dict, **kwargs}
            missing = [name for name in ("blocks", *MODEL_CONSTANTS) if given.get(name) is None]
            if missing:
                named = ", ".join("blocks (the model's blocks of layers)" if n == "blocks" else n for n in missing)
                raise CheckpointMismatchError(f"config has no {named}: re-save the checkpoint with mpsolve "
                                              "train/build or save_pretrained, or restore its config.json")
        return super().from_dict(config_dict, **kwargs)

    @property
    def architecture(self) -> Architecture:
        """The :class:`Architecture` this config describes."""
        return Architecture.from_dict({"blocks": self.blocks, **model_constants(self)})

    @classmethod
    def from_architecture(cls, architecture: Architecture | str | Any, **kwargs: Any) -> MeRinoConfig:
        """The config of an architecture (or preset name / JSON object); ``kwargs`` override fields."""
        return cls(**{**resolve_architecture(architecture).to_dict(), **kwargs})


class MeRinoHFForCausalLM(PreTrainedModel, GenerationMixin):
    """A MeRino language model with the ``transformers`` API (``AutoModelForCausalLM``-loadable)."""

    config_class = MeRinoConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    _tied_weights_keys = {"model.lm_head.weight": "model.embed_tokens.weight"}
    _no_split_modules = ["MeRinoBlock"]
    _supports_sdpa = True
    supports_gradient_checkpointing = False

    def __init__(self, config: MeRinoConfig) -> None:
        super().__init__(config)
        if torch.empty(0).device.type != "meta":  # from_pretrained lays the model out on meta, checked before
            check_fits_in_memory(config.architecture)
        self.model = MeRinoForCausalLM(config.architecture)
        self.post_init()

    @classmethod
    def from_model(cls, model: MeRinoForCausalLM, **config_kwargs: Any) -> MeRinoHFForCausalLM:
        """Wrap a pure-PyTorch model (sharing its weights) to save or evaluate it with ``transformers``."""
        config = MeRinoConfig.from_architecture(model.architecture, **config_kwargs)
        with torch.device("meta"):
            hf = cls(config)
        hf.model = model
        hf.tie_weights()
        return hf

    @torch.no_grad()
    def initialize_weights(self) -> None:
        """Initialise the whole network with the seeded generator of the pure model.

        ``transformers`` guards the init functions, so weights loaded from a checkpoint stay as loaded.
        """
        with guard_torch_init_functions():
            self.model.init_weights(std=self.config.initializer_range, seed=self.config.init_seed)

    def get_input_embeddings(self) -> torch.nn.Embedding:
        return self.model.embed_tokens

    def set_input_embeddings(self, value: torch.nn.Embedding) -> None:
        self.model.embed_tokens = value

    def get_output_embeddings(self) -> torch.nn.Linear:
        return self.model.lm_head

    def set_output_embeddings(self, value: torch.nn.Linear) -> None:
        self.model.lm_head = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: Any | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int = 0,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Any | None = None,
        inputs_embeds: torch.Tensor | None = None,
        return_dict: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        num_items_in_batch: int | torch.Tensor | None = None,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast | tuple:
        """The HF causal-LM forward; ``past_key_values`` is accepted as an alias of ``cache``."""
        if input_ids is None or inputs_embeds is not None:
            raise ModelInputError("MeRino takes input_ids (inputs_embeds are not supported)")
        if output_attentions or output_hidden_states:
            raise ModelInputError("MeRino does not return attentions or hidden states")
        if cache is not None and past_key_values is not None:
            raise ModelInputError("pass the cache as either `cache` or `past_key_values`, not both")
        cache = cache if cache is not None else past_key_values
        use_cache = (self.config.use_cache and not self.training) if use_cache is None else use_cache
        if use_cache and cache is None:
            from transformers import DynamicCache

            cache = DynamicCache()
        out = self.model(
            input_ids,
            attention_mask=attention_mask,
            past_key_values=cache,
            use_cache=bool(use_cache),
            # checked there: int() made 2.7 keep 2 positions, True 1 and "2" 2, silently
            logits_to_keep=int(logits_to_keep) if isinstance(logits_to_keep, torch.Tensor) else logits_to_keep,
            position_ids=position_ids,
        )
        loss = causal_lm_loss(out.logits, labels, num_items_in_batch) if labels is not None else None
        result = CausalLMOutputWithPast(loss=loss, logits=out.logits, cache=out.past_key_values)
        return result if return_dict is not False else result.to_tuple()

    def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, **kwargs: Any) -> None:
        """``PreTrainedModel.save_pretrained``; the weight files also record the architecture."""
        if any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in self.modules()):
            raise ModelInputError("a quantised model cannot be saved (its int8 weights have no safetensors form): "
                                  "save the float32 model and quantize it again after loading")
        _check_weight_files(Path(save_directory), ModelInputError, "remove it or save to another folder")
        super().save_pretrained(save_directory, *args, **kwargs)
        from safetensors import safe_open
        from safetensors.torch import load_file, save_file

        stamp = json.dumps(self.config.architecture.to_dict(), sort_keys=True)
        for path in sorted(Path(save_directory).glob("*.safetensors")):
            with safe_open(str(path), framework="pt") as fh:
                metadata = dict(fh.metadata() or {})
            tmp = path.with_name(path.name + ".tmp")
            save_file(load_file(str(path)), str(tmp), metadata={**metadata, ARCHITECTURE_METADATA: stamp})
            os.replace(tmp, path)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *args: Any, **kwargs: Any):
        """``PreTrainedModel.from_pretrained`` that refuses weights disagreeing with the config.

        Pass ``ignore_mismatched_sizes=True`` to re-initialise disagreeing tensors instead. Only
        safetensors weights are read (never pickled ``.bin`` files).

        Raises:
            CheckpointMismatchError: naming the first tensors whose names, shapes or (non-float)
                types differ from the model the config describes, weights that are not finite, or a
                local folder without safetensors weights.
        """
        want_info = kwargs.pop("output_loading_info", False)
        lenient = kwargs.get("ignore_mismatched_sizes", False)
        path = Path(pretrained_model_name_or_path)
        if path.exists() and not path.is_dir():  # transformers would torch.load it
            raise CheckpointMismatchError(f"checkpoint {str(path)!r} is a file; give the checkpoint folder (the one "
                                          "holding config.json and model.safetensors)")
        if not path.exists() and (path.is_absolute() or str(pretrained_model_name_or_path).startswith((".", "~"))):
            raise CheckpointMismatchError(f"checkpoint folder {str(path)!r} does not exist; give a folder that mpsolve "
                                          "train or build wrote")
        if path.is_dir() and not any(path.glob("*.safetensors")):
            raise CheckpointMismatchError(f"checkpoint {str(path)!r} has no model.safetensors: no weights to load "
                                          "(save with mpsolve train/build or save_pretrained; pickle .bin weights "
                                          "are not read)")
        if path.is_dir():
            _check_weight_files(path, CheckpointMismatchError, "replace it with the weights file the run saved, or "
                                "move it out of the folder")
            _check_config_depth(path)
        recorded = _check_before_loading(path) if path.is_dir() and not lenient else None
        kwargs["use_safetensors"] = True  # a pickled .bin could run code when loaded
        # a config's attn_implementation names a Hub kernel that transformers would import: the caller's, or none
        kwargs.setdefault("attn_implementation", None)
        kwargs["ignore_mismatched_sizes"] = True  # report mismatches as loading info; checked below
        model, info = super().from_pretrained(pretrained_model_name_or_path, *args, output_loading_info=True, **kwargs)
        problems = [
            *(
                f"tensor {key}: checkpoint shape {tuple(saved)} but the config needs {tuple(needed)}"
                for key, saved, needed in sorted(info.get("mismatched_keys", ()))
            ),
            *(f"tensor {key} is missing from the checkpoint" for key in sorted(info.get("missing_keys", ()))),
            *(f"unexpected tensor {key} in the checkpoint" for key in sorted(info.get("unexpected_keys", ()))),
        ]
        if problems and not lenient:
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            detail = "; ".join(problems[:3]) + more
            raise CheckpointMismatchError(_mismatch_message(pretrained_model_name_or_path, detail))
        if recorded is not None:  # config.json was checked; a config= or field override is checked here
            differing = _differing(recorded, model.config.architecture)
            if differing:
                raise CheckpointMismatchError(f"checkpoint {str(path)!r}: the loading config's {differing} "
                                              "differ from the architecture the weights were saved for; drop the "
                                              "override (config= or a config field passed to from_pretrained)")
        broken = [k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.isfinite(v).all()]
        if broken:
            raise CheckpointMismatchError(f"checkpoint {str(pretrained_model_name_or_path)!r} holds weights that are "
                                          f"not finite (NaN or inf) in {', '.join(broken[:3])}: a diverged or damaged "
                                          "run; retrain it (a lower learning rate) or restore its model.safetensors")
        return (model, info) if want_info else model


#: config keys with which transformers loads code a file names (a Hub kernel repository, a quantisation backend)
_LOADING_CHOICES = ("attn_implementation", "_attn_implementation", "_attn_implementation_internal",
                    "experts_implementation", "_experts_implementation", "quantization_config")

#: the ``dtype`` a config may name (transformers instantiates the model under it)
_CONFIG_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


#: levels of nesting a checkpoint's config files may have: transformers copies them recursively (a RecursionError
#: at some 300 levels); mpsolve writes 3
_CONFIG_DEPTH = 64


def _check_config_depth(path: Path) -> None:
    """Refuse a ``config.json`` or ``generation_config.json`` of ``path`` nested deeper than :data:`_CONFIG_DEPTH`
    levels (a file that does not parse is left to the loading, which says so)."""
    from mpsolve.utils.files import nesting_depth, read_text_bounded

    files = {"config.json": ("config file", "remove the deep values from it (mpsolve writes 3 levels)"),
             "generation_config.json": ("generation config", "delete it (generation falls back to config.json)")}
    for name, (what, way_out) in files.items():
        file = path / name
        if not file.is_file():
            continue
        text = read_text_bounded(file, what, CheckpointMismatchError)
        try:
            deep = nesting_depth(json.loads(text), _CONFIG_DEPTH)
        except RecursionError:  # too deep for json itself
            deep = _CONFIG_DEPTH + 1
        except ValueError:
            continue
        if deep > _CONFIG_DEPTH:
            raise CheckpointMismatchError(f"checkpoint {str(path)!r}: {name} is nested too deeply to read (over "
                                          f"{_CONFIG_DEPTH} levels): {way_out}")


def _check_weight_files(folder: Path, error: type[Exception], way_out: str) -> None:
    """Refuse a ``*.safetensors`` of ``folder`` that is not a regular file (a link to one is fine) before
    safetensors opens it: it waits forever on a FIFO."""
    for file in sorted(folder.glob("*.safetensors")):
        if why := missing_reason(file):
            raise error(f"weights file {str(file)!r} {why}; {way_out}")


def _check_before_loading(path: Path) -> str | None:
    """Refuse a local checkpoint whose weights disagree with its config, before allocating anything.

    Compares the tensor shapes in the safetensors headers with the model the config describes
    (laid out on the ``meta`` device), the architecture recorded at saving with the config's,
    and the model's size with the free memory. Returns that record (``None`` where the weights
    hold none).
    """
    from safetensors import safe_open

    from mpsolve.utils.files import parse_data, read_text_bounded

    config = path / "config.json"
    if not config.is_file():
        raise CheckpointMismatchError(f"checkpoint {str(path)!r} has no config.json: give a folder that mpsolve "
                                      "train or build wrote")
    # read once, as data: transformers would read a list, or another model type with a warning only
    raw = parse_data(read_text_bounded(config, "config file", CheckpointMismatchError), "json",
                     CheckpointMismatchError, f"checkpoint {str(path)!r} has an unreadable config")
    kind = raw.get("model_type", MeRinoConfig.model_type) if isinstance(raw, dict) else None
    if kind != MeRinoConfig.model_type:
        found = f"model_type {shown(kind)}" if isinstance(raw, dict) else f"a JSON {type(raw).__name__}"
        raise CheckpointMismatchError(f"checkpoint {str(path)!r} is not a MeRino checkpoint ({config.name} holds "
                                      f"{found}); give a folder that mpsolve train or build wrote")
    for key in ("dtype", "torch_dtype"):  # transformers builds the model under it, and fails on a non-float one
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or getattr(torch, value, None) not in _CONFIG_DTYPES):
            raise CheckpointMismatchError(
                f"checkpoint {str(path)!r} has an unreadable config: {key} {shown(value)} is not a type the weights "
                f"can run in (float32, float16, bfloat16 or float64): edit {str(config)!r} (mpsolve writes "
                "\"float32\")")
    chosen = [key for key in _LOADING_CHOICES if key in raw]
    if chosen:
        raise CheckpointMismatchError(
            f"checkpoint {str(path)!r} has a config that sets {', '.join(chosen)}, with which transformers would load "
            f"code or kernels that the file names: mpsolve writes none; remove {'them' if len(chosen) > 1 else 'it'} "
            f"from {str(config)!r}")
    _check_generation_config(path)
    try:
        architecture = MeRinoConfig.from_dict(raw).architecture
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, CheckpointMismatchError) as exc:  # + ours
        raise CheckpointMismatchError(f"checkpoint {str(path)!r} has an unreadable config: {exc}") from None
    with torch.device("meta"):
        needed = {f"model.{k}": tuple(v.shape) for k, v in MeRinoForCausalLM(architecture).state_dict().items()}
    problems, recorded, present = [], None, set()
    for file in sorted(path.glob("*.safetensors")):
        try:
            with safe_open(str(file), framework="pt") as fh:
                recorded = (fh.metadata() or {}).get(ARCHITECTURE_METADATA, recorded)
                slices = {k: fh.get_slice(k) for k in fh.keys()}
                saved = {k: tuple(s.get_shape()) for k, s in slices.items()}
                dtypes = {k: s.get_dtype() for k, s in slices.items()}
                present |= set(saved)
        except Exception as exc:  # safetensors raises its own error types for damaged headers
            raise CheckpointMismatchError(f"checkpoint file {str(file)!r} is unreadable: {exc}") from None
        problems += [f"tensor {k} holds {dtype} values where weights are floating point"
                     for k, dtype in sorted(dtypes.items()) if not dtype.startswith(("F", "BF"))]
        problems += [f"tensor {k}: checkpoint shape {shape} but the config needs {needed[k]}"
                     for k, shape in sorted(saved.items()) if k in needed and needed[k] != shape]
    if present:
        tied = set(MeRinoHFForCausalLM._tied_weights_keys)
        problems += [f"tensor {k} is missing from the checkpoint" for k in sorted(set(needed) - present - tied)]
        problems += [f"unexpected tensor {k} in the checkpoint" for k in sorted(present - set(needed))]
    if present and recorded is None and not problems:
        warn(f"checkpoint {str(path)!r}: its weights record no architecture (they were not saved by mpsolve train, "
             "build or save_pretrained), so only their shapes were checked against config.json; head_dim, activation "
             "and a shared block's layer count are taken on trust")
    if recorded is not None and not problems:
        differing = _differing(recorded, architecture)
        if differing:
            problems.append(f"the config's {differing} differ from the architecture the weights were "
                            "saved for")
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise CheckpointMismatchError(_mismatch_message(path, "; ".join(problems[:3]) + more))
    try:
        check_fits_in_memory(architecture)
    except ModelInputError as exc:
        raise CheckpointMismatchError(f"checkpoint {str(path)!r}: {exc}") from None
    return recorded


def _differing(recorded: str, architecture: Architecture) -> str:
    """The fields of ``architecture`` that differ from the one the weights recorded (their JSON), named for an error
    (the first three, each cut: the record's keys are a file's); empty when none."""
    try:
        keys = sorted(str(k) for k, v in json.loads(recorded).items() if architecture.to_dict().get(k) != v)
    except (ValueError, AttributeError, RecursionError):  # a record nested too deeply for json
        return "(unreadable record)"
    return ", ".join(map(shown_name, keys[:3])) + (f" (and {len(keys) - 3} more)" if len(keys) > 3 else "")


def _check_generation_config(path: Path) -> None:
    """Refuse a ``generation_config.json`` that transformers' loading would fail on with its own error
    (``max_new_tokens = 0``, a string ``pad_token_id``); one it cannot parse it replaces, as before."""
    from transformers import GenerationConfig

    from mpsolve.utils.files import read_text_bounded

    file = path / "generation_config.json"
    if not file.is_file():
        return
    text = read_text_bounded(file, "generation config", CheckpointMismatchError)  # transformers reads any size
    try:
        raw = json.loads(text)  # not too deep: _check_config_depth
    except ValueError:  # transformers falls back to config.json
        return
    def failure(fields: dict[str, Any]) -> str | None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # its advice on unused sampling settings, shown again when loading
                GenerationConfig.from_dict(fields)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:  # raised by its validate()
            return " ".join(str(exc).split()) or type(exc).__name__
        return None

    if not isinstance(raw, dict) or (reason := failure(raw)) is None:
        return
    field = next((f"{shown_name(key)} {shown(value)}: " for key, value in raw.items() if failure({key: value})), "")
    raise CheckpointMismatchError(f"checkpoint {str(path)!r} has an unreadable {file.name} ({field}{reason[:200]}): "
                                  "fix that field or delete the file (mpsolve's own generation does not read it)")


def _mismatch_message(path: str | os.PathLike, detail: str) -> str:
    config = Path(path) / "config.json"
    hint = f" (edit {config} or re-export the checkpoint)" if config.is_file() else ""
    return f"checkpoint {str(path)!r} does not match its config{hint}: {detail}"


def register() -> None:
    """Register ``model_type="merino"`` with ``AutoConfig`` and ``AutoModelForCausalLM`` (idempotent)."""
    AutoConfig.register(MeRinoConfig.model_type, MeRinoConfig, exist_ok=True)
    AutoModelForCausalLM.register(MeRinoConfig, MeRinoHFForCausalLM, exist_ok=True)


register()


@contextlib.contextmanager
def without_hf_progress_bars() -> Iterator[None]:
    """transformers' own progress bars off within the block (its "Writing model shards" bar of a
    one-file checkpoint, under a command that reports its own progress)."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()
