"""The report's figures (``semid report``), written beside ``report.md``:

- ``tradeoff.png``: search vs recommendation Recall@30 (the paper's Figure 1): generative variants
  (mean over seeds, std as error bars), dense retrieval, random IDs and the popularity line;
- ``code_usage.png``: codes used per level, per variant;
- ``buckets.png``: the cumulative distribution of bucket sizes (items per quantizer ID) per variant.

No text is drawn among the data: every mark is named in a legend beside the axes, so a label can
neither cover a point nor leave the axes, however the points fall. Variants whose bucket sizes are
identical (``separate`` reuses the search-tuned IDs for search) share one line and one legend entry
instead of one line hiding the other.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from semid.experiment.layout import RunLayout
from semid.experiment.records import ResultRecord
from semid.io import atomic_write_bytes

__all__ = ["write_figures", "tradeoff_figure", "code_usage_figure", "buckets_figure", "save_figure", "MARKERS"]

#: generative points: one marker per quantizer (then cycled)
MARKERS = ("o", "^", "D", "v", "P", "X", "<", ">", "p", "h")
_DENSE_MARKERS = ("s", "D", "^", "v", "p", "h")
_LINESTYLES = ("-", "--", "-.", ":")


def _name(key: tuple, n_datasets: int, parts: slice = slice(1, 4)) -> str:
    """``row / quantizer / collisions`` (with the dataset in front when the run has several)."""
    name = " / ".join(str(k) for k in key[parts])
    return f"{key[0]}: {name}" if n_datasets > 1 else name


def _legend_beside(ax, n_entries: int, handles: list | None = None) -> None:
    """The legend right of the axes (never over the data), in columns when it is long; ``handles``
    in the order given (default: matplotlib's)."""
    extra = {"handles": handles} if handles is not None else {}
    ax.legend(**extra, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=7,
              ncol=1 if n_entries <= 24 else 2, frameon=False)


def _mark(ax, xs: np.ndarray, ys: np.ndarray, label: str, **style):
    """One mark at the mean of ``xs, ys`` with std error bars (several seeds); returns a marker-only
    legend handle (error bars in the legend would hide the marker's shape)."""
    from matplotlib.lines import Line2D

    ax.errorbar(xs.mean(), ys.mean(), xerr=xs.std() if len(xs) > 1 else None, yerr=ys.std() if len(ys) > 1 else None,
                capsize=3, linestyle="none", **style)
    return Line2D([], [], linestyle="none", label=label, **style)


def _tradeoff(ax, groups: dict[tuple, list[ResultRecord]], dense: dict[tuple, ResultRecord], baselines: list[ResultRecord]) -> list:
    """Draw the trade-off into ``ax``; returns the legend handles in drawing order."""
    plt = _plt()
    datasets = list(dict.fromkeys([k[0] for k in groups] + [k[0] for k in dense]
                                  + [b.get("dataset") for b in baselines]))
    prefix = (lambda ds: f"{ds}: ") if len(datasets) > 1 else (lambda ds: "")
    rows = list(dict.fromkeys(k[1] for k in groups))
    quants = list(dict.fromkeys(k[2] for k in groups))
    cmap = plt.get_cmap("tab10" if len(rows) <= 10 else "tab20")
    handles = []

    def arr(recs: list[ResultRecord], metric: str) -> np.ndarray:
        return np.array([r.get(metric) or 0.0 for r in recs])

    for key, recs in groups.items():
        handles.append(_mark(ax, arr(recs, "search_recall@30"), arr(recs, "rec_recall@30"), _name(key, len(datasets)),
                             marker=MARKERS[quants.index(key[2]) % len(MARKERS)], markersize=7,
                             color=cmap(rows.index(key[1]) % cmap.N),
                             # without the collision suffix: hollow, so that none / suffix pairs differ
                             markerfacecolor="none" if key[3] == "none" else None))
    measured = [(k, m) for k, m in dense.items()
                if m.get("search_recall@30") is not None and m.get("rec_recall@30") is not None]
    for i, ((ds, emb), m) in enumerate(measured):
        handles.append(_mark(ax, arr([m], "search_recall@30"), arr([m], "rec_recall@30"), f"{prefix(ds)}dense {emb}",
                             marker=_DENSE_MARKERS[i % len(_DENSE_MARKERS)], markersize=7, markerfacecolor="none",
                             markeredgecolor="dimgrey", color="dimgrey"))
    for ds in datasets:
        pop = [b for b in baselines if b.get("dataset") == ds and b.get("kind") == "popularity"
               and b.get("rec_recall@30") is not None]
        for b in pop[:1]:
            handles.append(ax.axhline(b.get("rec_recall@30"), color="grey", linestyle="--", linewidth=1,
                                      label=f"{prefix(ds)}popularity (rec)"))
        rand = [b for b in baselines if b.get("dataset") == ds and b.get("kind") == "random"
                and b.get("search_recall@30") is not None]
        if rand:  # one mark per dataset: the mean over seeds
            handles.append(_mark(ax, arr(rand, "search_recall@30"), arr(rand, "rec_recall@30"),
                                 f"{prefix(ds)}random IDs ({len(rand)} seed{'s' * (len(rand) > 1)})",
                                 marker="x", markersize=8, color="black"))
    ax.set_xlabel("search Recall@30")
    ax.set_ylabel("recommendation Recall@30")
    ax.set_title("Search vs recommendation trade-off")
    # from (just below) 0, so that a mark at 0 is whole
    ax.set_xlim(left=-0.02 * ax.get_xlim()[1])
    ax.set_ylim(bottom=-0.02 * ax.get_ylim()[1])
    ax.grid(alpha=0.3)
    return handles


def _bucket_curve(recs: list[ResultRecord]) -> tuple[np.ndarray, np.ndarray] | None:
    """(bucket sizes, fraction of items in buckets of that size) of the variant's search IDs."""
    from semid.ids.types import SemanticIDs

    if not recs[0].get("eval_dir"):
        return None
    # runs before stage folders were named by key kept the IDs beside the eval folder, under the same name
    ids_dir = Path(recs[0].get("ids_dir") or RunLayout.ids_beside(recs[0].get("eval_dir")))
    try:
        ids = SemanticIDs.load(ids_dir)
    except (FileNotFoundError, KeyError, ValueError):
        return None
    rank = ids.bucket_rank.get("search")
    if rank is None:
        return None
    # a bucket of size b holds ranks 0..b-1: buckets of size >= s = items with rank s-1
    at_least = np.bincount(rank)
    exactly = at_least - np.append(at_least[1:], 0)
    sizes = np.flatnonzero(exactly) + 1
    return sizes, exactly[sizes - 1] * sizes / len(rank)


def save_figure(fig, path: Path, dpi: int) -> None:
    """Lay out, write (atomically) and close a matplotlib figure."""
    import io

    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def tradeoff_figure(groups: dict[tuple, list[ResultRecord]], dense: dict[tuple, ResultRecord], baselines: list[ResultRecord]):
    """The trade-off scatter (a matplotlib Figure; the caller saves or closes it)."""
    fig, ax = _plt().subplots(figsize=(9.5, 5.5))
    handles = _tradeoff(ax, groups, dense, baselines)
    _legend_beside(ax, len(handles), handles)
    return fig


def code_usage_figure(groups: dict[tuple, list[ResultRecord]]):
    """Codes used per level and variant (a Figure), or None when no record has ``codes_used``."""
    n_ds = len({k[0] for k in groups})
    labels, usage = [], []
    for key, recs in groups.items():
        u = recs[0].get("codes_used")
        if u:
            labels.append(_name(key, n_ds, slice(1, 2)) + f"\n{key[2]}/{key[3]}")
            usage.append(u)
    if not usage:
        return None
    n_levels = max(len(u) for u in usage)
    fig, ax = _plt().subplots(figsize=(max(6, 0.9 * len(labels) + 2) + 1.2, 4.5))
    width = 0.8 / n_levels
    x = np.arange(len(labels))
    for lvl in range(n_levels):
        ax.bar(x + lvl * width, [u[lvl] if lvl < len(u) else 0 for u in usage], width, label=f"level {lvl}")
    ax.set_xticks(x + width * (n_levels - 1) / 2, labels, fontsize=7, rotation=30, ha="right")
    ax.set_ylabel("codes used")
    ax.set_title("Codebook usage per level")
    _legend_beside(ax, n_levels)
    return fig


def buckets_figure(groups: dict[tuple, list[ResultRecord]]):
    """Bucket sizes of every variant's search IDs (a Figure), or None when no IDs can be read.
    Variants with identical curves share one line (their names joined by " = ")."""
    n_ds = len({k[0] for k in groups})
    curves: list[tuple[np.ndarray, np.ndarray, list[str]]] = []
    for key, recs in groups.items():
        c = _bucket_curve(recs)
        if c is None:
            continue
        label = _name(key, n_ds, slice(1, 3))
        same = next((cv for cv in curves if np.array_equal(cv[0], c[0]) and np.allclose(cv[1], c[1])), None)
        if same is not None:
            same[2].append(label)
        else:
            curves.append((c[0], c[1], [label]))
    if not curves:
        return None
    fig, ax = _plt().subplots(figsize=(9.5, 4.5))
    big = max(int(c[0].max()) for c in curves)
    for i, (sizes, frac, names) in enumerate(curves):
        # cumulative: monotone curves cross less than per-size fractions, and every one ends at 1
        x, y = np.concatenate([[1], sizes, [big]]), np.concatenate([[0.0], np.cumsum(frac), [1.0]])
        # earlier curves wider, so that one drawn later over it leaves its edges in sight
        width = 1.2 + 2.0 * (len(curves) - 1 - i) / max(len(curves) - 1, 1)
        ax.step(x, y, where="post", color=_plt().get_cmap("tab10")(i % 10), linewidth=width,
                linestyle=_LINESTYLES[i % len(_LINESTYLES)], label=" = ".join(names))
    if big > 50:
        ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("bucket size (items sharing a quantizer ID)")
    ax.set_ylabel("fraction of items in buckets of at most this size")
    ax.set_title("Bucket sizes (search ID), cumulative")
    ax.grid(alpha=0.3)
    _legend_beside(ax, len(curves))
    return fig


def write_figures(out: Path, groups: dict[tuple, list[ResultRecord]], dense: dict[tuple, ResultRecord],
                  baselines: list[ResultRecord]) -> list[str]:
    """Write the figures into ``out``; returns their file names (module docstring)."""
    made = []
    for name, fig in (("tradeoff.png", tradeoff_figure(groups, dense, baselines)),
                      ("code_usage.png", code_usage_figure(groups)), ("buckets.png", buckets_figure(groups))):
        if fig is not None:
            save_figure(fig, out / name, 120)
            made.append(name)
    return made
