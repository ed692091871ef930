"""Dictionary-learning quantizer: scikit-learn's ``MiniBatchDictionaryLearning``.

**Sparse code -> token rule.** The dictionary has ``K`` atoms (``K`` = the codebook size,
the same for every level). An item's sparse code is computed with orthogonal matching
pursuit using at most ``levels`` atoms; level ``j``'s token is the index of the atom with
the ``j``-th largest absolute coefficient (ties, including zero coefficients when OMP
stops early, go to the lower atom index). So the ID is the item's ``levels`` strongest
atoms, strongest first; one item's levels are distinct atoms.

**Decoding** a token tuple cannot see the coefficients, so it uses, for each (level, atom),
the mean signed coefficient that atom had at that level on the training set:
``x_hat = sum_j coef_table[j, code_j] * atom[code_j]``.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np

from semid.ids.base import Quantizer

logger = logging.getLogger(__name__)

__all__ = ["DictionaryQuantizer", "sparse_codes_to_tokens"]


def sparse_codes_to_tokens(coefs: np.ndarray, levels: int) -> np.ndarray:
    """``coefs: float (n, K)`` -> ``int64 (n, levels)``: atoms by decreasing |coefficient|, stable on ties."""
    order = np.argsort(-np.abs(coefs), axis=1, kind="stable")
    return order[:, :levels].astype(np.int64)


class DictionaryQuantizer(Quantizer):
    """Sparse dictionary learning turned into discrete tokens (rule in the module docstring).

    Mairal et al., "Online Dictionary Learning for Sparse Coding", ICML 2009 (the
    scikit-learn algorithm); compared as "dictionary" in Penha et al., RecSys 2025, Table 3.
    Options: ``alpha`` (sparsity penalty while fitting), ``max_iter`` (passes over the
    data), ``batch_size``, ``fit_algorithm`` ("cd" | "lars"), ``max_fit_items`` (the
    dictionary is learnt on a seeded random subset of at most this many items; all items
    are then encoded; None = all).
    """

    name = "dict"

    def _resolve_options(self, options: dict[str, Any]) -> dict[str, Any]:
        out = {"alpha": 0.05, "max_iter": 10, "batch_size": 256, "fit_algorithm": "cd", "max_fit_items": 20_000}
        unknown = sorted(set(options) - set(out))
        if unknown:
            raise ValueError(f"dict: unknown option(s) {unknown}; valid: {sorted(out)}")
        out.update(options)
        if out["fit_algorithm"] not in ("cd", "lars"):
            raise ValueError(f"dict: fit_algorithm must be 'cd' or 'lars', got {out['fit_algorithm']!r}")
        return out

    def _check_sizes(self, sizes: list[int]) -> None:
        if len(set(sizes)) > 1:
            raise ValueError(
                f"dict: every level indexes the same dictionary, so one codebook size applies to all levels; got {sizes}"
            )
        if sizes[0] < self.levels:
            raise ValueError(f"dict: codebook_size {sizes[0]} must be at least levels={self.levels}")

    def _sparse(self, X: np.ndarray) -> np.ndarray:
        from sklearn.decomposition import sparse_encode

        return sparse_encode(X, self.atoms, algorithm="omp", n_nonzero_coefs=self.levels)

    def _fit(self, X: np.ndarray) -> None:
        from sklearn.decomposition import MiniBatchDictionaryLearning
        from sklearn.exceptions import ConvergenceWarning

        o = self.options
        k = self.level_sizes[0]
        model = MiniBatchDictionaryLearning(
            n_components=k,
            alpha=float(o["alpha"]),
            max_iter=int(o["max_iter"]),
            batch_size=int(o["batch_size"]),
            fit_algorithm=o["fit_algorithm"],
            transform_algorithm="omp",
            transform_n_nonzero_coefs=self.levels,
            random_state=self.seed,
        )
        fit_X = X
        cap = o["max_fit_items"]
        if cap is not None and len(X) > int(cap):
            rows = np.sort(np.random.default_rng(self.seed).choice(len(X), size=int(cap), replace=False))
            fit_X = X[rows]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(fit_X)
        self.atoms = model.components_.astype(np.float32)
        coefs = self._sparse(X)
        codes = sparse_codes_to_tokens(coefs, self.levels)
        table = np.zeros((self.levels, k), dtype=np.float32)
        for j in range(self.levels):
            c = coefs[np.arange(len(X)), codes[:, j]]
            sums = np.bincount(codes[:, j], weights=c, minlength=k)
            counts = np.bincount(codes[:, j], minlength=k)
            fallback = float(c.mean()) if len(c) else 0.0
            table[j] = np.where(counts > 0, sums / np.maximum(counts, 1), fallback)
        self.coef_table = table

    def _encode(self, X: np.ndarray) -> np.ndarray:
        return sparse_codes_to_tokens(self._sparse(X), self.levels)

    def _decode(self, codes: np.ndarray) -> np.ndarray:
        out = np.zeros((len(codes), self.atoms.shape[1]), dtype=np.float32)
        for j in range(self.levels):
            out += self.coef_table[j, codes[:, j]][:, None] * self.atoms[codes[:, j]]
        return out

    def _state(self) -> dict[str, np.ndarray]:
        return {"atoms": self.atoms, "coef_table": self.coef_table}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.atoms = np.ascontiguousarray(state["atoms"], dtype=np.float32)
        self.coef_table = np.ascontiguousarray(state["coef_table"], dtype=np.float32)
