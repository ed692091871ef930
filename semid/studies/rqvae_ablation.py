"""Which setting decides RQ-VAE's codebook collapse? One factor at a time (issue 13, part 2).

The ``naive`` and ``robust`` presets of :class:`semid.ids.rq_vae.RQVAE` differ in five
settings at once; both reduce the reconstruction loss by ``mean`` over dimensions beside a
quantization loss summed over levels, a loss-scale mismatch that another TIGER
reimplementation found to cause collapse on its own (its fix: ``recon_reduction="sum"``).

The grid (:func:`ablation_arms`): the two presets; each remedy added alone to ``naive``;
each remedy removed alone from ``robust``; and ``sum`` as one more factor on both bases.
Every arm differs from its base in exactly one factor. Each arm is measured with
:func:`semid.studies.rqvae.quantizer_record` (codes used, distinct IDs, largest bucket,
search and rec oracle ceilings) on each embedding set for each seed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from semid.generative.config import DEFAULT_K
from semid.ids.base import DEFAULT_CODEBOOK_SIZE, DEFAULT_LEVELS

logger = logging.getLogger(__name__)

__all__ = ["FACTORS", "REMEDY_VALUES", "Arm", "factor_settings", "ablation_arms", "arm_spec", "run_ablation",
           "summarize_ablation",
           "deciding_factors", "COLLAPSE_SHARE"]

# factor -> the RQVAE options it sets; the values come from the presets (one place), except
# the reconstruction reduction, which neither preset changes.
FACTORS: dict[str, tuple[str, ...]] = {
    "kmeans_init": ("kmeans_init",),
    "dead_code_restarts": ("threshold_ema_dead_code",),
    "commitment_0.25": ("commitment_weight",),
    "ema_decay_0.99": ("decay",),
    "epochs_and_schedule": ("epochs", "lr_schedule", "warmup_epochs"),
    "recon_sum": ("recon_reduction",),
}
REMEDY_VALUES: dict[str, dict[str, Any]] = {"recon_sum": {"recon_reduction": "sum"}}
# an arm is "collapsed" when its first level uses fewer than this share of the codebook
COLLAPSE_SHARE = 0.25


@dataclass
class Arm:
    """One ablation arm: ``base`` preset ("naive" | "robust"), the ``factor`` toggled (None: the
    preset itself), and ``remedies``: factor -> on/off for every factor."""

    label: str
    base: str
    factor: str | None
    remedies: dict[str, bool] = field(default_factory=dict)


def _preset_options(preset: str) -> dict[str, Any]:
    from semid.ids.rq_vae import RQVAE

    return {**RQVAE.DEFAULTS, **RQVAE.PRESETS[preset]}


def factor_settings(factor: str, on: bool) -> dict[str, Any]:
    """The RQVAE options of ``factor`` with its remedy on (robust's values, or ``REMEDY_VALUES``)
    or off (naive's values)."""
    if factor not in FACTORS:
        raise ValueError(f"unknown ablation factor {factor!r}; valid: {list(FACTORS)}")
    if on and factor in REMEDY_VALUES:
        return dict(REMEDY_VALUES[factor])
    opts = _preset_options("robust" if on else "naive")
    return {key: opts[key] for key in FACTORS[factor]}


def _base_remedies(base: str) -> dict[str, bool]:
    if base not in ("naive", "robust"):
        raise ValueError(f"ablation base must be 'naive' or 'robust', got {base!r}")
    return {f: base == "robust" and f not in REMEDY_VALUES for f in FACTORS}


def ablation_arms(factors: list[str] | None = None) -> list[Arm]:
    """naive, naive + each remedy, robust, robust − each remedy it has, robust + each remedy it lacks."""
    factors = list(FACTORS) if factors is None else factors
    bad = [f for f in factors if f not in FACTORS]
    if bad:
        raise ValueError(f"unknown ablation factor(s) {bad}; valid: {list(FACTORS)}")
    arms = []
    for base in ("naive", "robust"):
        rem = _base_remedies(base)
        arms.append(Arm(base, base, None, dict(rem)))
        for f in factors:
            arms.append(Arm(f"{base} {'-' if rem[f] else '+'} {f}", base, f, {**rem, f: not rem[f]}))
    return arms


def arm_spec(arm: Arm, epoch_scale: float = 1.0):
    """The :class:`semid.studies.rqvae.MethodSpec` of an arm; ``epoch_scale`` multiplies its epochs
    (rounded, at least 1) to bound compute; the warm-up stays as set."""
    from semid.studies.rqvae import MethodSpec

    if epoch_scale <= 0:
        raise ValueError(f"epoch_scale must be > 0, got {epoch_scale}")
    opts: dict[str, Any] = {}
    for f, on in arm.remedies.items():
        opts.update(factor_settings(f, on))
    opts["epochs"] = max(1, round(int(opts["epochs"]) * epoch_scale))
    return MethodSpec(arm.label, "rq-vae", None, opts)


def run_ablation(sets: list, arms: list[Arm], seeds: list[int], epoch_scale: float = 1.0, levels: int = DEFAULT_LEVELS,
                 codebook_size: int = DEFAULT_CODEBOOK_SIZE, k: int = DEFAULT_K, record_fn: Any = None,
                 show_progress: bool = True) -> dict[str, Any]:
    """Every (set, arm, seed) record (JSON-ready). sets: :class:`semid.studies.rqvae.EmbeddingSet`;
    ``record_fn(set, spec, seed)`` replaces :func:`semid.studies.rqvae.quantizer_record` (e.g. a cache)."""
    from tqdm.auto import tqdm

    from semid.studies.rqvae import quantizer_record

    if not sets:
        raise ValueError("the ablation needs at least one embedding set (--embeddings NAME=PATH@DATA_DIR)")
    jobs = [(es, a, s) for es in sets for s in seeds for a in arms]
    records = []
    bar = tqdm(jobs, desc="rq-vae ablation", disable=not show_progress)
    for es, arm, seed in bar:
        bar.set_postfix_str(f"{es.name}/{arm.label}/s{seed}")
        spec = arm_spec(arm, epoch_scale)
        r = record_fn(es, spec, seed) if record_fn else quantizer_record(es, spec, seed, levels, codebook_size, k)
        if r is None:  # not fitted (a cache-only rerun)
            continue
        r = {key: v for key, v in r.items() if key not in ("code_counts", "bucket_sizes")}
        records.append(r)
    return {"levels": levels, "codebook_size": codebook_size, "k": k, "epoch_scale": epoch_scale,
            "seeds": list(seeds), "factors": {f: list(keys) for f, keys in FACTORS.items()},
            "collapse_share": COLLAPSE_SHARE, "arms": [vars(a) for a in arms],
            "specs": {a.label: arm_spec(a, epoch_scale).options for a in arms},
            "sets": [{"name": es.name, "n_items": int(len(es.X)), "dim": int(es.X.shape[1]), "source": es.source,
                      "targets": es.targets} for es in sets],
            "records": records}


# ------------------------------------------------------------------ summary
_METRICS = {
    "codes_l1": lambda r: r["codes_used"][0],
    "distinct_ids": lambda r: r["distinct_ids"],
    "max_bucket": lambda r: r["max_bucket"],
    "search": lambda r: r["ceiling"]["search"],
    "rec": lambda r: r["ceiling"]["rec"],
}


def summarize_ablation(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (set, arm): mean, std and per-seed values of each metric, the share of seeds
    collapsed, and the search-ceiling change against the arm's base."""
    records = result["records"]
    cb = int(result["codebook_size"])
    rows = []
    for s in result["sets"]:
        base_search = {}
        for arm in result["arms"]:
            rs = [r for r in records if r["set"] == s["name"] and r["label"] == arm["label"]]
            if not rs:
                continue
            row: dict[str, Any] = {"set": s["name"], "label": arm["label"], "base": arm["base"],
                                   "factor": arm["factor"], "remedies": arm["remedies"], "n_seeds": len(rs)}
            for key, get in _METRICS.items():
                vals = [float(get(r)) for r in rs]
                row[key] = {"mean": float(np.mean(vals)), "std": float(np.std(vals)), "values": vals}
            row["collapsed_share"] = float(np.mean([r["codes_used"][0] < COLLAPSE_SHARE * cb for r in rs]))
            if arm["factor"] is None:
                base_search[arm["base"]] = row["search"]["mean"]
            row["search_delta"] = row["search"]["mean"] - base_search.get(arm["base"], float("nan"))
            rows.append(row)
    return rows


def deciding_factors(rows: list[dict[str, Any]], set_name: str) -> dict[str, Any]:
    """For one set: the factors whose remedy alone un-collapses naive on every seed (``sufficient``,
    only when naive collapses), those whose removal alone collapses robust on every seed
    (``necessary``; ``harmful``: a remedy robust lacks whose addition collapses it), and the
    bases' collapsed shares."""
    by = {r["label"]: r for r in rows if r["set"] == set_name}
    out: dict[str, Any] = {"set": set_name, "sufficient": [], "necessary": [], "harmful": [],
                           "naive_collapsed": by.get("naive", {}).get("collapsed_share"),
                           "robust_collapsed": by.get("robust", {}).get("collapsed_share")}
    for r in by.values():
        if r["factor"] is None:
            continue
        if r["base"] == "naive" and out["naive_collapsed"] and r["collapsed_share"] == 0:
            out["sufficient"].append(r["factor"])
        if r["base"] == "robust" and out["robust_collapsed"] == 0 and r["collapsed_share"] == 1:
            out["necessary" if r["remedies"].get(r["factor"]) is False else "harmful"].append(r["factor"])
    return out
