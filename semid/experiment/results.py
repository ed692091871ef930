"""``RUN/results.json`` and the record files it is rebuilt from.

Each record is its own file, ``RUN/records/<dataset>/<name>.json`` (written atomically), and
``results.json`` is rebuilt from all of them under a lock after every record, so runs that share
one RUN (one process per seed or per dataset) end with every record of each; a record is replaced
only by a newer run of the same variant. Delete a record file to drop a variant from the results.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from semid.experiment.config import ExperimentConfig
from semid.experiment.layout import RunLayout
from semid.experiment.records import KINDS, ResultRecord, as_records
from semid.io import read_json, write_json

__all__ = ["RunResults", "ResultStore", "load_results", "collect_records", "adopt_legacy_results", "record_name"]


@dataclass
class RunResults:
    """``results.json``: the config's ``name``, its first (default) quantizer label and the records."""

    name: str | None
    default_quantizer: str | None
    records: list[ResultRecord]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "default_quantizer": self.default_quantizer,
                "records": [r.to_dict() for r in self.records]}


def load_results(run_dir: str | Path) -> RunResults:
    """The typed ``results.json`` of a run directory (this or an older semid's)."""
    path = RunLayout(run_dir).results
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: {run_dir} is not a finished `semid run` directory "
                                "(run `semid run CONFIG --out RUN` first)")
    raw = read_json(path)
    return RunResults(raw.get("name"), raw.get("default_quantizer"), as_records(raw.get("records", []), str(path)))


def record_name(rec: ResultRecord | dict[str, Any]) -> str:
    """The file name (without .json) of a record under ``RUN/records/<dataset>/``."""
    return (rec if isinstance(rec, ResultRecord) else ResultRecord.from_dict(rec)).name()


def adopt_legacy_results(run_dir: str | Path) -> None:
    """A run directory made before records had their own files keeps them in ``results.json``
    only: write them out as record files (once), so that none is lost."""
    layout = RunLayout(run_dir)
    if not layout.records.exists() and layout.results.exists():
        for rec in load_results(run_dir).records:
            write_json(layout.record(rec.dataset, rec.name()), rec.to_dict())
        layout.records.mkdir(exist_ok=True)  # also when results.json held no record: adopted once


def collect_records(run_dir: str | Path, cfg: ExperimentConfig | None = None) -> list[ResultRecord]:
    """Every record under ``run_dir/records/``, in the config's order (dataset, baselines, then
    the variants as :func:`~semid.experiment.runner.plan_variants` lists them); records the config
    does not name come last."""
    rec_dir = RunLayout(run_dir).records
    paths = sorted(rec_dir.glob("*/*.json")) if rec_dir.exists() else []
    records = [ResultRecord.from_dict(read_json(p), str(p)) for p in paths]
    if cfg is None:
        return records
    pos = {
        "dataset": {d.name: i for i, d in enumerate(cfg.datasets)},
        "row": {r.name: i for i, r in enumerate(cfg.schemes)},
        "quantizer": {q.label: i for i, q in enumerate(cfg.quantizers)},
        "collisions": {c: i for i, c in enumerate(cfg.collisions)},
    }

    def order(r: ResultRecord) -> tuple:
        def at(name: str) -> tuple[int, str]:
            value = getattr(r, name)
            return (pos[name].get(value, len(pos[name])), str(value))
        return (at("dataset"), KINDS.index(r.kind), at("row"), at("quantizer"), at("collisions"),
                r.get("seed", 0), str(r.embedding or ""))

    return sorted(records, key=order)


class ResultStore:
    """The records of one run into ``RUN`` (module docstring); shared safely by concurrent runs."""

    def __init__(self, layout: RunLayout, cfg: ExperimentConfig) -> None:
        self.layout = layout
        self.cfg = cfg
        with FileLock(str(layout.results_lock)):
            adopt_legacy_results(layout.root)

    def add(self, rec: ResultRecord) -> None:
        """Write ``rec`` to its own file, replacing an earlier one of the same variant, then
        rebuild ``results.json``."""
        write_json(self.layout.record(rec.dataset, rec.name()), rec.to_dict())
        self.write_results()

    def write_results(self) -> None:
        """``results.json`` from every record file, under a lock shared by all runs into this RUN."""
        with FileLock(str(self.layout.results_lock)):
            records = collect_records(self.layout.root, self.cfg)
            write_json(self.layout.results, RunResults(self.cfg.name, self.cfg.quantizers[0].label, records).to_dict())
