"""Reports: Markdown tables in the layout of the paper's Tables 1-3, and PNG figures.

``write_report(run_dir)`` reads ``RUN/results.json`` (and ``timings.json``) and writes
``RUN/report/report.md`` plus the figures of :mod:`semid.report_figures` (``tradeoff.png``,
``code_usage.png``, ``buckets.png``).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from semid.io import atomic_write_bytes, atomic_write_text, read_json

logger = logging.getLogger(__name__)

__all__ = ["write_report", "summary_table", "splice_readme", "mean_std", "save_figure", "PAPER_FIGURES", "aggregate",
           "budget_table", "missing_variants", "paper_figure", "benchmark_table", "PUBLISHED_REC"]

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
VARIANT_KEYS = ("dataset", "row", "quantizer", "collisions")
METRICS = ("search_recall@30", "rec_recall@30", "rec_head_recall@30", "rec_torso_recall@30")


def mean_std(values: list[float], fmt: str = "{:.3f}") -> str:
    """``mean ± std`` (sample std) of the values that are not None or NaN; one value alone; "–" for none."""
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return "–"
    if len(vals) == 1:
        return fmt.format(vals[0])
    return f"{fmt.format(float(np.mean(vals)))} ± {fmt.format(float(np.std(vals, ddof=1)))}"


def save_figure(fig, path: Path, dpi: int) -> None:
    """Lay out, write (atomically) and close a matplotlib figure."""
    import io

    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())


def aggregate(records: list[dict[str, Any]]) -> dict[tuple, list[dict[str, Any]]]:
    """Group generative records by variant (everything but the seed)."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r.get("kind") == "generative":
            groups[tuple(r.get(k) for k in VARIANT_KEYS)].append(r)
    return groups


def _significance(rows: list[tuple[tuple, list[dict[str, Any]]]]) -> dict[tuple[str, str], float]:
    """Bonferroni-corrected p-values of every row against the first, per R@30 metric.

    Uses :func:`semid.evaluate.significance.compare` (paired by seed with >= 3 shared seeds,
    else by example) over all pairs of rows in the table; rows without saved hits are skipped.
    """
    from semid.evaluate.generative import load_eval
    from semid.evaluate.significance import EvalRecord, compare

    records = []
    for key, recs in rows:
        for r in recs:
            try:
                ev = load_eval(r["eval_dir"])
            except (KeyError, FileNotFoundError, ValueError):
                continue
            records.append(EvalRecord("|".join(str(k) for k in key), int(r.get("seed", 0)), ev.metrics, ev.hits))
    if len({r.variant for r in records}) < 2:
        return {}
    tests = compare(records).tests
    ref = "|".join(str(k) for k in rows[0][0])
    out = {}
    for t in tests.itertuples():
        if ref in (t.a, t.b):
            other = t.b if t.a == ref else t.a
            out[(other, t.metric)] = float(t.p_bonferroni)
    return out


def paper_figure(row: str, quant: str) -> tuple[float, float] | None:
    """The paper's (search, rec) R@30 for IDs of ``row`` made by ``quant``, or None where the paper has
    none: RQ-KMeans rows are Table 2's (whose search-tuned and rec-tuned rows are Table 1's task-specific
    IDs), other quantizers Table 3's, which used the multi-task embeddings only. The report's tables
    and the README summary both read it (Table 1 showed "–" where the summary showed the figures)."""
    if quant == "rq-kmeans":
        return PAPER_FIGURES["table2"].get(row)
    return PAPER_FIGURES["table3"].get(quant) if row == "multi-task" else None


def _table(name: str, groups: dict[tuple, list[dict]], dense: dict[tuple, dict], default_quantizer: str | None) -> list[str]:
    rows = [(key, recs) for key, recs in groups.items() if name in (recs[0].get("tables") or [])
            and (name == "table3" or default_quantizer is None or key[2] == default_quantizer)]
    if not rows:
        return []
    ref_key = rows[0][0]
    pvals = _significance(rows)
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
        emb = recs[0].get("embedding", "")
        d = dense.get((dataset, emb), {})
        util = recs[0].get("codes_used")
        util_s = " / ".join(str(u) for u in util) if util else "–"
        pf = paper_figure(row, quant)
        pf_s = f"{pf[0]:.3f} / {pf[1]:.3f}" if pf else "–"
        lines.append(
            f"| {dataset} | {row} | {quant} | {coll} | {len(recs)} | " + " | ".join(cells)
            + f" | {mean_std([d.get('search_recall@30')])} | {mean_std([d.get('rec_recall@30')])}"
            + f" | {mean_std([r.get('collision_rate') for r in recs])} | {util_s} | {pf_s} |"
        )
    lines.append("")
    return lines


def benchmark_table(records: list[dict[str, Any]]) -> list[str]:
    """Recommendation at the benchmark's cutoffs (Recall@5/10, NDCG@5/10, beside R@30), per dataset:
    every generative variant (mean ± std over seeds), popularity, ENMF's own user vectors, and the
    published rows of :data:`PUBLISHED_REC` for a dataset of that name, marked as not measured.
    [] when no record has these metrics (runs made before they existed)."""
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
    datasets = list(dict.fromkeys(r["dataset"] for r in records if r.get("dataset")))
    for ds in datasets:
        rows: list[tuple[str, list[dict[str, Any]], str]] = []
        for (dataset, row, quant, coll), recs in aggregate(records).items():
            if dataset == ds:
                rows.append((f"generative: {row} IDs, {quant}, {coll}", recs, ""))
        for r in records:
            if r.get("dataset") == ds and r.get("kind") == "popularity":
                rows.append(("popularity (no model)", [r], ""))
            if r.get("dataset") == ds and r.get("kind") == "dense" and r.get("enmf_rec_recall@5") is not None:
                rows.append((f"ENMF user vectors · item vectors ({r.get('embedding')}), dense", [r], "enmf_"))
        for label, recs, prefix in rows:
            n = _span([r.get(f"{prefix}n_rec") for r in recs])
            lines.append(f"| {ds} | {label} | {len(recs)} | {n} | "
                         + " | ".join(mean_std([r.get(prefix + m) for r in recs], "{:.4f}") for m in BENCHMARK_METRICS)
                         + " |")
        for label, figs in PUBLISHED_REC.get(ds, []):
            lines.append(f"| {ds} | {label}: published, not measured | – | – | "
                         + " | ".join(f"{figs[m]:.4f}" if m in figs else "–" for m in BENCHMARK_METRICS) + " |")
    return lines + [""]


def summary_table(records: list[dict[str, Any]]) -> list[str]:
    """A compact Markdown table for a README: every generative variant and the baselines, R@30 mean ± std."""
    groups = aggregate(records)
    order = {"table1": 0, "table2": 1, "table3": 2}

    def rank(item: tuple[tuple, list[dict]]) -> tuple:
        tables = item[1][0].get("tables") or ["~"]
        return (item[0][0], min(order.get(t, 9) for t in tables))

    lines = ["| dataset | IDs | quantizer | collisions | seeds | search R@30 | rec R@30 | paper search / rec |",
             "|---|---|---|---|---|---|---|---|"]
    for (dataset, row, quant, coll), recs in sorted(groups.items(), key=rank):
        pf = paper_figure(row, quant)
        lines.append(f"| {dataset} | {row} | {quant} | {coll} | {len(recs)} | "
                     f"{mean_std([r.get('search_recall@30') for r in recs])} | {mean_std([r.get('rec_recall@30') for r in recs])} | "
                     + (f"{pf[0]:.3f} / {pf[1]:.3f} |" if pf else "– |"))
    by_kind: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in records:
        if r.get("kind") in ("popularity", "random"):
            by_kind[(r["dataset"], r["kind"])].append(r)
    for (dataset, kind), recs in sorted(by_kind.items()):
        label = "popularity (no model)" if kind == "popularity" else "random valid IDs (untrained)"
        lines.append(f"| {dataset} | {label} | – | – | {len(recs)} | {mean_std([r.get('search_recall@30') for r in recs])} | "
                     f"{mean_std([r.get('rec_recall@30') for r in recs])} | – |")
    return lines


README_BEGIN = "<!-- semid:results {name} -->"
README_END = "<!-- /semid:results -->"


def splice_readme(readme: str | Path, run_dir: str | Path) -> Path:
    """Replace the block between ``<!-- semid:results NAME -->`` and ``<!-- /semid:results -->`` in ``readme``
    with :func:`summary_table` of ``run_dir`` (NAME: the run's config name)."""
    readme, run_dir = Path(readme), Path(run_dir)
    results = read_json(run_dir / "results.json")
    begin = README_BEGIN.format(name=results.get("name", run_dir.name))
    text = readme.read_text(encoding="utf-8")
    i = text.find(begin)
    j = text.find(README_END, i + 1) if i >= 0 else -1
    if i < 0 or j < 0:
        raise ValueError(f"{readme} has no block {begin} ... {README_END}; add those two lines where the table goes")
    table = "\n".join(summary_table(results["records"]))
    atomic_write_text(readme, text[:i + len(begin)] + "\n" + table + "\n" + text[j:])
    return readme


def _span(values: list[Any], fmt: str = "{:,}") -> str:
    """One value, ``a–b`` for several, "–" for none."""
    vals = sorted({v for v in values if v is not None})
    if not vals:
        return "–"
    return fmt.format(vals[0]) if len(vals) == 1 else f"{fmt.format(vals[0])}–{fmt.format(vals[-1])}"


def budget_table(records: list[dict[str, Any]], config: dict[str, Any] | None = None) -> list[str]:
    """The training budget of the generative models, per dataset: epochs, optimizer steps, training
    examples and training time. Records carry these since issue 17; for older runs the epochs come
    from ``config`` (``config.resolved.json``) and steps / examples show "–"."""
    from semid.generative.config import TrainConfig

    gen = [r for r in records if r.get("kind") == "generative"]
    if not gen:
        return []
    by_ds: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in gen:
        by_ds[r["dataset"]].append(r)
    lines = ["### Training budget", "",
             "Per dataset: the generative models' epochs, optimizer steps and training examples (one value, or the "
             "range over the models), and the training loop's wall time (no evaluation) on the run's hardware.", "",
             "| dataset | models | epochs | steps / model | training examples / model | training time / model "
             "| total training time |", "|---|---|---|---|---|---|---|"]
    for ds, recs in by_ds.items():
        epochs = [r.get("epochs") for r in recs]
        if all(e is None for e in epochs) and config:
            train = dict(config.get("train") or {})
            train.update(next((d.get("train") or {} for d in config.get("datasets", []) if d.get("name") == ds), {}))
            epochs = [train.get("epochs", TrainConfig().epochs)]
        times = [r["train_time_s"] for r in recs if r.get("train_time_s") is not None]
        per = f"{np.mean(times):.0f} s (mean)" if times else "–"
        total = f"{sum(times) / 60:.1f} min" if times else "–"
        lines.append(f"| {ds} | {len(recs)} | {_span(epochs, '{:g}')} | {_span([r.get('steps') for r in recs])} | "
                     f"{_span([r.get('n_train_examples') for r in recs])} | {per} | {total} |")
    return lines + [""]


def missing_variants(records: list[dict[str, Any]], config: dict[str, Any]) -> list[str]:
    """``dataset/row/quantizer/collisions/seed`` of every variant ``config`` plans that has no
    generative record (an interrupted or still running ``semid run``); [] when the config cannot
    be read (a run made by an older semid)."""
    from semid.config import from_dict
    from semid.experiment import ExperimentConfig, plan_variants

    try:
        cfg = from_dict(ExperimentConfig, config, where="config.resolved.json")
    except (ValueError, TypeError):
        return []
    have = {(r.get("dataset"), r.get("row"), r.get("quantizer"), r.get("collisions"), r.get("seed"))
            for r in records if r.get("kind") == "generative"}
    return [f"{v.dataset.name}/{v.slug}" for v in plan_variants(cfg)
            if (v.dataset.name, v.row.name, v.quantizer.label, v.collisions, v.seed) not in have]


def write_report(run_dir: str | Path) -> Path:
    """Write ``RUN/report/report.md`` and its figures; returns the report path."""
    run_dir = Path(run_dir)
    results = read_json(run_dir / "results.json")
    records = results["records"]
    out = run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    groups = aggregate(records)
    dense = {(r["dataset"], r.get("embedding")): r for r in records if r.get("kind") == "dense"}
    lines = [f"# semid report: {results.get('name', run_dir.name)}", ""]
    lines += ["Recall@30 of the joint generative model, per Semantic ID construction. "
              "Paper figures (MovieLens-25M, flan-t5-base) are shown for reference; they are not expected to match at small scale. "
              "Generative rows and the random-ID baseline use the same seeded sample of test examples (see each eval's "
              "metrics.json); dense baselines sample at most as many test queries (with their own seeded sample) and use "
              "every rec test example, as does the popularity baseline. "
              "\"collision rate\" is the share of items whose final ID (after any suffix) is shared; "
              "\"codes used / level\" counts distinct codes per quantizer level (with the suffix level last).", ""]
    cpath = run_dir / "config.resolved.json"
    config = read_json(cpath) if cpath.exists() else None
    missing = missing_variants(records, config) if config else []
    if missing:
        logger.warning("%s: %d planned variant(s) have no results yet (rerun `semid run` to finish them): %s",
                       run_dir, len(missing), ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
        lines += [f"**Incomplete run: {len(missing)} planned variant(s) have no results yet** (the run was "
                  "interrupted or is still running; rerun `semid run` with the same config to finish them): "
                  + ", ".join(f"`{m}`" for m in missing) + ".", ""]
    lines += budget_table(records, config)
    for name in ("table1", "table2", "table3"):
        lines += _table(name, groups, dense, results.get("default_quantizer"))
    other = {k: v for k, v in groups.items() if not v[0].get("tables")}
    if other:
        lines += ["### Other variants", "", "| dataset | IDs | quantizer | collisions | seeds | search R@30 | rec R@30 |", "|---|---|---|---|---|---|---|"]
        for key, recs in other.items():
            lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {len(recs)} | "
                         f"{mean_std([r.get('search_recall@30') for r in recs])} | {mean_std([r.get('rec_recall@30') for r in recs])} |")
        lines.append("")
    lines += benchmark_table(records)
    from semid.report_baselines import baseline_table

    lines += baseline_table(groups, records)
    base = [r for r in records if r.get("kind") in ("popularity", "random", "dense")]
    if base:
        lines += ["### Baselines", "", "| kind | dataset | embedding / seed | search R@30 | rec R@30 | rec head R@30 | rec torso R@30 |",
                  "|---|---|---|---|---|---|---|"]
        for r in base:
            lines.append(f"| {r['kind']} | {r['dataset']} | {r.get('embedding', r.get('seed', ''))} | "
                         + " | ".join(mean_std([r.get(m)]) for m in METRICS) + " |")
        lines.append("")
    from semid.report_figures import write_figures

    figs = write_figures(out, groups, dense, [r for r in records if r.get("kind") in ("popularity", "random")])
    lines += ["### Figures", ""] + [f"![{f}]({f})" for f in figs] + [""]
    tpath = run_dir / "timings.json"
    if tpath.exists():
        t = read_json(tpath)
        lines += ["### Stage wall time", "", f"Total: {t['total_seconds']:.0f} s (this invocation; reused stages show the time they took when built).", "",
                  "| stage | name | seconds | reused |", "|---|---|---|---|"]
        for s in t["stages"]:
            lines.append(f"| {s['kind']} | {s['name']} | {s['seconds']:.1f} | {'yes' if s['reused'] else 'no'} |")
        lines.append("")
    atomic_write_text(out / "summary.md", "\n".join(summary_table(records)) + "\n")
    path = out / "report.md"
    atomic_write_text(path, "\n".join(lines))
    return path
