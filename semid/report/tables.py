"""The report's Markdown tables: the paper's Tables 1-3, recommendation at the benchmark's
cutoffs, the README summary, the training budget, other variants, baselines and stage times.

Each function returns Markdown lines ([] when the run has nothing for that table).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from semid.experiment.records import ResultRecord, as_records
from semid.report.aggregate import METRICS, Groups, aggregate, mean_std, significance, span

__all__ = ["PAPER_FIGURES", "PUBLISHED_REC", "paper_figure", "paper_table", "benchmark_table", "summary_table",
           "budget_table", "other_variants_table", "baselines_list_table", "timings_table"]

# R@30 (search, rec) from the paper, as DESIGN.md quotes them (MovieLens-25M, flan-t5-base).
PAPER_FIGURES: dict[str, dict[str, tuple[float, float]]] = {
    "table2": {
        "search-tuned": (0.072, 0.026),
        "rec-tuned": (0.004, 0.062),
        "separate": (0.028, 0.032),
        "prefix-share": (0.007, 0.021),
        "fused-concat": (0.048, 0.018),
        "fused-svd": (0.033, 0.038),
        "multi-task": (0.046, 0.049),
    },
    "table3": {
        "rq-kmeans": (0.046, 0.049),
        "dict": (0.019, 0.029),
        "rlfq": (0.018, 0.023),
        "rq-vae": (0.002, 0.024),
        "rq-vae-naive": (0.002, 0.024),
    },
}

# Published recommendation figures on benchmark datasets, shown beside a dataset of the same name
# (../shared/data/README.md quotes them). Leave-last-out, ranking over the full catalogue.
PUBLISHED_REC: dict[str, list[tuple[str, dict[str, float]]]] = {
    "amazon-beauty": [
        ("TIGER (Rajput et al., NeurIPS 2023)",
         {"rec_recall@5": 0.0454, "rec_recall@10": 0.0648, "rec_ndcg@5": 0.0321, "rec_ndcg@10": 0.0384}),
        ("cornac's TIGER, its defaults (cornac 3 README)", {"rec_recall@5": 0.0217}),
        ("cornac's TIGER, its best recipe (cornac 3 README)", {"rec_recall@5": 0.0419}),
        ("cornac's TIGER beside its tuned SASRec (cornac 3 README)", {"rec_recall@10": 0.0634}),
        ("cornac's SASRec, tuned (cornac 3 README)", {"rec_recall@10": 0.0740}),
    ],
}
BENCHMARK_METRICS = ("rec_recall@5", "rec_recall@10", "rec_ndcg@5", "rec_ndcg@10", "rec_recall@30")

TABLE_TITLES = {
    "table1": "Table 1: task-specific Semantic IDs in a joint model",
    "table2": "Table 2: Semantic IDs built for both tasks",
    "table3": "Table 3: quantizers on multi-task embeddings",
}

def paper_figure(row: str, quant: str) -> tuple[float, float] | None:
    """The paper's (search, rec) R@30 for IDs of ``row`` made by ``quant``, or None where the paper has
    none: RQ-KMeans rows are Table 2's (whose search-tuned and rec-tuned rows are Table 1's task-specific
    IDs), other quantizers Table 3's, which used the multi-task embeddings only. The report's tables
    and the README summary both read it (Table 1 showed "–" where the summary showed the figures)."""
    if quant == "rq-kmeans":
        return PAPER_FIGURES["table2"].get(row)
    return PAPER_FIGURES["table3"].get(quant) if row == "multi-task" else None


def paper_table(name: str, groups: Groups, dense: dict[tuple, ResultRecord], default_quantizer: str | None) -> list[str]:
    """The paper's Table ``name`` (``table1`` .. ``table3``) of the variants whose row belongs to it:
    R@30 mean ± std, † where it differs significantly from the first row, the dense baselines of
    the row's embedding, ID diagnostics and the paper's figures. Tables 1 and 2 show the default
    (first) quantizer only."""
    rows = [(key, recs) for key, recs in groups.items() if name in (recs[0].tables or [])
            and (name == "table3" or default_quantizer is None or key[2] == default_quantizer)]
    if not rows:
        return []
    ref_key = rows[0][0]
    pvals = significance(rows)
    lines = [f"### {TABLE_TITLES.get(name, name)}", ""]
    lines.append(f"Mean ± std over seeds. † marks a difference from the first row ({ref_key[1]}, {ref_key[2]}, "
                 f"{ref_key[3]}) with p < 0.05 after Bonferroni correction over all pairs of rows and both metrics "
                 f"(paired t-tests: by seed with 3+ seeds, else by test example).")
    lines.append("")
    lines.append("| dataset | IDs | quantizer | collisions | seeds | search R@30 | rec R@30 | rec head R@30 | rec torso R@30 "
                 "| dense search R@30 | dense rec R@30 | collision rate | codes used / level | paper search / rec |")
    lines.append("|" + "---|" * 14)
    for key, recs in rows:
        dataset, row, quant, coll = key
        cells = []
        for m in METRICS:
            cell = mean_std([r.get(m) for r in recs])
            p = pvals.get(("|".join(str(k) for k in key), m))
            if p is not None and p < 0.05:
                cell += " †"
            cells.append(cell)
        d = dense.get((dataset, "" if "embedding" in recs[0].absent else recs[0].embedding))
        util = recs[0].codes_used
        util_s = " / ".join(str(u) for u in util) if util else "–"
        pf = paper_figure(row, quant)
        pf_s = f"{pf[0]:.3f} / {pf[1]:.3f}" if pf else "–"
        lines.append(
            f"| {dataset} | {row} | {quant} | {coll} | {len(recs)} | " + " | ".join(cells)
            + f" | {mean_std([_get(d, 'search_recall@30')])} | {mean_std([_get(d, 'rec_recall@30')])}"
            + f" | {mean_std([r.collision_rate for r in recs])} | {util_s} | {pf_s} |"
        )
    lines.append("")
    return lines


def _get(rec: ResultRecord | None, key: str) -> Any:
    return None if rec is None else rec.get(key)


def benchmark_table(records: list[ResultRecord | dict[str, Any]]) -> list[str]:
    """Recommendation at the benchmark's cutoffs (Recall@5/10, NDCG@5/10, beside R@30), per dataset:
    every generative variant (mean ± std over seeds), popularity, ENMF's own user vectors, and the
    published rows of :data:`PUBLISHED_REC` for a dataset of that name, marked as not measured.
    [] when no record has these metrics (runs made before they existed)."""
    records = as_records(records)
    if not any(r.get("rec_recall@5") is not None for r in records):
        return []
    names = {"rec_recall@5": "R@5", "rec_recall@10": "R@10", "rec_ndcg@5": "NDCG@5", "rec_ndcg@10": "NDCG@10",
             "rec_recall@30": "R@30"}
    lines = ["### Recommendation at the benchmark's cutoffs", "",
             "Each user's last item is the test target (the one before it validation, which joins the history: the "
             "earlier items, of which the generative model reads the last max_history), ranked over the full catalogue; one relevant item, so NDCG@k = 1/log2(rank+1) within the "
             "top k. Mean ± std over seeds; \"test users\" is how many were scored. Published rows are copied from "
             "their papers, not measured here: other code, hardware and budgets.", "",
             "| dataset | model | seeds | test users | " + " | ".join(names[m] for m in BENCHMARK_METRICS) + " |",
             "|" + "---|" * (4 + len(BENCHMARK_METRICS))]
    datasets = list(dict.fromkeys(r.dataset for r in records if r.dataset))
    for ds in datasets:
        rows: list[tuple[str, list[ResultRecord], str]] = []
        for (dataset, row, quant, coll), recs in aggregate(records).items():
            if dataset == ds:
                rows.append((f"generative: {row} IDs, {quant}, {coll}", recs, ""))
        for r in records:
            if r.dataset == ds and r.kind == "popularity":
                rows.append(("popularity (no model)", [r], ""))
            if r.dataset == ds and r.kind == "dense" and r.get("enmf_rec_recall@5") is not None:
                rows.append((f"ENMF user vectors · item vectors ({r.embedding}), dense", [r], "enmf_"))
        for label, recs, prefix in rows:
            n = span([r.get(f"{prefix}n_rec") for r in recs])
            lines.append(f"| {ds} | {label} | {len(recs)} | {n} | "
                         + " | ".join(mean_std([r.get(prefix + m) for r in recs], "{:.4f}") for m in BENCHMARK_METRICS)
                         + " |")
        for label, figs in PUBLISHED_REC.get(ds, []):
            lines.append(f"| {ds} | {label}: published, not measured | – | – | "
                         + " | ".join(f"{figs[m]:.4f}" if m in figs else "–" for m in BENCHMARK_METRICS) + " |")
    return lines + [""]


def summary_table(records: list[ResultRecord | dict[str, Any]]) -> list[str]:
    """A compact Markdown table for a README: every generative variant and the baselines, R@30 mean ± std."""
    records = as_records(records)
    groups = aggregate(records)
    order = {"table1": 0, "table2": 1, "table3": 2}

    def rank(item: tuple[tuple, list[ResultRecord]]) -> tuple:
        tables = item[1][0].tables or ["~"]
        return (item[0][0], min(order.get(t, 9) for t in tables))

    lines = ["| dataset | IDs | quantizer | collisions | seeds | search R@30 | rec R@30 | paper search / rec |",
             "|---|---|---|---|---|---|---|---|"]
    for (dataset, row, quant, coll), recs in sorted(groups.items(), key=rank):
        pf = paper_figure(row, quant)
        lines.append(f"| {dataset} | {row} | {quant} | {coll} | {len(recs)} | "
                     f"{mean_std([r.get('search_recall@30') for r in recs])} | {mean_std([r.get('rec_recall@30') for r in recs])} | "
                     + (f"{pf[0]:.3f} / {pf[1]:.3f} |" if pf else "– |"))
    by_kind: dict[tuple[str, str], list[ResultRecord]] = defaultdict(list)
    for r in records:
        if r.kind in ("popularity", "random"):
            by_kind[(r.dataset, r.kind)].append(r)
    for (dataset, kind), recs in sorted(by_kind.items()):
        label = "popularity (no model)" if kind == "popularity" else "random valid IDs (untrained)"
        lines.append(f"| {dataset} | {label} | – | – | {len(recs)} | {mean_std([r.get('search_recall@30') for r in recs])} | "
                     f"{mean_std([r.get('rec_recall@30') for r in recs])} | – |")
    return lines


def budget_table(records: list[ResultRecord | dict[str, Any]], config: dict[str, Any] | None = None) -> list[str]:
    """The training budget of the generative models, per dataset: epochs, optimizer steps, training
    examples and training time. Records carry these since issue 17; for older runs the epochs come
    from ``config`` (``config.resolved.json``) and steps / examples show "–"."""
    from semid.generative.config import TrainConfig

    gen = [r for r in as_records(records) if r.kind == "generative"]
    if not gen:
        return []
    by_ds: dict[str, list[ResultRecord]] = defaultdict(list)
    for r in gen:
        by_ds[r.dataset].append(r)
    lines = ["### Training budget", "",
             "Per dataset: the generative models' epochs, optimizer steps and training examples (one value, or the "
             "range over the models), and the training loop's wall time (no evaluation) on the run's hardware.", "",
             "| dataset | models | epochs | steps / model | training examples / model | training time / model "
             "| total training time |", "|---|---|---|---|---|---|---|"]
    for ds, recs in by_ds.items():
        epochs = [r.epochs for r in recs]
        if all(e is None for e in epochs) and config:
            train = dict(config.get("train") or {})
            train.update(next((d.get("train") or {} for d in config.get("datasets", []) if d.get("name") == ds), {}))
            epochs = [train.get("epochs", TrainConfig().epochs)]
        times = [r.get("train_time_s") for r in recs if r.get("train_time_s") is not None]
        per = f"{np.mean(times):.0f} s (mean)" if times else "–"
        total = f"{sum(times) / 60:.1f} min" if times else "–"
        lines.append(f"| {ds} | {len(recs)} | {span(epochs, '{:g}')} | {span([r.steps for r in recs])} | "
                     f"{span([r.n_train_examples for r in recs])} | {per} | {total} |")
    return lines + [""]


def other_variants_table(groups: Groups) -> list[str]:
    """Variants whose scheme row belongs to none of the paper's tables."""
    other = {k: v for k, v in groups.items() if not v[0].tables}
    if not other:
        return []
    lines = ["### Other variants", "", "| dataset | IDs | quantizer | collisions | seeds | search R@30 | rec R@30 |",
             "|---|---|---|---|---|---|---|"]
    for key, recs in other.items():
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {len(recs)} | "
                     f"{mean_std([r.get('search_recall@30') for r in recs])} | {mean_std([r.get('rec_recall@30') for r in recs])} |")
    return lines + [""]


def baselines_list_table(records: list[ResultRecord]) -> list[str]:
    """Every baseline record (popularity, random IDs, dense) with its R@30 metrics."""
    base = [r for r in records if r.kind in ("popularity", "random", "dense")]
    if not base:
        return []
    lines = ["### Baselines", "", "| kind | dataset | embedding / seed | search R@30 | rec R@30 | rec head R@30 | rec torso R@30 |",
             "|---|---|---|---|---|---|---|"]
    for r in base:
        which = r.embedding if r.kind == "dense" else r.get("seed", "")
        lines.append(f"| {r.kind} | {r.dataset} | {which} | " + " | ".join(mean_std([r.get(m)]) for m in METRICS) + " |")
    return lines + [""]


def timings_table(timings: dict[str, Any]) -> list[str]:
    """The stages' wall time from ``timings.json`` (this invocation; reused stages: their build time)."""
    lines = ["### Stage wall time", "",
             f"Total: {timings['total_seconds']:.0f} s (this invocation; reused stages show the time they took when built).", "",
             "| stage | name | seconds | reused |", "|---|---|---|---|"]
    for s in timings["stages"]:
        lines.append(f"| {s['kind']} | {s['name']} | {s['seconds']:.1f} | {'yes' if s['reused'] else 'no'} |")
    return lines + [""]
