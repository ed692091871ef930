"""``semid run`` and ``semid report``."""

from __future__ import annotations

import argparse

__all__ = ["register"]

RUN_EPILOG = """examples:
  semid run configs/quickstart.toml --out runs/quickstart
  semid run configs/movielens-small.toml --out runs/ml-small --set seeds=[0] --set train.epochs=1
  semid run configs/rqvae-study.toml --out runs/rqvae-study --datasets synthetic

Rerunning the same command reuses every completed stage (kill it at any point and rerun).
"""


REPORT_EPILOG = """examples:
  semid report runs/quickstart
  semid report runs/ml-small --readme README.md

The run directory is one made by `semid run`; the report is RUN/report/report.md with its figures.
"""


def _run(args: argparse.Namespace) -> int:
    from semid.experiment import load_experiment_config, run_experiment
    from semid.report import write_report

    cfg = load_experiment_config(args.config, args.set)
    if args.datasets:
        cfg = select_datasets(cfg, args.datasets, args.config)
    results = run_experiment(cfg, args.out, show_progress=not args.no_progress)
    print(f"results: {results}")
    if not args.no_report:
        report = write_report(args.out)
        print(f"report:  {report}")
    return 0


def select_datasets(cfg, names: list[str], where: str):
    """Keep only the named datasets of ``cfg`` (in the config's order)."""
    import dataclasses

    known = [d.name for d in cfg.datasets]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"--datasets {unknown}: not in {where}; its datasets are {known}")
    return dataclasses.replace(cfg, datasets=[d for d in cfg.datasets if d.name in names])


def _report(args: argparse.Namespace) -> int:
    from semid.report import write_report

    print(f"report: {write_report(args.run)}")
    if args.readme:
        from semid.report import splice_readme

        print(f"results table: {splice_readme(args.readme, args.run)}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the whole pipeline over a config grid (cached, resumable)",
                       description="Run data -> embeddings -> IDs -> model -> evaluation for every variant of a "
                                   "config grid, reusing completed stages, then write the report.",
                       epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="experiment config (.toml, .yaml or .json), e.g. configs/quickstart.toml")
    p.add_argument("--out", required=True, help="run directory (created; reused stages are kept)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set seeds=[0,1] --set train.epochs=1 (repeatable)")
    p.add_argument("--datasets", nargs="+", metavar="NAME",
                   help="run only these datasets of the config (default: all); stages are shared with full runs")
    p.add_argument("--no-report", action="store_true", help="skip writing RUN/report/")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_run)

    r = sub.add_parser("report", help="write RUN/report/report.md and figures from RUN/results.json",
                       description="Write the paper-layout tables, baselines, training budget and figures of a run "
                                   "into RUN/report/.",
                       epilog=REPORT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("run", help="a run directory made by `semid run`")
    r.add_argument("--readme", metavar="FILE",
                   help="also write the run's summary table into FILE, between the lines "
                        "<!-- semid:results NAME --> and <!-- /semid:results --> (NAME: the config's name)")
    r.set_defaults(func=_report)
