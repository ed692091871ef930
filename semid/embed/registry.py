"""The embedder registry and the library entry point :func:`build_embeddings`.

Each line of :data:`EMBEDDERS` registers one method: its name, the embedder class, a one-line
help and its config dataclass (``"module:attribute"``, imported on first use). Adding an
embedder is its own module plus one line here.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from semid.embed.base import Embedder, ItemEmbeddings
from semid.registry import Registry, check_name_attribute

logger = logging.getLogger(__name__)

__all__ = ["EMBEDDERS", "CONFIGS", "get_embedder", "make_config", "build_embeddings"]

EMBEDDERS: Registry[type[Embedder]] = Registry("embedding method", check=check_name_attribute)
EMBEDDERS.add("content", "semid.embed.sentence:ContentEmbedder", "a pretrained sentence encoder over the item text",
              options="semid.embed.sentence:ContentConfig")
EMBEDDERS.add("search", "semid.embed.finetune:SearchEmbedder", "the encoder fine-tuned on (query, item) pairs",
              options="semid.embed.finetune:SearchConfig")
EMBEDDERS.add("rec", "semid.embed.enmf:ENMFEmbedder", "ENMF item factors from the interactions",
              options="semid.embed.enmf:ENMFConfig")
EMBEDDERS.add("multitask", "semid.embed.finetune:MultitaskEmbedder",
              "one encoder trained on query-item and co-occurring item pairs",
              options="semid.embed.finetune:MultitaskConfig")
EMBEDDERS.add("fused-concat", "semid.embed.fusion:FusedConcatEmbedder",
              "two input embeddings, l2-normalised and concatenated", options="semid.embed.fusion:FusionConfig")
EMBEDDERS.add("fused-svd", "semid.embed.fusion:FusedSVDEmbedder",
              "two input embeddings, the larger reduced by SVD, then added", options="semid.embed.fusion:FusionConfig")
EMBEDDERS.add("hgnn", "semid.embed.hgnn:HGNNEmbedder",
              "2T-HGNN: a heterogeneous graph network item tower and a history user tower",
              options="semid.embed.hgnn:HGNNConfig")

# name -> config dataclass (kept for callers of the former dict; classes imported on access)
CONFIGS = EMBEDDERS.options_map()


def get_embedder(method: str) -> type[Embedder]:
    """The embedder class registered under exactly ``method``."""
    return EMBEDDERS.get_factory(method)


def make_config(method: str, config: dict[str, Any] | Any | None = None) -> Any:
    """The method's dataclass config from a dict (unknown keys raise) or as given."""
    get_embedder(method)
    return EMBEDDERS.make_options(method, config, where=f"embed.{method}")


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
