"""The ``Quantizer`` base class, input validation, registry look-ups and save/load.

Every quantizer maps float32 vectors ``X: (n, d)`` to integer codes ``(n, levels)``
and back: ``fit(X)``, ``encode(X) -> codes``, ``decode(codes) -> X_hat``. A saved
quantizer is a directory with ``quantizer.json`` (registry name + config) and
``state.npz`` (arrays), so :func:`load_quantizer` rebuilds the same object.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

# the registry names its classes as strings and imports none of them: no import cycle
from semid.embed.base import check_vectors
from semid.ids.quantizers import QUANTIZERS
from semid.io import atomic_dir, read_json, write_json

logger = logging.getLogger(__name__)

#: The ID size when none is given: the paper's 2 levels x 256 codes. Every default of levels /
#: codebook size in semid.ids and semid.studies reads these two names.
DEFAULT_LEVELS = 2
DEFAULT_CODEBOOK_SIZE = 256

__all__ = [
    "Quantizer",
    "QuantizerFitError",
    "QUANTIZERS",
    "get_quantizer_class",
    "make_quantizer",
    "load_quantizer",
    "validate_embeddings",
    "validate_codes",
    "level_sizes_for",
    "DEFAULT_LEVELS",
    "DEFAULT_CODEBOOK_SIZE",
]


class QuantizerFitError(RuntimeError):
    """Numerical failure while fitting a quantizer (NaN loss, empty codebook, ...)."""


def level_sizes_for(codebook_size: int | list[int] | tuple[int, ...], levels: int) -> list[int]:
    """The codebook size of every level: an int applies to all levels, a list gives one per level."""
    if isinstance(levels, bool) or not isinstance(levels, int | np.integer) or levels < 1:
        raise ValueError(f"levels must be a positive integer, got {levels!r}")
    if isinstance(codebook_size, int | np.integer) and not isinstance(codebook_size, bool):
        sizes = [int(codebook_size)] * int(levels)
    elif isinstance(codebook_size, list | tuple):
        sizes = [int(s) for s in codebook_size]
        if len(sizes) != levels:
            raise ValueError(
                f"codebook_size lists {len(sizes)} sizes {sizes} but levels={levels}; "
                "give one size per level or a single int"
            )
    else:
        raise TypeError(f"codebook_size must be an int or a list of ints, got {codebook_size!r}")
    if any(s < 2 for s in sizes):
        raise ValueError(f"every codebook size must be at least 2, got {sizes}")
    return sizes


def validate_embeddings(
    X: Any, where: str = "embeddings", dim: int | None = None, min_items: int = 1
) -> np.ndarray:
    """Check ``X`` and return it as C-contiguous float32 ``(n, d)``.

    :func:`semid.embed.base.check_vectors` checks the array (non-float dtypes raise a
    TypeError; non-2-D shapes and NaN/inf a ValueError); this adds the quantizer's checks: a
    wrong dimension and fewer than ``min_items`` rows (ValueError).
    """
    X = check_vectors(X, where, min_items=0, fix="clean or drop them before quantizing")
    if dim is not None and X.shape[1] != dim:
        raise ValueError(f"{where}: the quantizer was fitted on dim {dim}, got vectors of dim {X.shape[1]}")
    if X.shape[0] < min_items:
        raise ValueError(
            f"{where}: {X.shape[0]} items but at least {min_items} are needed "
            "(a codebook cannot have more codes than there are items); use a smaller --codebook-size"
        )
    return X


def validate_codes(codes: Any, level_sizes: list[int], where: str = "codes") -> np.ndarray:
    """Check integer codes ``(n, levels)`` against ``level_sizes``; returns int64."""
    if not isinstance(codes, np.ndarray) or not np.issubdtype(codes.dtype, np.integer):
        raise TypeError(f"{where}: expected an integer numpy array (n, levels), got {getattr(codes, 'dtype', type(codes))}")
    if codes.ndim != 2 or codes.shape[1] != len(level_sizes):
        raise ValueError(f"{where}: expected shape (n, {len(level_sizes)}), got {codes.shape}")
    codes = codes.astype(np.int64, copy=False)
    for j, k in enumerate(level_sizes):
        col = codes[:, j]
        if len(col) and (col.min() < 0 or col.max() >= k):
            raise ValueError(f"{where}: level {j} has codes outside [0, {k})")
    return codes


class Quantizer(ABC):
    """Abstract quantizer: ``fit(X)``, ``encode(X) -> codes``, ``decode(codes)``, ``save``, ``load``.

    Subclasses set ``name`` (their registry key), accept ``levels``, ``codebook_size``
    (int or one per level), ``seed`` and ``show_progress`` plus their own keyword
    options, and implement ``_fit``, ``_encode``, ``_decode``, ``_state`` and
    ``_set_state``. ``fit_info`` holds what fitting measured (e.g. ``training_curve``).
    """

    name: ClassVar[str] = ""

    def __init__(
        self,
        levels: int = DEFAULT_LEVELS,
        codebook_size: int | list[int] = DEFAULT_CODEBOOK_SIZE,
        seed: int = 0,
        show_progress: bool = True,
        **options: Any,
    ) -> None:
        self.level_sizes = level_sizes_for(codebook_size, levels)
        self.levels = len(self.level_sizes)
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
            raise TypeError(f"seed must be an int, got {seed!r}")
        self.seed = int(seed)
        self.show_progress = show_progress
        self.options = self._resolve_options(dict(options))
        self._check_sizes(self.level_sizes)
        self.dim: int | None = None
        self.fit_info: dict[str, Any] = {}

    # ----------------------------------------------------------- subclass hooks
    def _resolve_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """Validate method options and fill defaults (override in subclasses)."""
        if options:
            raise ValueError(f"{self.name}: unknown option(s) {sorted(options)}")
        return options

    def _check_sizes(self, sizes: list[int]) -> None:
        """Raise ValueError if this method cannot take these codebook sizes (default: any size)."""
        return None

    @abstractmethod
    def _fit(self, X: np.ndarray) -> None: ...

    @abstractmethod
    def _encode(self, X: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _decode(self, codes: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _state(self) -> dict[str, np.ndarray]: ...

    @abstractmethod
    def _set_state(self, state: dict[str, np.ndarray]) -> None: ...

    # ------------------------------------------------------------- public API
    @property
    def is_fitted(self) -> bool:
        return self.dim is not None

    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild this quantizer (JSON-ready)."""
        return {
            "method": self.name,
            "levels": self.levels,
            "codebook_size": list(self.level_sizes),
            "seed": self.seed,
            "options": dict(self.options),
        }

    def fit(self, X: np.ndarray) -> Quantizer:
        """Fit on ``X: float32 (n, d)``; needs at least ``max(codebook_size)`` items."""
        X = validate_embeddings(X, f"{self.name}.fit", min_items=max(self.level_sizes))
        self.fit_info = {}
        self._fit(X)
        self.dim = int(X.shape[1])
        return self

    def encode(self, X: np.ndarray) -> np.ndarray:
        """``X: float32 (n, d)`` -> codes ``int64 (n, levels)``, level ``j`` in ``[0, codebook_size[j])``."""
        self._require_fitted("encode")
        X = validate_embeddings(X, f"{self.name}.encode", dim=self.dim, min_items=0)
        if len(X) == 0:
            return np.zeros((0, self.levels), dtype=np.int64)
        return np.ascontiguousarray(self._encode(X), dtype=np.int64)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """codes ``int (n, levels)`` -> reconstructions ``float32 (n, d)``."""
        self._require_fitted("decode")
        codes = validate_codes(codes, self.level_sizes, f"{self.name}.decode")
        return np.ascontiguousarray(self._decode(codes), dtype=np.float32)

    def save(self, path: str | os.PathLike) -> Path:
        """Atomically write ``quantizer.json`` and ``state.npz`` into directory ``path``."""
        self._require_fitted("save")
        path = Path(path)
        with atomic_dir(path) as tmp:
            write_json(tmp / "quantizer.json", {**self.config(), "dim": self.dim, "fit_info": self.fit_info})
            with open(tmp / "state.npz", "wb") as fh:
                np.savez(fh, **self._state())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Quantizer:
        """Rebuild a saved quantizer (any registered class) from directory ``path``."""
        q = load_quantizer(path)
        if cls is not Quantizer and not isinstance(q, cls):
            raise TypeError(f"{path} holds a {type(q).__name__}, not a {cls.__name__}")
        return q

    def _require_fitted(self, what: str) -> None:
        if not self.is_fitted:
            raise RuntimeError(f"{self.name}: call fit(X) before {what}()")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(levels={self.levels}, codebook_size={self.level_sizes}, seed={self.seed})"


def get_quantizer_class(method: str) -> type[Quantizer]:
    """Exact-name lookup in :data:`QUANTIZERS` (``semid.ids.quantizers``)."""
    return QUANTIZERS.get_factory(method)


def make_quantizer(method: str, **kwargs: Any) -> Quantizer:
    """Instantiate the quantizer registered as ``method`` (e.g. ``"rq-kmeans"``)."""
    return get_quantizer_class(method)(**kwargs)


def load_quantizer(path: str | os.PathLike) -> Quantizer:
    """Load a quantizer saved with :meth:`Quantizer.save`."""
    path = Path(path)
    if not (path / "quantizer.json").exists():
        raise FileNotFoundError(f"{path} holds no quantizer.json; it is not a saved quantizer")
    meta = read_json(path / "quantizer.json")
    cls = get_quantizer_class(meta["method"])
    q = cls(levels=meta["levels"], codebook_size=meta["codebook_size"], seed=meta["seed"],
            show_progress=False, **meta.get("options", {}))
    with np.load(path / "state.npz", allow_pickle=False) as z:
        state = {k: z[k] for k in z.files}
    q._set_state(state)
    q.dim = int(meta["dim"])
    q.fit_info = meta.get("fit_info", {})
    return q
