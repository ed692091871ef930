"""Figures of the RQ-VAE report (PNG, matplotlib Agg), from the study and ablation dicts only."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from semid.report import save_figure
from semid.studies.rqvae_ablation import summarize_ablation
from semid.studies.rqvae_numbers import by, mean

logger = logging.getLogger(__name__)

__all__ = ["write_figures", "COLORS"]

COLORS = {"rq-kmeans": "tab:blue", "rq-vae-naive": "tab:red", "rq-vae-robust": "tab:green",
          "rlfq": "tab:purple", "dict": "tab:orange"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, fig_dir: Path, fn: str) -> str:
    save_figure(fig, fig_dir / fn, 110)
    return fn


def _code_usage(study: dict[str, Any], name: str, seed0: dict[str, dict[str, Any]], fig_dir: Path) -> str:
    """Items per code, codes sorted by use, one panel per (quantizer, level)."""
    plt, n_levels = _plt(), study["levels"]
    fig, axes = plt.subplots(len(seed0), n_levels, figsize=(4 * n_levels, 1.9 * len(seed0)), squeeze=False, sharey=True)
    for i, (lab, r) in enumerate(seed0.items()):
        for j in range(n_levels):
            counts = np.sort(np.asarray(r["code_counts"][j]))[::-1]
            ax = axes[i, j]
            ax.bar(np.arange(len(counts)), np.maximum(counts, 0.8), width=1.0, color=COLORS.get(lab, "gray"))
            ax.set_yscale("log")
            ax.set_title(f"{lab}, level {j + 1}: {int((counts > 0).sum())} codes used", fontsize=9)
            ax.tick_params(labelsize=7)
            if j == 0:
                ax.set_ylabel("items", fontsize=8)
            if i == len(seed0) - 1:
                ax.set_xlabel("code (sorted by use)", fontsize=8)
    fig.suptitle(f"Code usage per level, {name} (seed {study['seeds'][0]})", fontsize=10)
    return _save(fig, fig_dir, f"code_usage_{name}.png")


def _bucket_sizes(study: dict[str, Any], name: str, seed0: dict[str, dict[str, Any]], fig_dir: Path) -> str:
    """Share of items in buckets of size >= s, per quantizer."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for lab, r in seed0.items():
        size = np.asarray(r["bucket_sizes"]["size"], dtype=float)
        items = size * np.asarray(r["bucket_sizes"]["n_buckets"], dtype=float)
        ccdf = items[::-1].cumsum()[::-1] / items.sum()
        ax.step(size, ccdf, where="post", label=f"{lab} (max {int(size.max())})", color=COLORS.get(lab))
    ax.axvline(study["k"], color="k", ls=":", lw=1)
    ax.text(study["k"] * 1.05, 0.5, f"k={study['k']}", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("bucket size s (items sharing one 2-level ID)")
    ax.set_ylabel("share of items in buckets of size ≥ s")
    ax.set_title(f"Bucket-size distribution, {name} (seed {study['seeds'][0]})", fontsize=10)
    ax.legend(fontsize=7)
    return _save(fig, fig_dir, f"bucket_sizes_{name}.png")


def _training(study: dict[str, Any], name: str, fig_dir: Path) -> str | None:
    """RQ-VAE loss and codes in use per epoch, naive vs robust, every seed."""
    curves = [r for r in study["records"] if r["set"] == name and r.get("training_curve") and r["method"] == "rq-vae"]
    if not curves:
        return None
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for r in curves:
        c, color, first = r["training_curve"], COLORS.get(r["label"], "gray"), r["seed"] == study["seeds"][0]
        a1.plot(c["epoch"], c["loss"], color=color, alpha=0.8, label=r["label"] if first else None)
        used = np.asarray(c["codes_in_use"])
        for j, ls in zip(range(used.shape[1]), ("-", "--", ":"), strict=False):
            a2.plot(c["epoch"], used[:, j], color=color, ls=ls, alpha=0.8,
                    label=f"{r['label']} level {j + 1}" if first else None)
    a1.set_yscale("log")
    a1.set(xlabel="epoch", ylabel="training loss (recon + quantizer)")
    a1.legend(fontsize=7)
    a2.set(xlabel="epoch", ylabel="codes in use (whole training set)", ylim=(0, study["codebook_size"] * 1.05))
    a2.legend(fontsize=7)
    fig.suptitle(f"RQ-VAE training, naive vs robust, {name} (all seeds)", fontsize=10)
    return _save(fig, fig_dir, f"rqvae_training_{name}.png")


def _ceiling_vs_ids(study: dict[str, Any], fig_dir: Path) -> str:
    """Search and rec ceilings against the effective number of IDs: uniform curves and every quantizer."""
    plt = _plt()
    curve, paper_n = study["arithmetic"]["paper_curve"], study["arithmetic"]["paper"]["n_items"]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.plot(curve["n_ids"], curve["search"], "k-", label=f"search, uniform random IDs, N={paper_n}")
    ax.plot(curve["n_ids"], curve["rec"], "k--", label="rec (simulated Zipf popularity), same")
    markers = ["o", "s", "^", "D", "v", "P"]
    for si, s in enumerate(study["sets"]):
        for m in study["methods"]:
            lab, rs = m["label"], by(study["records"], s["name"], m["label"])
            if not rs:
                continue
            # effective IDs scaled to the paper's catalogue so that all sets share one x axis
            eff = mean(rs, lambda r: 2 ** r["id_entropy_bits"] * paper_n / r["n_items"])
            ax.scatter([eff], [mean(rs, lambda r: r["ceiling"]["search"])], color=COLORS.get(lab),
                       marker=markers[si % 6], s=30, label=f"{lab}, {s['name']} (search)")
            ax.scatter([eff], [mean(rs, lambda r: r["ceiling"]["rec"])], facecolors="none", edgecolors=COLORS.get(lab),
                       marker=markers[si % 6], s=30)
    ax.set_xscale("log")
    ax.set(xlabel="effective IDs (2^entropy), scaled to 62,138 items", ylabel=f"oracle Recall@{study['k']} ceiling")
    ax.set_title("Ceiling vs IDs in use (filled: search, hollow: rec)", fontsize=10)
    ax.legend(fontsize=6, loc="lower right")
    return _save(fig, fig_dir, "ceiling_vs_ids.png")


def _ablation(ablation: dict[str, Any], fig_dir: Path) -> str:
    """Search and rec ceilings of every ablation arm (seed means, range as error bars), one panel per set."""
    plt = _plt()
    rows = summarize_ablation(ablation)
    sets = [s["name"] for s in ablation["sets"]]
    fig, axes = plt.subplots(1, len(sets), figsize=(6 * len(sets), 4.6), squeeze=False, sharey=True)
    for ax, name in zip(axes[0], sets, strict=True):
        rs = [r for r in rows if r["set"] == name]
        y = np.arange(len(rs))
        for off, key, color in ((-0.2, "search", "tab:red"), (0.2, "rec", "tab:blue")):
            vals = [r[key]["values"] for r in rs]
            mid = [float(np.mean(v)) for v in vals]
            err = [[m - min(v) for m, v in zip(mid, vals, strict=True)], [max(v) - m for m, v in zip(mid, vals, strict=True)]]
            ax.barh(y + off, mid, height=0.38, xerr=err, color=color, alpha=0.8, label=f"{key} ceiling")
        ax.set_yticks(y, [r["label"] for r in rs], fontsize=7)
        ax.set_title(name, fontsize=10)
    axes[0, 0].invert_yaxis()  # the panels share y: inverting each would flip it back
    for ax in axes[0]:
        ax.set_xlim(0, 1.02)
        ax.set_xlabel(f"oracle Recall@{ablation['k']} ceiling (mean over seeds; bars: min–max)")
    axes[0, 0].legend(loc="upper left", bbox_to_anchor=(0.0, -0.14), ncol=2, fontsize=8)
    fig.suptitle("RQ-VAE ablation: each remedy added to naive, removed from robust", fontsize=10)
    return _save(fig, fig_dir, "ablation_ceilings.png")


def write_figures(study: dict[str, Any], fig_dir: Path, ablation: dict[str, Any] | None = None) -> dict[str, list[str]]:
    """Every PNG; returns {set name: [file names]} plus "_all" (and "_ablation" with an ablation)."""
    fig_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[str]] = {}
    for s in study["sets"]:
        name = s["name"]
        seed0 = {m["label"]: by(study["records"], name, m["label"])[0] for m in study["methods"]
                 if by(study["records"], name, m["label"])}
        files = [_code_usage(study, name, seed0, fig_dir), _bucket_sizes(study, name, seed0, fig_dir)]
        out[name] = files + [f for f in [_training(study, name, fig_dir)] if f]
    out["_all"] = [_ceiling_vs_ids(study, fig_dir)]
    if ablation and ablation.get("records"):
        out["_ablation"] = [_ablation(ablation, fig_dir)]
    return out
