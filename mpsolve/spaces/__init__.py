"""Search spaces, the architecture type and presets."""

from mpsolve.spaces._architecture import Architecture, Block, ffn_dim
from mpsolve.spaces._presets import ARCHITECTURES, SPACES, get_architecture, get_space, resolve_architecture
from mpsolve.spaces._space import DecodedBatch, SearchSpace

__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "Block",
    "DecodedBatch",
    "SPACES",
    "SearchSpace",
    "ffn_dim",
    "get_architecture",
    "get_space",
    "resolve_architecture",
]
