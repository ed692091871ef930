"""Check a whole experiment config against the registries and the options dataclasses, before any
stage runs (:func:`validate_experiment`, called by :func:`semid.experiment.load_experiment_config`
and by the runner).

The per-table checks that need nothing outside the table live in the dataclasses of
:mod:`semid.experiment.config` (``__post_init__``); this module holds the checks that look a name up in
a registry or build an options dataclass: embedding methods and their options, quantizer methods,
presets and options (one quantizer is built per dataset's ID sizes), the scheme's levels, the
``build_ids`` options a quantizer row may set, [train] (a TrainConfig per dataset and seed) and the
datasets' own tables. It imports only light modules (no model is loaded, no torch).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from semid.config import from_dict
from semid.data.sources import DATA_SOURCES
from semid.embed.registry import get_embedder, make_config
from semid.generative.config import TrainConfig
from semid.ids.base import get_quantizer_class, level_sizes_for
from semid.ids.build import build_ids
from semid.ids.collisions import resolve_bucket_order
from semid.ids.schemes import get_scheme

if TYPE_CHECKING:
    from semid.experiment.config import DatasetSpec, ExperimentConfig, QuantizerSpec

__all__ = ["validate_experiment", "check_at"]

#: build_ids arguments a [[quantizers]] row's options may set (the runner sets every other one itself)
BUILD_OPTIONS = ("bucket_order", "n_neighbours", "max_queries")


def check_at(where: str, what: str, fn: Callable[[], Any]) -> Any:
    """``fn()``; a ValueError/TypeError it raises is re-raised naming ``where`` (the file) and
    ``what`` (the table), unless its message already starts with ``where`` (or ``what``)."""
    try:
        return fn()
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        if msg.startswith(where):
            raise type(exc)(msg) from None
        raise type(exc)(f"{where}: {msg}" if msg.startswith(f"{what}:") else f"{where}: {what}: {msg}") from None


def validate_experiment(cfg: ExperimentConfig, where: str = "config") -> None:
    """Check every part of ``cfg`` before any stage runs. A bad name or value raises a
    ValueError/TypeError (FileNotFoundError for a missing data file) naming ``where``, the table
    and the valid choices."""
    for name, spec in cfg.embeddings.items():
        at = f"[embeddings.{name}]"
        check_at(where, at, lambda spec=spec: get_embedder(spec.method))
        check_at(where, at, lambda spec=spec: make_config(spec.method, dict(spec.options)))
        n_inputs = get_embedder(spec.method).n_inputs
        if len(spec.inputs) != n_inputs:
            raise ValueError(f"{where}: {at}: method {spec.method!r} takes {n_inputs} input embedding(s), "
                             f"got inputs = {spec.inputs}")
    for q in cfg.quantizers:
        _check_quantizer(cfg, q, where)
    for d in cfg.datasets:
        for seed in cfg.seeds:
            at = "[train]" if not d.train else f"[train] with datasets.{d.name}.train"
            check_at(where, at, lambda d=d, seed=seed, at=at: from_dict(TrainConfig, {**cfg.train_for(d), "seed": seed},
                                                                 where=f"{where}: {at}"))
        _check_dataset(d, where)


def _check_quantizer(cfg: ExperimentConfig, q: QuantizerSpec, where: str) -> None:
    """The method, its preset and options (a quantizer built for each dataset's ID sizes), the levels
    each of its scheme rows needs, and the build_ids options it sets."""
    at = f"[[quantizers]] {q.label!r}"
    cls = check_at(where, at, lambda: get_quantizer_class(q.method))
    build_params = set(inspect.signature(build_ids).parameters)
    build_opts = {k: v for k, v in q.options.items() if k in build_params}
    fixed = sorted(set(build_opts) - set(BUILD_OPTIONS))
    if fixed:
        raise ValueError(f"{where}: {at}: options {fixed} are set by the config itself ([ids], [[schemes]], "
                         f"collisions, seeds, preset), not in a quantizer's options; remove them")
    check_at(where, at, lambda: _check_build_options(build_opts))
    opts = {k: v for k, v in q.options.items() if k not in build_params}
    if q.preset is not None:
        opts["preset"] = q.preset
    rows = [r for r in cfg.schemes if not q.only_schemes or r.name in q.only_schemes]
    for d in cfg.datasets:
        ids = q.id_options(cfg.ids_for(d))
        sizes = level_sizes_for(ids.codebook_size, ids.levels)
        check_at(where, at, lambda sizes=sizes: cls(levels=len(sizes), codebook_size=sizes, seed=0,
                                                      show_progress=False, **opts))
        if q.method_label in cfg.scale_test.options:  # the quantizer-only study's options over the row's
            check_at(where, f"[scale_test.options] {q.method_label!r}", lambda sizes=sizes: cls(
                levels=len(sizes), codebook_size=sizes, seed=0, show_progress=False,
                **{**opts, **cfg.scale_test.options[q.method_label]}))
        for row in rows:
            check_at(where, f"scheme row {row.name!r} with {at} on dataset {d.name!r}",
                     lambda row=row, ids=ids: get_scheme(row.scheme, ids.levels))


def _check_build_options(opts: dict[str, Any]) -> None:
    """A quantizer row's build_ids options: a known bucket order, positive integer counts."""
    order = opts.get("bucket_order")
    if order is not None and order != "popularity":  # the runner always gives popularity
        resolve_bucket_order(order, popularity=None, n=0)
    for key in ("n_neighbours", "max_queries"):
        v = opts.get(key, 1)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"options.{key} must be an integer >= 1, got {v!r}")


def _check_dataset(d: DatasetSpec, where: str) -> None:
    """The options of the dataset's source (its options dataclass in DATA_SOURCES; none for a source
    without one), and the files a dataset names exist."""
    options_class = DATA_SOURCES.options_class(d.source)
    if options_class is None and d.options:
        raise ValueError(f"{where}: datasets.{d.name}.options: source {d.source!r} takes no options, got "
                         f"{sorted(d.options)}; remove them (options are the synthetic world's settings)")
    if options_class is not None:  # seed and min_history default to the dataset's own, as prepare does
        own = {k: getattr(d, k) for k in ("seed", "min_history") if k in {f.name for f in fields(options_class)}}
        from_dict(options_class, {**own, **d.options}, where=f"{where}: datasets.{d.name}.options")
    if d.source == "files":
        for key, file in d.file_paths().items():
            if file is not None and not Path(file).is_file():
                fld = "queries_file" if key == "queries" else key
                how = f"{fld} = \"...\"" if getattr(d, fld) else f"path (or {fld} = \"...\")"
                raise FileNotFoundError(f"{where}: datasets.{d.name}: the {key} file {file!r} does not exist; "
                                        f"set {how} to your file (CSV, TSV, Parquet or JSON Lines)")
    elif d.path is not None and not Path(d.path).exists():
        what = "a MovieLens folder or use download = \"ml-latest-small\"" if d.source == "movielens" else \
            "the directory holding the reviews_<Category>_5 and meta_<Category> files"
        raise FileNotFoundError(f"{where}: datasets.{d.name}.path {d.path!r} does not exist; point it at {what}")
    if d.source == "amazon" and d.meta is not None and not Path(d.meta).is_file():
        raise FileNotFoundError(f"{where}: datasets.{d.name}.meta {d.meta!r} does not exist; point it at the "
                                "meta_<Category>.json(.gz) file or remove it to use the one beside the reviews")
