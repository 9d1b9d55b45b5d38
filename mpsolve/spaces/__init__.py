"""Search spaces, the architecture type and presets."""

from mpsolve.spaces._architecture import LIMITS, MODEL_CONSTANTS, Architecture, Block, ffn_dim, model_constants
from mpsolve.spaces._file import load_space, space_label
from mpsolve.spaces._presets import (
    ARCHITECTURES,
    SPACES,
    get_architecture,
    get_space,
    read_architecture_json,
    register_space,
    resolve_architecture,
)
from mpsolve.spaces._space import DecodedBatch, SearchSpace

__all__ = [
    "ARCHITECTURES",
    "LIMITS",
    "MODEL_CONSTANTS",
    "Architecture",
    "Block",
    "DecodedBatch",
    "SPACES",
    "SearchSpace",
    "ffn_dim",
    "get_architecture",
    "get_space",
    "load_space",
    "model_constants",
    "read_architecture_json",
    "register_space",
    "resolve_architecture",
    "space_label",
]
