"""RQ-KMeans: residual k-means, the paper's best quantizer (Penha et al., RecSys 2025, Table 3).

Two backends:

- ``faiss-rq`` (default): ``faiss.ResidualQuantizer`` exactly as FAISS trains and encodes
  it (beam search of width ``max_beam_size``, codebook sizes must be powers of two);
  this layer only unpacks FAISS's bit-packed codes into an int64 matrix.
- ``kmeans``: plain greedy residual k-means, one ``faiss.Kmeans`` per level on the
  residuals of the previous levels; any codebook size.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from semid.ids.base import Quantizer

logger = logging.getLogger(__name__)

#: FAISS's advice: at least this many training points per centroid (its ClusteringParameters default)
MIN_POINTS_PER_CENTROID = 39
_warned_few_points: set[tuple[int, int]] = set()


def _warn_few_points(n: int, k: int) -> None:
    """One semid warning (once per process and shape) where FAISS would print one line per level
    from C++ ("clustering N points to K centroids: please provide at least ..."), which the
    callers silence by passing ``min_points_per_centroid=1`` (it only gates that message)."""
    if n >= MIN_POINTS_PER_CENTROID * k or (n, k) in _warned_few_points:
        return
    _warned_few_points.add((n, k))
    logger.warning("rq-kmeans: %d items for codebooks of %d codes is %.1f training points per code (FAISS advises "
                   "at least %d); the codebooks are fitted on few points: fewer codes per level fit better",
                   n, k, n / k, MIN_POINTS_PER_CENTROID)

__all__ = ["RQKMeans", "unpack_faiss_codes"]

BACKENDS = ("faiss-rq", "kmeans")


def unpack_faiss_codes(packed: np.ndarray, nbits: list[int]) -> np.ndarray:
    """FAISS bit-packed codes ``uint8 (n, code_size)`` -> ``int64 (n, len(nbits))``.

    FAISS's BitstringWriter fills each byte from its least significant bit, level by level.
    """
    n = packed.shape[0]
    if all(b == 8 for b in nbits):
        return packed[:, : len(nbits)].astype(np.int64)
    bits = np.unpackbits(packed, axis=1, bitorder="little")
    out = np.empty((n, len(nbits)), dtype=np.int64)
    offset = 0
    for j, b in enumerate(nbits):
        weights = (1 << np.arange(b, dtype=np.int64))
        out[:, j] = bits[:, offset : offset + b].astype(np.int64) @ weights
        offset += b
    return out


class RQKMeans(Quantizer):
    """Residual k-means (RQ-KMeans) with the FAISS ResidualQuantizer.

    Penha et al., "Semantic IDs for Joint Generative Search and Recommendation",
    RecSys 2025 (arXiv 2508.10478): RQ-KMeans is their winning quantizer. FAISS:
    Douze et al., "The Faiss library", 2024, section on additive quantizers.

    Options: ``backend`` ("faiss-rq" | "kmeans"), ``niter`` (k-means iterations per
    level; FAISS's default when None), ``max_beam_size`` (faiss-rq only, FAISS default 5).
    """

    name = "rq-kmeans"

    def _resolve_options(self, options: dict[str, Any]) -> dict[str, Any]:
        out = {
            "backend": options.pop("backend", "faiss-rq"),
            "niter": options.pop("niter", None),
            "max_beam_size": int(options.pop("max_beam_size", 5)),
        }
        if options:
            raise ValueError(f"rq-kmeans: unknown option(s) {sorted(options)}; valid: {sorted(out)}")
        if out["backend"] not in BACKENDS:
            raise ValueError(f"rq-kmeans: backend {out['backend']!r} is not one of {list(BACKENDS)}")
        if out["niter"] is not None and int(out["niter"]) < 1:
            raise ValueError(f"rq-kmeans: niter must be >= 1, got {out['niter']}")
        if out["max_beam_size"] < 1:
            raise ValueError(f"rq-kmeans: max_beam_size must be >= 1, got {out['max_beam_size']}")
        return out

    def _check_sizes(self, sizes: list[int]) -> None:
        if self.options["backend"] == "faiss-rq":
            bad = [s for s in sizes if s & (s - 1)]
            if bad:
                raise ValueError(
                    f"rq-kmeans (faiss-rq backend) needs power-of-two codebook sizes, got {sizes}; "
                    "use e.g. 256, or pass backend='kmeans' for any size"
                )

    # ------------------------------------------------------------------ faiss
    def _new_rq(self, d: int) -> Any:
        import faiss

        nbits = faiss.UInt64Vector()
        for s in self.level_sizes:
            nbits.push_back(int(s).bit_length() - 1)
        rq = faiss.ResidualQuantizer(d, nbits)
        rq.cp.seed = self.seed
        rq.cp.min_points_per_centroid = 1  # semid warns once instead of FAISS per level (_warn_few_points)
        if self.options["niter"] is not None:
            rq.cp.niter = int(self.options["niter"])
        rq.max_beam_size = self.options["max_beam_size"]
        rq.verbose = False
        return rq

    def _fit(self, X: np.ndarray) -> None:
        import faiss

        d = X.shape[1]
        _warn_few_points(len(X), max(self.level_sizes))
        if self.options["backend"] == "faiss-rq":
            self._rq = self._new_rq(d)
            if len(X) <= d:
                # faiss's default progressive-dimension training fits a d x d PCA, which fails
                # with fewer points than dimensions ("PCA matrix cannot output d dimensions").
                logger.info("rq-kmeans: %d items <= %d dims, training without progressive dimensions", len(X), d)
                self._rq.train_type &= ~faiss.ResidualQuantizer.Train_progressive_dim
            self._rq.train(X)
            self.codebooks = faiss.vector_to_array(self._rq.codebooks).reshape(-1, d).copy()
            return
        residual = X.copy()
        books = []
        for j, k in enumerate(self.level_sizes):
            km = faiss.Kmeans(d, k, niter=int(self.options["niter"] or 25), seed=self.seed + j, verbose=False,
                              min_points_per_centroid=1)
            km.train(residual)
            centroids = km.centroids.copy()
            _, assign = km.index.search(residual, 1)
            residual -= centroids[assign[:, 0]]
            books.append(centroids)
        self.codebooks = np.concatenate(books).astype(np.float32)
        self._rq = None

    @property
    def _offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.level_sizes)[:-1]]).astype(np.int64)

    def _encode(self, X: np.ndarray) -> np.ndarray:
        if self.options["backend"] == "faiss-rq":
            packed = self._rq.compute_codes(X)
            return unpack_faiss_codes(packed, [int(s).bit_length() - 1 for s in self.level_sizes])
        import faiss

        residual = X.copy()
        codes = np.empty((len(X), self.levels), dtype=np.int64)
        for j, (off, k) in enumerate(zip(self._offsets, self.level_sizes, strict=True)):
            book = self.codebooks[off : off + k]
            index = faiss.IndexFlatL2(book.shape[1])
            index.add(book)
            _, a = index.search(residual, 1)
            codes[:, j] = a[:, 0]
            residual -= book[a[:, 0]]
        return codes

    def _decode(self, codes: np.ndarray) -> np.ndarray:
        out = np.zeros((len(codes), self.codebooks.shape[1]), dtype=np.float32)
        for j, off in enumerate(self._offsets):
            out += self.codebooks[off + codes[:, j]]
        return out

    def _state(self) -> dict[str, np.ndarray]:
        return {"codebooks": self.codebooks}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        import faiss

        self.codebooks = np.ascontiguousarray(state["codebooks"], dtype=np.float32)
        if self.options["backend"] == "faiss-rq":
            rq = self._new_rq(self.codebooks.shape[1])
            faiss.copy_array_to_vector(self.codebooks.ravel(), rq.codebooks)
            rq.is_trained = True
            self._rq = rq
        else:
            self._rq = None
