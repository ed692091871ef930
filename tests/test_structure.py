"""Module and function size limits (issue 16): no file in semid/ over 400 lines, no function over 80.

The allow-lists name what still exceeds a limit when this test was written. They may only
shrink: a new offender fails, and so does an allowed one that no longer exceeds its limit
(remove it from the list then).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "semid"
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 80

# files still over MAX_FILE_LINES (path relative to semid/)
LONG_FILES: set[str] = set()
# functions still over MAX_FUNCTION_LINES ("path::qualified name")
LONG_FUNCTIONS: set[str] = set()


def _functions(tree: ast.AST, prefix: str = ""):
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            name = f"{prefix}{node.name}"
            yield name, node.end_lineno - node.lineno + 1
            yield from _functions(node, f"{name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")


def measure(package: Path = PACKAGE) -> tuple[dict[str, int], dict[str, int]]:
    """(file -> lines, "file::function" -> lines) for every file and function over its limit."""
    files, functions = {}, {}
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_FILE_LINES:
            files[rel] = len(text.splitlines())
        for name, n in _functions(ast.parse(text)):
            if n > MAX_FUNCTION_LINES:
                functions[f"{rel}::{name}"] = n
    return files, functions


@pytest.fixture(scope="module")
def sizes():
    return measure()


def test_no_new_file_over_the_line_limit(sizes):
    new = {f: n for f, n in sizes[0].items() if f not in LONG_FILES}
    assert not new, f"split these by concern (each file under {MAX_FILE_LINES} lines): {new}"


def test_no_new_function_over_the_line_limit(sizes):
    new = {f: n for f, n in sizes[1].items() if f not in LONG_FUNCTIONS}
    assert not new, f"split these functions (each under {MAX_FUNCTION_LINES} lines): {new}"


def test_the_allow_lists_only_shrink(sizes):
    fixed = (LONG_FILES - set(sizes[0])) | (LONG_FUNCTIONS - set(sizes[1]))
    assert not fixed, f"now within the limits: remove {sorted(fixed)} from the allow-lists in {Path(__file__).name}"


def test_the_measure_finds_long_files_and_nested_functions(tmp_path):
    body = "\n".join(f"        x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "m.py").write_text(f"class A:\n    def f(self):\n{body}\n\n\ndef g():\n    return 1\n"
                                   + "\n" * MAX_FILE_LINES)
    files, functions = measure(tmp_path)
    assert list(files) == ["m.py"] and functions == {"m.py::A.f": MAX_FUNCTION_LINES + 1}
