"""The embedder registry and the library entry point :func:`build_embeddings`."""

from __future__ import annotations

import logging
import time
from typing import Any

from semid.config import from_dict
from semid.embed.base import Embedder, ItemEmbeddings
from semid.embed.enmf import ENMFConfig, ENMFEmbedder
from semid.embed.finetune import MultitaskConfig, MultitaskEmbedder, SearchConfig, SearchEmbedder
from semid.embed.fusion import FusedConcatEmbedder, FusedSVDEmbedder, FusionConfig
from semid.embed.hgnn import HGNNConfig, HGNNEmbedder
from semid.embed.sentence import ContentConfig, ContentEmbedder

logger = logging.getLogger(__name__)

__all__ = ["EMBEDDERS", "CONFIGS", "get_embedder", "make_config", "build_embeddings"]

EMBEDDERS: dict[str, type[Embedder]] = {
    "content": ContentEmbedder,
    "search": SearchEmbedder,
    "rec": ENMFEmbedder,
    "multitask": MultitaskEmbedder,
    "fused-concat": FusedConcatEmbedder,
    "fused-svd": FusedSVDEmbedder,
    "hgnn": HGNNEmbedder,
}

CONFIGS: dict[str, type] = {
    "content": ContentConfig,
    "search": SearchConfig,
    "rec": ENMFConfig,
    "multitask": MultitaskConfig,
    "fused-concat": FusionConfig,
    "fused-svd": FusionConfig,
    "hgnn": HGNNConfig,
}


def get_embedder(method: str) -> type[Embedder]:
    """The embedder class registered under exactly ``method``."""
    try:
        return EMBEDDERS[method]
    except KeyError:
        raise ValueError(f"unknown embedding method {method!r}; valid methods: {sorted(EMBEDDERS)}") from None


def make_config(method: str, config: dict[str, Any] | Any | None = None) -> Any:
    """The method's dataclass config from a dict (unknown keys raise) or as given."""
    get_embedder(method)
    cls = CONFIGS[method]
    if config is None:
        return cls()
    if isinstance(config, dict):
        return from_dict(cls, config, where=f"embed.{method}")
    if not isinstance(config, cls):
        raise TypeError(f"method {method!r} takes a {cls.__name__} or a dict, got {type(config).__name__}")
    return config


def build_embeddings(dataset: Any, method: str, config: dict[str, Any] | Any | None = None,
                     inputs: list[ItemEmbeddings] | None = None, seed: int = 0,
                     show_progress: bool = True) -> ItemEmbeddings:
    """Fit ``method`` on ``dataset`` and return its item embeddings (not yet saved).

    inputs: the two source embeddings for ``fused-concat`` / ``fused-svd`` (None otherwise).
    The returned ``meta`` records method, model, config, seed, data_hash and ``seconds``.
    """
    cls = get_embedder(method)
    cfg = make_config(method, config)
    if cls.n_inputs and not inputs:
        raise ValueError(f"method {method!r} needs {cls.n_inputs} input embeddings (--inputs A B)")
    if not cls.n_inputs and inputs:
        raise ValueError(f"method {method!r} takes no input embeddings; only fused-concat and fused-svd do")
    t0 = time.perf_counter()
    emb = cls(cfg, seed=seed, show_progress=show_progress).fit(dataset, inputs).embed()
    emb.meta["seconds"] = round(time.perf_counter() - t0, 2)
    logger.info("%s embeddings: %d x %d in %.1fs", method, emb.n_items, emb.dim, emb.meta["seconds"])
    return emb
