"""The report's figures are readable (issue 17): no label over a point or outside the figure, no line
hidden under another."""

from __future__ import annotations

import numpy as np
import pytest

from semid.ids.types import SemanticIDs
from semid.report import aggregate
from semid.report.figures import buckets_figure, tradeoff_figure, write_figures

pytest.importorskip("matplotlib")


def _gen(row: str, quant: str, seed: int, s: float, r: float, **kw) -> dict:
    return {"kind": "generative", "dataset": "d", "row": row, "quantizer": quant, "collisions": "suffix", "seed": seed,
            "search_recall@30": s, "rec_recall@30": r, "codes_used": [8, 8], **kw}


def _tradeoff_inputs():
    # crowded: two variants at the same point, random IDs on a variant's point, dense marks at the
    # right edge (the old figure wrote "random IDs" over the point and the dense names past the axes)
    recs = [_gen("search-tuned", "rq-kmeans", 0, 0.80, 0.48), _gen("separate", "rq-kmeans", 0, 0.80, 0.48),
            _gen("rec-tuned", "rq-kmeans", 0, 0.05, 0.05), _gen("rec-tuned", "rq-kmeans", 1, 0.07, 0.06),
            _gen("multi-task", "rq-vae", 0, 0.0, 0.0)]
    dense = {("d", "search"): {"search_recall@30": 0.999, "rec_recall@30": 0.10},
             ("d", "multitask"): {"search_recall@30": 0.998, "rec_recall@30": 0.12}}
    base = [{"kind": "popularity", "dataset": "d", "rec_recall@30": 0.24},
            {"kind": "random", "dataset": "d", "seed": 0, "search_recall@30": 0.05, "rec_recall@30": 0.05},
            {"kind": "random", "dataset": "d", "seed": 1, "search_recall@30": 0.07, "rec_recall@30": 0.06}]
    return aggregate(recs), dense, base


def test_tradeoff_names_every_mark_in_a_legend_beside_the_axes_and_inside_the_figure():
    import matplotlib.pyplot as plt

    fig = tradeoff_figure(*_tradeoff_inputs())
    fig.tight_layout()
    fig.canvas.draw()
    ax = fig.axes[0]
    assert len(ax.texts) == 0  # no label drawn among the data
    legend = ax.get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == ["search-tuned / rq-kmeans / suffix", "separate / rq-kmeans / suffix",
                      "rec-tuned / rq-kmeans / suffix", "multi-task / rq-vae / suffix", "dense search",
                      "dense multitask", "popularity (rec)", "random IDs (2 seeds)"]
    box, axes_box, fig_box = legend.get_window_extent(), ax.get_window_extent(), fig.bbox
    assert box.x0 >= axes_box.x1  # right of the axes: over no data point
    assert fig_box.x0 <= box.x0 and box.x1 <= fig_box.x1 and fig_box.y0 <= box.y0 and box.y1 <= fig_box.y1
    # every mark within the axes, including those at 0 and at the right edge
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x0 < 0.0 and x1 > 0.999 and y0 < 0.0 and y1 > 0.48
    plt.close(fig)


def _ids_dir(tmp_path, name: str, codes: list[int]) -> str:
    codes_arr = np.array(codes)
    rank = np.zeros(len(codes), dtype=np.int64)
    for c in set(codes):  # position of each item inside its bucket
        rank[codes_arr == c] = np.arange((codes_arr == c).sum())
    ids = SemanticIDs(codes_arr[:, None], ["a"], [max(codes) + 1], {"search": [0], "rec": [0]},
                      bucket_rank={"search": rank})
    return str(ids.save(tmp_path / "ids" / name))


def test_buckets_identical_curves_share_one_line_and_all_are_drawn(tmp_path):
    import matplotlib.pyplot as plt

    same = [0, 0, 1, 2, 2, 2]
    recs = [_gen("search-tuned", "rq-kmeans", 0, 0.5, 0.5, eval_dir="x", ids_dir=_ids_dir(tmp_path, "a", same)),
            _gen("separate", "rq-kmeans", 0, 0.5, 0.5, eval_dir="x", ids_dir=_ids_dir(tmp_path, "b", same)),
            _gen("rec-tuned", "rq-kmeans", 0, 0.5, 0.5, eval_dir="x", ids_dir=_ids_dir(tmp_path, "c", [0, 1, 2, 3, 4, 4]))]
    fig = buckets_figure(aggregate(recs))
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["search-tuned / rq-kmeans = separate / rq-kmeans", "rec-tuned / rq-kmeans"]
    assert len(ax.get_lines()) == 2
    # cumulative fraction of items in buckets of at most s items: sizes 1 (1 item), 2 (2), 3 (3) -> 1/6, 3/6, 1
    y = ax.get_lines()[0].get_ydata()
    assert np.allclose(sorted(set(np.round(y, 6))), [0.0, 1 / 6, 0.5, 1.0])
    plt.close(fig)


def test_write_figures_writes_each_figure_and_skips_buckets_without_ids(tmp_path):
    groups, dense, base = _tradeoff_inputs()
    made = write_figures(tmp_path, groups, dense, base)
    assert made == ["tradeoff.png", "code_usage.png"]
    assert all((tmp_path / f).read_bytes()[:4] == b"\x89PNG" for f in made)
