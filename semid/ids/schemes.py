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
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from semid.ids.base import Quantizer, validate_embeddings

logger = logging.getLogger(__name__)

__all__ = ["SCHEMES", "SchemeFit", "fit_scheme", "prepare_embeddings"]

SCHEMES = ("shared", "separate", "prefix-share")


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


def prepare_embeddings(embeddings: Any, scheme: str) -> dict[str, np.ndarray]:
    """Validate the embeddings for ``scheme``: returns {"shared": X} or {"search": Xs, "rec": Xr}."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown ID scheme {scheme!r}; valid schemes: {list(SCHEMES)}")
    if scheme == "shared":
        if isinstance(embeddings, dict):
            if len(embeddings) != 1:
                raise ValueError(
                    f"scheme 'shared' takes one embedding matrix, got {sorted(embeddings)}; pass one "
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


def _fit_encode(q: Quantizer, X: np.ndarray, timer: dict[str, float]) -> np.ndarray:
    t0 = time.perf_counter()
    q.fit(X)
    t1 = time.perf_counter()
    codes = q.encode(X)
    t2 = time.perf_counter()
    timer["fit"] += t1 - t0
    timer["encode"] += t2 - t1
    return codes


def fit_scheme(
    scheme: str,
    embeddings: dict[str, np.ndarray],
    level_sizes: list[int],
    make: Callable[[list[int], int], Quantizer],
    seed: int = 0,
) -> SchemeFit:
    """Fit the quantizer(s) of ``scheme``; ``make(level_sizes, seed)`` builds one quantizer."""
    L = len(level_sizes)
    timer = {"fit": 0.0, "encode": 0.0}
    if scheme == "shared":
        X = embeddings["shared"]
        q = make(level_sizes, seed)
        codes = _fit_encode(q, X, timer)
        recon = q.decode(codes)
        names = [chr(ord("a") + j) for j in range(L)]
        cols = list(range(L))
        return SchemeFit(codes, names, list(level_sizes), {"search": cols, "rec": list(cols)},
                         {"search": X, "rec": X}, {"search": recon, "rec": recon}, {"shared": q},
                         timer["fit"], timer["encode"])
    Xs, Xr = embeddings["search"], embeddings["rec"]
    if scheme == "separate":
        qs, qr = make(level_sizes, seed), make(level_sizes, seed)
        cs, cr = _fit_encode(qs, Xs, timer), _fit_encode(qr, Xr, timer)
        names = [f"s{j}" for j in range(L)] + [f"r{j}" for j in range(L)]
        return SchemeFit(np.concatenate([cs, cr], axis=1), names, list(level_sizes) * 2,
                         {"search": list(range(L)), "rec": list(range(L, 2 * L))},
                         {"search": Xs, "rec": Xr}, {"search": qs.decode(cs), "rec": qr.decode(cr)},
                         {"search": qs, "rec": qr}, timer["fit"], timer["encode"])
    # prefix-share
    if L < 2:
        raise ValueError(f"prefix-share needs levels >= 2 (one shared + task levels), got {L}")
    ds = Xs.shape[1]
    Z = np.concatenate([Xs, Xr], axis=1)
    qp = make([level_sizes[0]], seed)
    p = _fit_encode(qp, Z, timer)
    zr = qp.decode(p)
    parts = {"search": zr[:, :ds], "rec": zr[:, ds:]}
    task_q: dict[str, Quantizer] = {}
    task_c: dict[str, np.ndarray] = {}
    recon: dict[str, np.ndarray] = {}
    for t, X in (("search", Xs), ("rec", Xr)):
        task_q[t] = make(list(level_sizes[1:]), seed)
        task_c[t] = _fit_encode(task_q[t], np.ascontiguousarray(X - parts[t]), timer)
        recon[t] = parts[t] + task_q[t].decode(task_c[t])
    names = ["p0"] + [f"s{j}" for j in range(1, L)] + [f"r{j}" for j in range(1, L)]
    codes = np.concatenate([p, task_c["search"], task_c["rec"]], axis=1)
    return SchemeFit(codes, names, [level_sizes[0]] + list(level_sizes[1:]) * 2,
                     {"search": [0, *range(1, L)], "rec": [0, *range(L, 2 * L - 1)]},
                     {"search": Xs, "rec": Xr}, recon,
                     {"prefix": qp, "search": task_q["search"], "rec": task_q["rec"]},
                     timer["fit"], timer["encode"], {"search_dim": ds})
