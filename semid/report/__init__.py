"""Reports of a ``semid run`` directory: Markdown tables in the layout of the paper's Tables 1-3,
PNG figures, and the README summary.

``write_report(run_dir)`` reads ``RUN/results.json`` (typed records, see
:mod:`semid.experiment.records`) and ``timings.json`` and writes ``RUN/report/report.md``,
``summary.md`` and the figures. One module per concern:

- :mod:`~semid.report.aggregate`: records grouped by variant, mean ± std, significance;
- :mod:`~semid.report.tables`: the tables; :mod:`~semid.report.baselines`: the "against the
  baselines" table;
- :mod:`~semid.report.figures`: ``tradeoff.png``, ``code_usage.png``, ``buckets.png``;
- :mod:`~semid.report.readme`: the summary spliced into a README; :mod:`~semid.report.write`:
  the report itself.
"""

from semid.report.aggregate import aggregate, mean_std, missing_variants
from semid.report.figures import save_figure
from semid.report.readme import splice_readme
from semid.report.tables import (
    PAPER_FIGURES,
    PUBLISHED_REC,
    benchmark_table,
    budget_table,
    paper_figure,
    paper_table,
    summary_table,
)
from semid.report.write import write_report

__all__ = ["write_report", "summary_table", "splice_readme", "mean_std", "save_figure", "PAPER_FIGURES", "aggregate",
           "budget_table", "missing_variants", "paper_figure", "paper_table", "benchmark_table", "PUBLISHED_REC"]
