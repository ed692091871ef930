"""The ``semid`` command line: thin wrappers over library functions.

Each stage contributes its sub-commands from its own ``cli`` module, which defines
``register(subparsers)``. Those modules import heavy libraries (torch, transformers)
inside the command functions, so ``semid --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

__all__ = ["main", "build_parser"]

# The order here is the order of `semid --help`.
COMMAND_MODULES = (
    "semid.data.cli",
    "semid.embed.cli",
    "semid.evaluate.dense_cli",
    "semid.ids.cli",
    "semid.generative.cli",
    "semid.generative.query_cli",
    "semid.serve.cli",
    "semid.evaluate.cli",
    "semid.experiment_cli",
    "semid.studies.cli",
)


def build_parser() -> argparse.ArgumentParser:
    from semid import __version__

    parser = argparse.ArgumentParser(
        prog="semid",
        description=(
            "Semantic IDs for joint generative search and recommendation. "
            "Stages: data -> embed -> ids -> train -> evaluate; `semid run` chains them over a grid."
        ),
    )
    parser.add_argument("--version", action="version", version=f"semid {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # stage not present in this build
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING if args.quiet else (logging.DEBUG if args.verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    # faiss.loader logs, at INFO, a ModuleNotFoundError for every CPU build it probes before the one it loads
    for noisy in ("httpx", "urllib3", "filelock", "datasets", "sentence_transformers.trainer", "transformers",
                  "faiss.loader"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = args.func(args)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as exc:
        # user errors: one clear line, no traceback (use -vv for the traceback)
        if args.verbose > 1:
            raise
        print(f"semid {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; completed artifacts are kept, partial ones were discarded", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
