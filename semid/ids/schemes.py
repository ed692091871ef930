"""ID schemes: how the search and rec tasks share (or do not share) code levels.

Penha et al., RecSys 2025, section 3 ("separate" and "prefix-share"); ``shared`` is the
plain one-ID-per-item scheme used with any single (e.g. multi-task or fused) embedding.

- ``shared``: one quantizer on one embedding; levels ``a, b, ...``; both tasks use all of them.
- ``separate``: one quantizer on the search embeddings (levels ``s0, s1, ...``) and one on
  the rec embeddings (``r0, r1, ...``); disjoint token vocabularies.
- ``prefix-share``: a one-level quantizer reads the concatenation ``[v_search; v_rec]``
  (the single encoder) and gives the shared code ``p0``. Its reconstruction is split back
  into a search part and a rec part; each task's residual (``v_task - part``) is quantized by
  its own ``levels - 1``-level quantizer (``s1, ...`` / ``r1, ...``). The two decoders are
  ``part_search(p0) + dec_search(s1..)`` and ``part_rec(p0) + dec_rec(r1..)``.
  Codebook size ``j`` applies to ``p0`` (j=0) and to ``s_j``/``r_j``.

Each scheme is a :class:`Scheme` subclass registered in :data:`SCHEMES` (name, class, one-line
help); adding one is its class plus one registration line. The schemes take no options.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from semid.ids.base import Quantizer, validate_embeddings
from semid.registry import Registry, check_name_attribute

logger = logging.getLogger(__name__)

__all__ = ["SCHEMES", "DEFAULT_SCHEME", "Scheme", "SchemeFit", "get_scheme", "fit_scheme", "prepare_embeddings"]

SCHEMES: Registry[type[Scheme]] = Registry("ID scheme", check=check_name_attribute)
SCHEMES.add("shared", "semid.ids.schemes:SharedScheme",
            "one quantizer on one embedding; both tasks use every level")
SCHEMES.add("separate", "semid.ids.schemes:SeparateScheme",
            "a search ID and a rec ID, each from its own quantizer, with disjoint tokens")
SCHEMES.add("prefix-share", "semid.ids.schemes:PrefixShareScheme",
            "a shared first level over [search; rec], then task-specific levels")

#: The scheme when none is given (``semid ids build``, :func:`semid.ids.build_ids`, a config's scheme rows).
DEFAULT_SCHEME = "shared"

#: A quantizer factory: ``make(level_sizes, seed)`` builds one unfitted quantizer.
MakeQuantizer = Callable[[list[int], int], Quantizer]


@dataclass
class SchemeFit:
    """What fitting a scheme produced, before collision handling.

    ``level_names``/``level_sizes``: the quantizer levels (columns of ``codes``);
    ``tasks``: task -> its columns; ``vectors``/``recon``: task -> float32 (n, d_task);
    ``quantizers``: role ("shared", "search", "rec", "prefix") -> fitted quantizer.
    """

    codes: np.ndarray
    level_names: list[str]
    level_sizes: list[int]
    tasks: dict[str, list[int]]
    vectors: dict[str, np.ndarray]
    recon: dict[str, np.ndarray]
    quantizers: dict[str, Quantizer]
    fit_seconds: float = 0.0
    encode_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class Scheme(ABC):
    """An ID scheme: the embeddings it reads (``inputs``), the fewest levels it takes, how it fits
    its quantizers, and the name of a task's collision-suffix level."""

    name: ClassVar[str]
    #: the embedding roles it reads: ("shared",) or ("search", "rec")
    inputs: ClassVar[tuple[str, ...]] = ("search", "rec")
    min_levels: ClassVar[int] = 1

    def __init__(self) -> None:
        self._timer = {"fit": 0.0, "encode": 0.0}

    @abstractmethod
    def fit(self, embeddings: dict[str, np.ndarray], level_sizes: list[int], make: MakeQuantizer,
            seed: int) -> SchemeFit:
        """Fit the quantizer(s) on ``embeddings`` (as :func:`prepare_embeddings` returns them)."""

    @abstractmethod
    def encode(self, quantizers: dict[str, Quantizer], embeddings: dict[str, np.ndarray],
               config: dict[str, Any]) -> np.ndarray:
        """The quantizer codes of (new) items from fitted ``quantizers`` (as :meth:`fit` named
        them); ``config``: the IDs' config.json (what the fit recorded)."""

    def suffix_name(self, task: str, n_levels: int) -> str:
        """The name of ``task``'s collision-suffix level, after ``n_levels`` quantizer levels."""
        return f"{task[0]}{n_levels}"

    def _fit_encode(self, q: Quantizer, X: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        q.fit(X)
        t1 = time.perf_counter()
        codes = q.encode(X)
        self._timer["fit"] += t1 - t0
        self._timer["encode"] += time.perf_counter() - t1
        return codes

    def _result(self, codes: np.ndarray, names: list[str], sizes: list[int], tasks: dict[str, list[int]],
                vectors: dict[str, np.ndarray], recon: dict[str, np.ndarray], quantizers: dict[str, Quantizer],
                **extra: Any) -> SchemeFit:
        return SchemeFit(codes, names, sizes, tasks, vectors, recon, quantizers,
                         self._timer["fit"], self._timer["encode"], extra)


class SharedScheme(Scheme):
    """One quantizer on one embedding; both tasks use all its levels (``a, b, ...``)."""

    name = "shared"
    inputs = ("shared",)

    def fit(self, embeddings, level_sizes, make, seed):
        X, L = embeddings["shared"], len(level_sizes)
        q = make(level_sizes, seed)
        codes = self._fit_encode(q, X)
        recon = q.decode(codes)
        cols = list(range(L))
        return self._result(codes, [chr(ord("a") + j) for j in range(L)], list(level_sizes),
                            {"search": cols, "rec": list(cols)}, {"search": X, "rec": X},
                            {"search": recon, "rec": recon}, {"shared": q})

    def encode(self, quantizers, embeddings, config):
        return quantizers["shared"].encode(embeddings["shared"])

    def suffix_name(self, task: str, n_levels: int) -> str:
        return chr(ord("a") + n_levels)  # one ID for both tasks: the next letter


class SeparateScheme(Scheme):
    """A search quantizer (``s0, s1, ...``) and a rec quantizer (``r0, r1, ...``), disjoint tokens."""

    name = "separate"

    def fit(self, embeddings, level_sizes, make, seed):
        Xs, Xr, L = embeddings["search"], embeddings["rec"], len(level_sizes)
        qs, qr = make(level_sizes, seed), make(level_sizes, seed)
        cs, cr = self._fit_encode(qs, Xs), self._fit_encode(qr, Xr)
        names = [f"s{j}" for j in range(L)] + [f"r{j}" for j in range(L)]
        return self._result(np.concatenate([cs, cr], axis=1), names, list(level_sizes) * 2,
                            {"search": list(range(L)), "rec": list(range(L, 2 * L))},
                            {"search": Xs, "rec": Xr}, {"search": qs.decode(cs), "rec": qr.decode(cr)},
                            {"search": qs, "rec": qr})

    def encode(self, quantizers, embeddings, config):
        return np.concatenate([quantizers["search"].encode(embeddings["search"]),
                               quantizers["rec"].encode(embeddings["rec"])], axis=1)


class PrefixShareScheme(Scheme):
    """A one-level quantizer on ``[v_search; v_rec]`` (``p0``), then each task's residual quantized
    by its own quantizer (``s1, ...`` / ``r1, ...``); see the module docstring."""

    name = "prefix-share"
    min_levels = 2  # one shared level, then at least one per task

    def fit(self, embeddings, level_sizes, make, seed):
        Xs, Xr, L = embeddings["search"], embeddings["rec"], len(level_sizes)
        ds = Xs.shape[1]
        qp = make([level_sizes[0]], seed)
        p = self._fit_encode(qp, np.concatenate([Xs, Xr], axis=1))
        zr = qp.decode(p)
        parts = {"search": zr[:, :ds], "rec": zr[:, ds:]}
        task_q: dict[str, Quantizer] = {}
        task_c: dict[str, np.ndarray] = {}
        recon: dict[str, np.ndarray] = {}
        for t, X in (("search", Xs), ("rec", Xr)):
            task_q[t] = make(list(level_sizes[1:]), seed)
            task_c[t] = self._fit_encode(task_q[t], np.ascontiguousarray(X - parts[t]))
            recon[t] = parts[t] + task_q[t].decode(task_c[t])
        names = ["p0"] + [f"s{j}" for j in range(1, L)] + [f"r{j}" for j in range(1, L)]
        codes = np.concatenate([p, task_c["search"], task_c["rec"]], axis=1)
        return self._result(codes, names, [level_sizes[0]] + list(level_sizes[1:]) * 2,
                            {"search": [0, *range(1, L)], "rec": [0, *range(L, 2 * L - 1)]},
                            {"search": Xs, "rec": Xr}, recon,
                            {"prefix": qp, "search": task_q["search"], "rec": task_q["rec"]}, search_dim=ds)

    def encode(self, quantizers, embeddings, config):
        ds = int(config.get("search_dim", embeddings["search"].shape[1]))
        if embeddings["search"].shape[1] != ds:
            raise ValueError(f"search embeddings have dim {embeddings['search'].shape[1]}, the IDs were built on dim {ds}")
        p = quantizers["prefix"].encode(np.concatenate([embeddings["search"], embeddings["rec"]], axis=1))
        zr = quantizers["prefix"].decode(p)
        parts = [quantizers[t].encode(np.ascontiguousarray(embeddings[t] - z))
                 for t, z in (("search", zr[:, :ds]), ("rec", zr[:, ds:]))]
        return np.concatenate([p, *parts], axis=1)


def get_scheme(scheme: str, levels: int | None = None) -> Scheme:
    """A new :class:`Scheme` registered under exactly ``scheme`` (a ValueError lists the valid
    names); with ``levels``, checked to take that many levels."""
    obj = SCHEMES.get_factory(scheme)()
    if levels is not None and levels < obj.min_levels:
        raise ValueError(f"scheme {scheme!r} needs levels >= {obj.min_levels}, got {levels}")
    return obj


def prepare_embeddings(embeddings: Any, scheme: str) -> dict[str, np.ndarray]:
    """Validate the embeddings for ``scheme``: returns {"shared": X} or {"search": Xs, "rec": Xr}."""
    if get_scheme(scheme).inputs == ("shared",):
        if isinstance(embeddings, dict):
            if len(embeddings) != 1:
                raise ValueError(
                    f"scheme {scheme!r} takes one embedding matrix, got {sorted(embeddings)}; pass one "
                    "(e.g. a fused or multi-task embedding) or use scheme 'separate'/'prefix-share'"
                )
            (embeddings,) = embeddings.values()
        return {"shared": validate_embeddings(embeddings, "embeddings")}
    if not isinstance(embeddings, dict) or set(embeddings) != {"search", "rec"}:
        got = sorted(embeddings) if isinstance(embeddings, dict) else type(embeddings).__name__
        raise ValueError(f"scheme {scheme!r} takes a dict with keys 'search' and 'rec', got {got}")
    out = {t: validate_embeddings(embeddings[t], f"{t} embeddings") for t in ("search", "rec")}
    if len(out["search"]) != len(out["rec"]):
        raise ValueError(
            f"search embeddings have {len(out['search'])} items but rec embeddings {len(out['rec'])}; "
            "both must list the same items in the same order"
        )
    return out


def fit_scheme(scheme: str, embeddings: dict[str, np.ndarray], level_sizes: list[int], make: MakeQuantizer,
               seed: int = 0) -> SchemeFit:
    """Fit the quantizer(s) of ``scheme``; ``make(level_sizes, seed)`` builds one quantizer."""
    return get_scheme(scheme, len(level_sizes)).fit(embeddings, list(level_sizes), make, seed)
