"""Library entry point: embeddings -> fitted quantizer(s) -> Semantic IDs + diagnostics.

``build_ids`` fits the scheme's quantizers, applies the collision mode, computes the
diagnostics and returns :class:`BuiltIDs`; ``BuiltIDs.save(dir)`` writes ``codes.npy``,
``config.json``, ``diagnostics.json``, ``bucket_rank_<task>.npy`` and ``quantizer/<role>/``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semid.ids.base import (
    DEFAULT_CODEBOOK_SIZE,
    DEFAULT_LEVELS,
    Quantizer,
    get_quantizer_class,
    level_sizes_for,
    load_quantizer,
)
from semid.ids.collisions import (
    DEFAULT_BUCKET_ORDER,
    DEFAULT_COLLISIONS,
    get_collision_handler,
    order_scores,
    resolve_bucket_order,
)
from semid.ids.diagnostics import id_diagnostics
from semid.ids.quantizers import DEFAULT_QUANTIZER
from semid.ids.schemes import DEFAULT_SCHEME, fit_scheme, get_scheme, prepare_embeddings
from semid.ids.types import SemanticIDs

logger = logging.getLogger(__name__)

__all__ = ["BuiltIDs", "build_ids", "load_quantizers"]

_SCALARS = ("distinct_ids", "collision_rate", "quantizer_distinct_ids", "quantizer_collision_rate",
            "max_bucket", "mean_bucket", "rel_sq_error", "neighbour_preservation")


@dataclass
class BuiltIDs:
    """The result of :func:`build_ids`: the IDs and the fitted quantizers by role
    ("shared"; or "search" and "rec"; plus "prefix" for prefix-share)."""

    ids: SemanticIDs
    quantizers: dict[str, Quantizer]

    def save(self, path: str | os.PathLike) -> Path:
        """Atomically write the IDs and every quantizer (under ``quantizer/<role>/``)."""

        def write_quantizers(qdir: Path) -> None:
            qdir.mkdir()
            for role, q in self.quantizers.items():
                q.save(qdir / role)

        return self.ids.save(path, extra_files={"quantizer": write_quantizers})


def load_quantizers(path: str | os.PathLike) -> dict[str, Quantizer]:
    """The fitted quantizers saved by :meth:`BuiltIDs.save`, by role."""
    qdir = Path(path) / "quantizer"
    if not qdir.is_dir():
        raise FileNotFoundError(f"{path} holds no quantizer/ directory")
    return {p.name: load_quantizer(p) for p in sorted(qdir.iterdir()) if p.is_dir()}


def build_ids(
    embeddings: dict[str, np.ndarray] | np.ndarray,
    scheme: str = DEFAULT_SCHEME,
    method: str = DEFAULT_QUANTIZER,
    levels: int = DEFAULT_LEVELS,
    codebook_size: int | list[int] = DEFAULT_CODEBOOK_SIZE,
    collisions: str = DEFAULT_COLLISIONS,
    seed: int = 0,
    preset: str | None = None,
    popularity: np.ndarray | None = None,
    bucket_order: str = DEFAULT_BUCKET_ORDER,
    show_progress: bool = True,
    n_neighbours: int = 10,
    max_queries: int = 10_000,
    **method_kwargs: Any,
) -> BuiltIDs:
    """Build Semantic IDs.

    embeddings: float32 (n, d) for ``shared``; ``{"search": (n, ds), "rec": (n, dr)}`` for
    ``separate``/``prefix-share``. ``codebook_size``: int or one per level (per task level
    for the two-task schemes). ``scheme``: a name in ``semid.ids.schemes.SCHEMES``.
    ``collisions``: "none" | "suffix" (``semid.ids.collisions.COLLISION_MODES``).
    ``preset``: rq-vae's "naive" | "robust". ``popularity``: float (n,), used by
    ``bucket_order`` "popularity" ("auto" = popularity when given, else "centroid").
    ``method_kwargs`` go to the quantizer (e.g. ``epochs=5``, ``backend="kmeans"``).
    """
    cls = get_quantizer_class(method)
    sizes = level_sizes_for(codebook_size, levels)
    get_scheme(scheme, len(sizes))  # an unknown name or too few levels fails here, before any fitting
    get_collision_handler(collisions)
    embs = prepare_embeddings(embeddings, scheme)
    n = len(next(iter(embs.values())))
    _warn_if_id_space_too_large(sizes, n)
    bucket_order, popularity = resolve_bucket_order(bucket_order, popularity, n)
    opts = dict(method_kwargs)
    if preset is not None:
        if not getattr(cls, "PRESETS", None):
            raise ValueError(f"method {method!r} has no presets (got preset={preset!r}); presets exist for rq-vae: naive, robust")
        opts["preset"] = preset
    # build one quantizer now so that bad options or sizes fail before any fitting
    cls(levels=len(sizes), codebook_size=sizes, seed=seed, show_progress=False, **opts)

    def make(level_sizes: list[int], s: int) -> Quantizer:
        return cls(levels=len(level_sizes), codebook_size=level_sizes, seed=s, show_progress=show_progress, **opts)

    fit = fit_scheme(scheme, embs, sizes, make, seed)
    codes, names, lsizes, tasks, ranks = _apply_collisions(fit, scheme, len(sizes), collisions, bucket_order,
                                                           popularity)
    diag, np_queries = _diagnostics(fit, codes, tasks, scheme, n, n_neighbours, max_queries, seed)
    diag.update(scheme=scheme, method=method, collisions=collisions, bucket_order=bucket_order,
                fit_seconds=fit.fit_seconds, encode_seconds=fit.encode_seconds,
                neighbour_preservation_sampled=bool(np_queries < n))
    curves = {role: q.fit_info["training_curve"] for role, q in fit.quantizers.items() if "training_curve" in q.fit_info}
    if curves:
        diag["training_curve"] = curves

    config = {
        "method": method, "levels": len(sizes), "codebook_size": sizes, "collisions": collisions,
        "seed": seed, "preset": preset, "bucket_order": bucket_order,
        "method_options": {role: q.config()["options"] for role, q in fit.quantizers.items()},
        "quantizer_dir": "quantizer", "n_items": n, **fit.extra,
    }
    ids = SemanticIDs(codes=codes, level_names=names, level_sizes=lsizes, tasks=tasks, scheme=scheme,
                      config=config, diagnostics=diag, bucket_rank=ranks)
    logger.info("built %s/%s IDs for %d items: %d distinct, quantizer collision rate %.4f",
                scheme, method, n, diag["distinct_ids"], diag["quantizer_collision_rate"])
    return BuiltIDs(ids=ids, quantizers=fit.quantizers)


def _warn_if_id_space_too_large(sizes: list[int], n: int) -> None:
    space = float(np.prod(np.asarray(sizes, dtype=np.float64)))
    if space > 10_000 * n or max(sizes) > n:  # a performance and quality trap: say so once, with the fix
        logger.warning("the ID space (%s = %.3g IDs) is far larger than the catalogue (%d items): the deeper "
                       "levels get a handful of items per code and k-means warns about too few points; use fewer "
                       "--levels or a smaller --codebook-size (e.g. 2 x %d)", " x ".join(map(str, sizes)), space, n,
                       max(2, int(np.sqrt(n))))


def _apply_collisions(fit: Any, scheme: str, n_levels: int, collisions: str, bucket_order: str,
                      popularity: np.ndarray | None) -> tuple[np.ndarray, list[str], list[int],
                                                              dict[str, list[int]], dict[str, np.ndarray]]:
    """Each task's bucket ranks, and the levels the collision handler appends (``suffix``: one suffix
    column per distinct task ID; shared: both tasks use the same ID and the same suffix).

    Returns codes int64 (n, columns), level names, level sizes, task -> columns, task -> ranks (n,).
    """
    handler, schema = get_collision_handler(collisions), get_scheme(scheme)
    codes, names, lsizes = fit.codes, list(fit.level_names), list(fit.level_sizes)
    tasks = {t: list(c) for t, c in fit.tasks.items()}
    ranks: dict[str, np.ndarray] = {}
    seen: dict[tuple[int, ...], str] = {}
    for task in ("search", "rec"):
        cols = tuple(fit.tasks[task])
        if cols in seen:  # shared: both tasks use the same ID, so the same ranks and suffix
            ranks[task], tasks[task] = ranks[seen[cols]], list(tasks[seen[cols]])
            continue
        seen[cols] = task
        scores = order_scores(bucket_order, fit.vectors[task], fit.recon[task], popularity)
        b = handler.apply(codes[:, list(cols)], scores)
        ranks[task] = b.rank
        for j, size in enumerate(b.extra_sizes):
            codes = np.concatenate([codes, b.extra[:, j:j + 1]], axis=1)
            names.append(schema.suffix_name(task, n_levels + j))
            lsizes.append(size)
            tasks[task].append(codes.shape[1] - 1)
    return codes, names, lsizes, tasks, ranks


def _diagnostics(fit: Any, codes: np.ndarray, tasks: dict[str, list[int]], scheme: str, n: int,
                 n_neighbours: int, max_queries: int, seed: int) -> tuple[dict[str, Any], int]:
    """The IDs' diagnostics: one task's for ``shared``, else the two tasks' merged (scalars averaged)
    with ``per_task``; and how many queries the search task's neighbour preservation used."""
    per_task = {}
    for task in ("search", "rec"):
        qcols = fit.tasks[task]
        per_task[task] = id_diagnostics(
            fit.vectors[task], fit.codes[:, qcols], codes[:, tasks[task]], fit.recon[task],
            [fit.level_names[c] for c in qcols], [fit.level_sizes[c] for c in qcols],
            n_neighbours=n_neighbours, max_queries=max_queries, seed=seed,
        )
    if scheme == "shared":
        diag = dict(per_task["search"])
    else:
        diag = {"n_items": n, "levels": list(fit.level_names),
                "codebook_size": dict(zip(fit.level_names, fit.level_sizes, strict=True))}
        for key in ("codes_used", "utilization", "perplexity"):
            diag[key] = {**per_task["search"][key], **per_task["rec"][key]}
        for key in _SCALARS:
            diag[key] = float(np.mean([per_task[t][key] for t in ("search", "rec")]))
        diag["scalars_are"] = "mean over the search and rec IDs; see per_task"
        diag["per_task"] = per_task
    return diag, int(per_task["search"]["neighbour_preservation_queries"])
