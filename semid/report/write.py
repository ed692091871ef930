"""``write_report(run_dir)``: ``RUN/report/report.md``, ``summary.md`` and the figures of a run."""

from __future__ import annotations

import logging
from pathlib import Path

from semid.experiment.layout import RunLayout
from semid.experiment.results import load_results
from semid.io import atomic_write_text, read_json
from semid.report.aggregate import aggregate, missing_variants
from semid.report.baselines import baseline_table
from semid.report.figures import write_figures
from semid.report.tables import (
    baselines_list_table,
    benchmark_table,
    budget_table,
    other_variants_table,
    paper_table,
    summary_table,
    timings_table,
)

logger = logging.getLogger(__name__)

__all__ = ["write_report"]

INTRO = ("Recall@30 of the joint generative model, per Semantic ID construction. "
         "Paper figures (MovieLens-25M, flan-t5-base) are shown for reference; they are not expected to match at small scale. "
         "Generative rows and the random-ID baseline use the same seeded sample of test examples (see each eval's "
         "metrics.json); dense baselines sample at most as many test queries (with their own seeded sample) and use "
         "every rec test example, as does the popularity baseline. "
         "\"collision rate\" is the share of items whose final ID (after any suffix) is shared; "
         "\"codes used / level\" counts distinct codes per quantizer level (with the suffix level last).")


def _missing_note(run_dir: Path, missing: list[str]) -> list[str]:
    logger.warning("%s: %d planned variant(s) have no results yet (rerun `semid run` to finish them): %s",
                   run_dir, len(missing), ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
    return [f"**Incomplete run: {len(missing)} planned variant(s) have no results yet** (the run was "
            "interrupted or is still running; rerun `semid run` with the same config to finish them): "
            + ", ".join(f"`{m}`" for m in missing) + ".", ""]


def write_report(run_dir: str | Path) -> Path:
    """Write ``RUN/report/report.md`` and its figures; returns the report path."""
    layout = RunLayout(run_dir)
    results = load_results(layout.root)
    records = results.records
    out = layout.report
    out.mkdir(parents=True, exist_ok=True)
    groups = aggregate(records)
    dense = {(r.dataset, r.embedding): r for r in records if r.kind == "dense"}
    lines = [f"# semid report: {results.name or layout.root.name}", "", INTRO, ""]
    config = read_json(layout.config) if layout.config.exists() else None
    missing = missing_variants(records, config) if config else []
    if missing:
        lines += _missing_note(layout.root, missing)
    lines += budget_table(records, config)
    for name in ("table1", "table2", "table3"):
        lines += paper_table(name, groups, dense, results.default_quantizer)
    lines += other_variants_table(groups)
    lines += benchmark_table(records)
    lines += baseline_table(groups, records)
    lines += baselines_list_table(records)
    figs = write_figures(out, groups, dense, [r for r in records if r.kind in ("popularity", "random")])
    lines += ["### Figures", ""] + [f"![{f}]({f})" for f in figs] + [""]
    if layout.timings.exists():
        lines += timings_table(read_json(layout.timings))
    atomic_write_text(out / "summary.md", "\n".join(summary_table(records)) + "\n")
    path = out / "report.md"
    atomic_write_text(path, "\n".join(lines))
    return path
