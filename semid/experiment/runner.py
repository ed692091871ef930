"""The pipeline over a grid of configs, with stage caching (DESIGN.md "Data flow").

``run_experiment(cfg, run_dir)`` builds, per dataset, the data, the embeddings and the baselines,
then for every variant (:func:`plan_variants`) its IDs, model and evaluation, each in its folder
of :class:`~semid.experiment.layout.RunLayout` (the run directory's layout, one place) through
:class:`~semid.experiment.pipeline.Pipeline`. Every variant and baseline ends as a typed
:class:`~semid.experiment.records.ResultRecord` in ``RUN/results.json``
(:mod:`semid.experiment.results`).

Each stage folder is a symlink to ``<folder>@<key8>``, the folder named by its key;
a stage is reused when its key (config + input keys) is unchanged and its files are intact,
and model training resumes from its newest checkpoint; see stages.py. Runs that share one RUN
(one process per seed or per dataset) end with every record of each.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from tqdm.auto import tqdm

from semid.config import to_dict
from semid.experiment.config import ExperimentConfig, validate_experiment
from semid.experiment.layout import RunLayout
from semid.experiment.pipeline import (  # noqa: F401 (the stage specs: re-exported where they were defined)
    Pipeline,
    Variant,
    data_stage_spec,
    plan_variants,
    prepare_dataset,
    quantizer_stage_spec,
)
from semid.experiment.results import collect_records, record_name
from semid.io import write_json

logger = logging.getLogger(__name__)

__all__ = ["run_experiment", "Variant", "plan_variants", "record_name", "collect_records"]


def run_experiment(cfg: ExperimentConfig, run_dir: str | Path, show_progress: bool = True) -> Path:
    """Run (or resume) every stage of ``cfg`` under ``run_dir``; returns ``run_dir/results.json``."""
    validate_experiment(cfg)
    layout = RunLayout(run_dir)
    layout.root.mkdir(parents=True, exist_ok=True)
    write_json(layout.config, to_dict(cfg))
    p = Pipeline(cfg, layout.root, show_progress)
    variants = plan_variants(cfg)
    t_start = time.perf_counter()
    total = len(cfg.datasets) + len(variants)
    bar = tqdm(total=total, desc=f"semid run {cfg.name}", unit="step", disable=not show_progress, position=0)
    random_done: set[tuple[str, int]] = set()
    for spec in cfg.datasets:
        bar.set_postfix_str(f"{spec.name}: data, embeddings, baselines")
        p.dataset(spec)
        p.dense_baselines(spec)
        bar.update(1)
    for i, v in enumerate(variants, 1):
        bar.set_postfix_str(f"[{i}/{len(variants)}] {v.dataset.name}/{v.slug}")
        logger.info("variant %d/%d: %s/%s", i, len(variants), v.dataset.name, v.slug)
        ids_path, ids_key = p.ids(v)
        if cfg.random_baseline and (v.dataset.name, v.seed) not in random_done:
            p.random_baseline(v, ids_path, ids_key)
            random_done.add((v.dataset.name, v.seed))
        model_path, model_key = p.model(v, ids_path, ids_key)
        eval_path, metrics = p.evaluate(v, model_path, model_key)
        p.record(p.generative_record(v, metrics, eval_path, ids_path, model_path))
        bar.update(1)
    bar.close()
    timings = [vars(s) for s in p.cache.records]
    write_json(layout.timings, {"total_seconds": time.perf_counter() - t_start, "stages": timings})
    return layout.results
