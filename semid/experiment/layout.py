"""The layout of a run directory (``semid run --out RUN``), in one place.

Writers (the runner and its stage cache) and readers (the report, the studies) take every path
from :class:`RunLayout`, so the folder names live here only::

    RUN/config.resolved.json, RUN/results.json, RUN/timings.json
    RUN/records/<dataset>/<record>.json                  one record per variant and baseline
    RUN/report/                                          report.md, summary.md, figures
    RUN/<dataset>/data/                                  prepared dataset
    RUN/<dataset>/embeddings/<name>/                     one per embedding source
    RUN/<dataset>/query-states/<encoder>-<tokens>/       frozen-encoder states of the training queries
    RUN/<dataset>/item-states/<encoder>-<tokens>/        ... and of the item texts
    RUN/<dataset>/ids/<variant>/                         <variant>: row__quantizer__collisions__s<seed>
    RUN/<dataset>/model/<variant>/                       the joint generative model
    RUN/<dataset>/eval/<variant>/                        metrics.json + per-example hits
    RUN/<dataset>/eval/popularity/, eval/dense-<name>/, eval/random-ids__s<seed>/   baselines

Each stage folder above is a symlink to ``<folder>@<key8>`` (see :mod:`semid.experiment.stages`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["RunLayout", "variant_slug", "keyed", "KEY_SEP"]

#: between a stage folder's name and its key: ``<folder>@<key8>``
KEY_SEP = "@"


def keyed(folder: Path, key: str) -> Path:
    """Where the stage ``folder`` with ``key`` lives: ``<folder>@<key8>`` (``folder`` is the symlink
    to the one the latest run used)."""
    return folder.with_name(f"{folder.name}{KEY_SEP}{key[:8]}")


def variant_slug(row: str, quantizer: str, collisions: str, seed: int) -> str:
    """The folder (and record) name of one generative variant: ``row__quantizer__collisions__s<seed>``."""
    return f"{row}__{quantizer}__{collisions}__s{seed}"


@dataclass(frozen=True)
class RunLayout:
    """Every path of the run directory ``root`` (module docstring). Paths are ``root / ...``, so
    they are relative when ``root`` is (the records' ``eval_dir`` etc. keep that form)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def rel(self, path: Path) -> str:
        """``path`` (one of this layout's) relative to the run directory, as a POSIX string."""
        return Path(path).relative_to(self.root).as_posix()

    # ---------------------------------------------------------- run-level files
    @property
    def config(self) -> Path:
        return self.root / "config.resolved.json"

    @property
    def results(self) -> Path:
        return self.root / "results.json"

    @property
    def results_lock(self) -> Path:
        return self.root / ".results.lock"

    @property
    def timings(self) -> Path:
        return self.root / "timings.json"

    @property
    def records(self) -> Path:
        return self.root / "records"

    def record(self, dataset: str, name: str) -> Path:
        """The file of one record (``name``: :meth:`semid.experiment.records.ResultRecord.name`)."""
        return self.records / dataset / f"{name}.json"

    @property
    def report(self) -> Path:
        return self.root / "report"

    # ------------------------------------------------------------ stage folders
    def data(self, dataset: str) -> Path:
        return self.root / dataset / "data"

    def embeddings(self, dataset: str, name: str) -> Path:
        return self.root / dataset / "embeddings" / name

    def states(self, dataset: str, what: str, encoder: str, max_tokens: int) -> Path:
        """Frozen-encoder states of the training queries (``what="query"``) or item texts (``"item"``)."""
        return self.root / dataset / f"{what}-states" / f"{Path(encoder).name}-{max_tokens}"

    def ids_root(self, dataset: str) -> Path:
        """The folder of every IDs variant of ``dataset``."""
        return self.root / dataset / "ids"

    def ids(self, dataset: str, slug: str) -> Path:
        return self.ids_root(dataset) / slug

    def model(self, dataset: str, slug: str) -> Path:
        return self.root / dataset / "model" / slug

    def eval(self, dataset: str, slug: str) -> Path:
        """A generative variant's evaluation, or a baseline's (``popularity``, ``dense-<embedding>``,
        ``random-ids__s<seed>``: see :meth:`popularity_eval` and the others)."""
        return self.root / dataset / "eval" / slug

    def popularity_eval(self, dataset: str) -> Path:
        return self.eval(dataset, "popularity")

    def dense_eval(self, dataset: str, embedding: str) -> Path:
        return self.eval(dataset, f"dense-{embedding}")

    def random_eval(self, dataset: str, seed: int) -> Path:
        return self.eval(dataset, f"random-ids__s{seed}")

    @staticmethod
    def ids_beside(eval_dir: str | Path) -> Path:
        """The IDs folder of the variant an evaluation folder belongs to (``<dataset>/eval/X`` ->
        ``<dataset>/ids/X``), for records written before they held their ``ids_dir``."""
        eval_dir = Path(eval_dir)
        return eval_dir.parent.parent / "ids" / eval_dir.name
