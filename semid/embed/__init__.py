"""Item embeddings: content, search-tuned, rec (ENMF), multitask, fused (DESIGN.md step 2) and 2T-HGNN.

Heavy libraries (torch, sentence-transformers) are imported inside the methods that use them.
"""

from semid.embed.base import (
    Embedder,
    EmbeddingError,
    EmbeddingTypeError,
    ItemEmbeddings,
    check_vectors,
    dataset_hash,
    load_embeddings,
)
from semid.embed.enmf import ENMFConfig, ENMFEmbedder
from semid.embed.finetune import MultitaskConfig, MultitaskEmbedder, SearchConfig, SearchEmbedder
from semid.embed.fusion import FusedConcatEmbedder, FusedSVDEmbedder, FusionConfig
from semid.embed.hgnn import HGNNConfig, HGNNEmbedder
from semid.embed.registry import CONFIGS, EMBEDDERS, build_embeddings, get_embedder, make_config
from semid.embed.sentence import ContentConfig, ContentEmbedder, load_sentence_model, resolve_model

__all__ = [
    "ItemEmbeddings",
    "EmbeddingError",
    "EmbeddingTypeError",
    "Embedder",
    "check_vectors",
    "dataset_hash",
    "load_embeddings",
    "build_embeddings",
    "get_embedder",
    "make_config",
    "EMBEDDERS",
    "CONFIGS",
    "ContentConfig",
    "ContentEmbedder",
    "SearchConfig",
    "SearchEmbedder",
    "MultitaskConfig",
    "MultitaskEmbedder",
    "ENMFConfig",
    "ENMFEmbedder",
    "FusionConfig",
    "FusedConcatEmbedder",
    "FusedSVDEmbedder",
    "HGNNConfig",
    "HGNNEmbedder",
    "resolve_model",
    "load_sentence_model",
]
