"""Every `--help` that issue 17 found without examples now has them, and every example parses."""

from __future__ import annotations

import contextlib
import io
import shlex

import pytest

from semid.cli import build_parser


def _help(argv: list[str]) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "--help"])
    return buf.getvalue()


def _examples(text: str) -> list[list[str]]:
    """The ``semid ...`` lines of the help's examples (continuation lines joined), as argv lists."""
    lines, out = text.replace("\\\n", " ").splitlines(), []
    for line in lines[lines.index("examples:") + 1:]:
        if line.strip().startswith("semid "):
            out.append(shlex.split(line)[1:])
    return out


@pytest.mark.parametrize("command", [["embed"], ["evaluate-dense"], ["ids", "build"], ["ids", "inspect"],
                                     ["report"], ["run"]])
def test_help_shows_examples_that_parse(command):
    examples = _examples(_help(command))
    assert len(examples) >= 2, examples
    for argv in examples:
        assert argv[:len(command)] == command
        args = build_parser().parse_args(argv)  # argparse exits on a wrong flag
        assert callable(args.func)
