"""Semantic IDs: quantizers, ID schemes, collision handling and diagnostics.

Entry points: :func:`build_ids` (library), ``semid ids build|inspect`` (CLI).
"""

from __future__ import annotations

from semid.ids.base import (
    QUANTIZERS,
    Quantizer,
    QuantizerFitError,
    get_quantizer_class,
    load_quantizer,
    make_quantizer,
)
from semid.ids.build import BuiltIDs, build_ids, load_quantizers
from semid.ids.collisions import (
    BUCKET_ORDERS,
    COLLISION_MODES,
    DEFAULT_BUCKET_ORDER,
    DEFAULT_COLLISIONS,
    CollisionHandler,
    add_suffix,
    bucket_members,
    bucket_rank,
)
from semid.ids.schemes import DEFAULT_SCHEME, SCHEMES, Scheme
from semid.ids.types import TASKS, SemanticIDs

__all__ = [
    "BUCKET_ORDERS",
    "BuiltIDs",
    "COLLISION_MODES",
    "CollisionHandler",
    "DEFAULT_BUCKET_ORDER",
    "DEFAULT_COLLISIONS",
    "DEFAULT_SCHEME",
    "QUANTIZERS",
    "Quantizer",
    "QuantizerFitError",
    "SCHEMES",
    "Scheme",
    "SemanticIDs",
    "TASKS",
    "add_suffix",
    "bucket_members",
    "bucket_rank",
    "build_ids",
    "get_quantizer_class",
    "load_quantizer",
    "load_quantizers",
    "make_quantizer",
]
