"""``semid report --readme FILE``: a run's summary table spliced into a README between markers."""

from __future__ import annotations

from pathlib import Path

from semid.experiment.results import load_results
from semid.io import atomic_write_text
from semid.report.tables import summary_table

__all__ = ["splice_readme", "README_BEGIN", "README_END"]

README_BEGIN = "<!-- semid:results {name} -->"
README_END = "<!-- /semid:results -->"


def splice_readme(readme: str | Path, run_dir: str | Path) -> Path:
    """Replace the block between ``<!-- semid:results NAME -->`` and ``<!-- /semid:results -->`` in ``readme``
    with :func:`~semid.report.tables.summary_table` of ``run_dir`` (NAME: the run's config name)."""
    readme, run_dir = Path(readme), Path(run_dir)
    results = load_results(run_dir)
    begin = README_BEGIN.format(name=results.name or run_dir.name)
    text = readme.read_text(encoding="utf-8")
    i = text.find(begin)
    j = text.find(README_END, i + 1) if i >= 0 else -1
    if i < 0 or j < 0:
        raise ValueError(f"{readme} has no block {begin} ... {README_END}; add those two lines where the table goes")
    table = "\n".join(summary_table(results.records))
    atomic_write_text(readme, text[:i + len(begin)] + "\n" + table + "\n" + text[j:])
    return readme
