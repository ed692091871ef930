"""Downstream half of the RQ-VAE study: generative recall of a ``semid run`` directory, its paired tests
(Bonferroni) and the measured oracle ceilings of the IDs each model was trained on."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from semid.experiment.layout import RunLayout, variant_slug
from semid.experiment.results import load_results
from semid.generative.config import DEFAULT_K
from semid.studies.rqvae import _dataset_target_weights, _hits_target_weights, task_ceilings
from semid.studies.rqvae_coherence import run_coherence
from semid.studies.rqvae_paired import paired_family, resolve

logger = logging.getLogger(__name__)

__all__ = ["downstream_results", "downstream_runs", "as_merged"]


def downstream_runs(run_dirs: list[str | Path], k: int = DEFAULT_K) -> dict[str, Any]:
    """:func:`downstream_results` of several runs (one per dataset, say) merged into one dict.

    ``runs``: each run's path and setup; ``groups``, ``baselines`` and ``collision_tests``: every
    run's, together; ``families`` and ``missing``: per dataset. A dataset may come from one run
    only (ValueError naming both runs); a run without ``results.json`` is a FileNotFoundError.
    """
    merged: dict[str, Any] = {"runs": [], "groups": [], "collision_tests": [], "baselines": [], "families": {},
                              "missing": {}}
    owner: dict[str, str] = {}
    for run_dir in run_dirs:
        down = downstream_results(run_dir, k)
        if down is None:
            raise FileNotFoundError(f"--run {run_dir} has no results.json; it is not a `semid run` directory, or no "
                                    "variant of it has finished yet (run `semid run CONFIG --out RUN` first)")
        if not down["families"]:
            raise ValueError(f"--run {run_dir}: its results.json holds no record yet; wait for `semid run` to "
                             "finish a variant there")
        for ds in sorted(down["families"]):
            if ds in owner:
                raise ValueError(f"dataset {ds!r} is in two runs, {owner[ds]} and {run_dir}; pass one --run per "
                                 "dataset (or drop one of them)")
            owner[ds] = str(run_dir)
        merged["runs"].append({"run": down["run"], "setup": down["setup"], "datasets": sorted(down["families"])})
        for key in ("groups", "collision_tests", "baselines"):
            merged[key] += down[key]
        merged["families"].update(down["families"])
        merged["missing"].update(down["missing"])
        merged.setdefault("coherence", {}).update(down.get("coherence") or {})
    return merged


def as_merged(down: dict[str, Any] | None) -> dict[str, Any] | None:
    """``down`` in the form of :func:`downstream_runs` (a study.json written before it holds one run's
    :func:`downstream_results`: its datasets get no family of tests)."""
    if not down or "runs" in down:
        return down
    datasets = sorted({g["dataset"] for g in down.get("groups") or []})
    return {**down, "runs": [{"run": down.get("run"), "setup": down.get("setup") or {}, "datasets": datasets}],
            "families": down.get("families") or {}, "missing": down.get("missing") or {}}


def downstream_results(run_dir: str | Path, k: int = DEFAULT_K) -> dict[str, Any] | None:
    """Generative recall of a ``semid run`` directory with significance tests and the ceilings of its IDs.

    Returns None when ``run_dir/results.json`` does not exist. For each (dataset, collisions)
    group: one row per generative record (recall, head / torso, the measured ceiling of its
    IDs on the evaluated examples, see :func:`_run_ceiling`), and paired t-tests with
    Bonferroni (:func:`semid.evaluate.significance.compare`) among its quantizers, paired by
    example (each example's hit@k averaged over seeds; the same sampled test examples for
    every variant) and, where every quantizer has >= 3 seeds, by seed. ``collision_tests``:
    suffix vs none for each (dataset, quantizer). ``baselines``: the run's popularity,
    dense and random-ID records. ``setup``: ID sizes, train and eval settings of the run.
    ``families``: per dataset, the report's family of paired tests (:mod:`semid.studies.rqvae_paired`);
    ``missing``: per dataset, the variants the config plans that have no record yet.
    ``coherence``: per dataset and quantizer, the neighbour coherence of its IDs
    (:mod:`semid.studies.rqvae_coherence`).
    """
    from semid.io import read_json

    run_dir = Path(run_dir)
    layout = RunLayout(run_dir)
    if not layout.results.exists():
        return None
    all_recs = [_resolved(run_dir, r.to_dict()) for r in load_results(run_dir).records]  # the study keeps dicts
    recs = [_with_recall_at_1(r) for r in all_recs if r.get("kind") == "generative"]
    cfg = read_json(layout.config) if layout.config.exists() else {}
    out: dict[str, Any] = {"run": str(run_dir), "setup": _run_setup(run_dir, cfg), "groups": [],
                           "collision_tests": [], "baselines": [r for r in all_recs if r.get("kind") != "generative"]}
    out["families"], out["missing"] = _families(all_recs, cfg, k)
    metrics = [f"search_recall@{k}", f"rec_recall@{k}", "search_recall@1", "rec_recall@1"]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in recs:
        groups.setdefault((r["dataset"], r["collisions"]), []).append(r)
    for (dataset, coll), rs in sorted(groups.items()):
        rows = []
        for r in rs:
            row = {key: r.get(key) for key in ("quantizer", "seed", *metrics, "search_recall@10", "rec_recall@10",
                                                f"rec_head_recall@{k}",
                                                f"rec_torso_recall@{k}", "distinct_ids", "max_bucket", "codes_used")}
            row["ceiling"] = _run_ceiling(run_dir, dataset, r, k)
            diag = layout.ids(dataset, variant_slug(r["row"], r["quantizer"], r["collisions"], r["seed"])) / "diagnostics.json"
            if diag.exists():  # the quantizer's own distinct IDs (before any suffix)
                row["quantizer_distinct_ids"] = read_json(diag).get("quantizer_distinct_ids")
            rows.append(row)
        group = {"dataset": dataset, "collisions": coll, "records": rows, "tests": [], "vs_random": []}
        try:
            group["tests"] = _significance(rs, metrics, "quantizer")
            group["vs_random"] = _vs_random(run_dir, dataset, rs, all_recs, metrics[:2])
        except (ValueError, FileNotFoundError, KeyError) as exc:
            group["tests_error"] = str(exc)
        out["groups"].append(group)
    by_q: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in recs:
        by_q.setdefault((r["dataset"], r["quantizer"]), []).append(r)
    for (dataset, q), rs in sorted(by_q.items()):
        if len({r["collisions"] for r in rs}) < 2:
            continue
        try:
            tests = _significance(rs, metrics, "collisions")
        except (ValueError, FileNotFoundError, KeyError) as exc:
            out["collision_tests"].append({"dataset": dataset, "quantizer": q, "error": str(exc)})
            continue
        out["collision_tests"] += [{"dataset": dataset, "quantizer": q, **t} for t in tests]
    out["coherence"] = {ds: c for ds in sorted({r["dataset"] for r in recs}) if (c := run_coherence(run_dir, ds, recs))}
    return out


def _resolved(run_dir: Path, r: dict[str, Any]) -> dict[str, Any]:
    """The record with its artifact folders found inside ``run_dir`` (:func:`rqvae_paired.resolve`); a
    baseline record without ``eval_dir`` (an older run) gets its layout's folder when that exists."""
    r = {**r, **{key: resolve(run_dir, r[key]) for key in ("eval_dir", "ids_dir") if r.get(key)}}
    layout = RunLayout(run_dir)
    default = {"random": lambda: layout.random_eval(r["dataset"], r.get("seed") or 0),
               "popularity": lambda: layout.popularity_eval(r["dataset"])}.get(r.get("kind"))
    if not r.get("eval_dir") and default is not None and default().exists():
        r["eval_dir"] = str(default())
    return r


def _families(all_recs: list[dict[str, Any]], cfg: dict[str, Any], k: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per dataset of the run: its family of paired tests (:func:`rqvae_paired.paired_family`) and the
    variants its config plans that have no record yet (a run still going)."""
    from semid.report import missing_variants

    datasets = sorted({r["dataset"] for r in all_recs})
    # runs that share RUN (one process per seed) each write config.resolved.json with their own seeds:
    # plan every seed any record of the run has
    seeds = sorted(set(cfg.get("seeds") or []) | {int(r["seed"]) for r in all_recs if r.get("seed") is not None})
    missing = missing_variants(all_recs, {**cfg, "seeds": seeds}) if cfg else []
    families = {ds: paired_family([r for r in all_recs if r["dataset"] == ds], k) for ds in datasets}
    return families, {ds: [m.split("/", 1)[1] for m in missing if m.split("/", 1)[0] == ds] for ds in datasets}


def _with_recall_at_1(r: dict[str, Any]) -> dict[str, Any]:
    """The record plus ``search_recall@1`` / ``rec_recall@1`` from its hits (rank 0), when they exist.

    At 500 items Recall@1 covers 0.2% of the catalogue, close to the share Recall@30 covers
    of the paper's 62,138 movies (0.05%); Recall@30 covers 6%.
    """
    r = dict(r)
    f = Path(r["eval_dir"]) / "hits.parquet" if r.get("eval_dir") else None
    if f is not None and f.exists():
        import pandas as pd

        h = pd.read_parquet(f, columns=["task", "rank"])
        for task in ("search", "rec"):
            ranks = h.loc[h["task"] == task, "rank"].to_numpy()
            if len(ranks):
                r.setdefault(f"{task}_recall@1", float((ranks == 0).mean()))
    return r


def _run_setup(run_dir: Path, cfg: dict[str, Any]) -> dict[str, Any]:
    """ID sizes, items per dataset, train / eval settings of a run (from its resolved config and data)."""
    ids = cfg.get("ids") or {}
    setup: dict[str, Any] = {"name": cfg.get("name"), "levels": ids.get("levels"), "codebook_size": ids.get("codebook_size"),
                             "train": cfg.get("train") or {}, "evaluate": cfg.get("evaluate") or {},
                             "seeds": cfg.get("seeds"), "n_items": {},
                             "quantizers": [{"label": f"{q['method']}-{q['preset']}" if q.get("preset") else q["method"],
                                             "options": q.get("options") or {}} for q in cfg.get("quantizers") or []]}
    setup["id_space"], setup["train_overrides"] = {}, {}
    for d in cfg.get("datasets") or []:
        d_ids = {**ids, **(d.get("ids") or {})}  # per-dataset overrides of [ids] and [train]
        if d_ids.get("levels") and d_ids.get("codebook_size"):
            setup["id_space"][d["name"]] = {"levels": int(d_ids["levels"]), "codebook_size": int(d_ids["codebook_size"]),
                                            "n_ids": int(d_ids["codebook_size"]) ** int(d_ids["levels"])}
        if d.get("train"):
            setup["train_overrides"][d["name"]] = dict(d["train"])
        meta = RunLayout(run_dir).data(d["name"])
        try:
            from semid.data import Dataset

            setup["n_items"][d["name"]] = int(Dataset.load(meta).n_items)
        except (FileNotFoundError, ValueError, OSError):  # no data saved: the length of any saved bucket ranks
            ranks = sorted(RunLayout(run_dir).ids_root(d["name"]).glob("*/bucket_rank_search.npy"))
            if ranks:
                setup["n_items"][d["name"]] = int(len(np.load(ranks[0])))
    if setup["levels"] and setup["codebook_size"]:
        setup["n_ids"] = int(setup["codebook_size"]) ** int(setup["levels"])
    return setup


def _run_ceiling(run_dir: Path, dataset: str, r: dict[str, Any], k: int) -> dict[str, float] | None:
    """Measured oracle ceilings of one run record's IDs.

    Reads the quantizer's bucket ranks (``ids/<slug>/bucket_rank_search.npy``; with the
    suffix they are the suffix codes). Targets: the evaluated examples in the record's
    ``hits.parquet`` when present, else every test query / rec test example of the dataset.
    ``search`` / ``rec``: the ceiling of the quantizer's buckets (``collisions=none``);
    ``search_id`` / ``rec_id``: the ceiling of the IDs the model was trained on (1 with the
    suffix); ``search_first`` / ``rec_first``: targets first in their bucket (with the
    suffix: targets whose suffix is 0).
    """
    layout = RunLayout(run_dir)
    ids_dir = layout.ids(dataset, variant_slug(r["row"], r["quantizer"], r["collisions"], r["seed"]))
    if r.get("ids_dir") and Path(r["ids_dir"]).exists():  # the folder this record's model was trained on
        ids_dir = Path(r["ids_dir"])
    data_dir = layout.data(dataset)
    rank_file = ids_dir / "bucket_rank_search.npy"
    if not rank_file.exists() or not data_dir.exists():
        return None
    rank = np.load(rank_file)
    n = len(rank)
    hits_file = Path(r["eval_dir"]) / "hits.parquet" if r.get("eval_dir") else None
    weights = _hits_target_weights(hits_file, n) if hits_file is not None and hits_file.exists() else None
    if weights is None:
        from semid.data import Dataset

        weights = _dataset_target_weights(Dataset.load(data_dir))
    c = task_ceilings(rank, *weights, k)
    suffix = r["collisions"] == "suffix"
    c["search_id"] = 1.0 if suffix else c["search"]
    c["rec_id"] = 1.0 if suffix else c["rec"]
    return c


def _vs_random(run_dir: Path, dataset: str, rs: list[dict[str, Any]], all_recs: list[dict[str, Any]],
               metrics: list[str]) -> list[dict[str, Any]]:
    """Did the model learn anything? Each quantizer vs the run's random-ID baseline (untrained: random IDs
    ranked by popularity, ``RUN/<dataset>/eval/random-ids__s<seed>``, same test sample), paired by example,
    Bonferroni over all these tests."""
    rand = []
    for b in all_recs:
        if b.get("kind") == "random" and b.get("dataset") == dataset:
            d = RunLayout(run_dir).random_eval(dataset, b["seed"])
            if d.exists():
                rand.append({**b, "quantizer": "random-ids", "eval_dir": str(d)})
    if not rand:
        return []
    tests = []
    for q in sorted({r["quantizer"] for r in rs}):
        tests += [t for t in _significance([r for r in rs if r["quantizer"] == q] + rand, metrics, "quantizer")
                  if t["pair_by"] == "example"]
    for t in tests:  # one family over every quantizer and metric
        t["p_bonferroni"] = None if t["p"] is None else min(1.0, t["p"] * len(tests))
        t["significant"] = t["p_bonferroni"] is not None and t["p_bonferroni"] < 0.05
    return tests


def _significance(rs: list[dict[str, Any]], metrics: list[str], by: str) -> list[dict[str, Any]]:
    """Paired t-tests (Bonferroni within each pairing mode) between the values of record key ``by``."""
    from semid.evaluate.generative import load_eval
    from semid.evaluate.significance import EvalRecord, compare

    records = []
    for r in rs:
        hits = None
        if r.get("eval_dir") and Path(r["eval_dir"]).exists():
            hits = load_eval(r["eval_dir"]).hits
        records.append(EvalRecord(str(r[by]), int(r["seed"]), {m: r.get(m) for m in metrics}, hits))
    variants = {x.variant for x in records}
    if len(variants) < 2:
        return []
    seeds = [{x.seed for x in records if x.variant == v} for v in variants]
    modes = ["example"] + (["seed"] if len(set.intersection(*seeds)) >= 3 else [])
    out = []
    for mode in modes:
        res = compare(records, metrics, pair_by=mode)
        out += res.tests.replace({np.nan: None}).to_dict(orient="records")
    return out
