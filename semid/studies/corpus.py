"""A corpus of ~60,000 real English text passages that needs no network.

The paper's catalogue has 62,138 items; the RQ-VAE study needs real text embeddings at
that size to reproduce the pressure on a 2 x 256 = 65,536-ID space. Offline, the largest
body of human-written English prose on any machine is the documentation of its installed
Python packages: we take docstring paragraphs (deduplicated, 40-600 characters, mostly
letters), which cover many topics, and embed them with the content model.

Users with their own catalogue should instead pass their own vectors (a float32 ``.npy``)
to ``semid ids build --embeddings``; see docs/rqvae-vs-rqkmeans.md.
"""

from __future__ import annotations

import ast
import hashlib
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["docstring_passages"]

_WS = re.compile(r"\s+")


def _iter_docstrings(path: Path) -> Iterator[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError, OSError, RecursionError):
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=True)
            if doc:
                yield doc


def _good(par: str) -> bool:
    if not 40 <= len(par) <= 600:
        return False
    letters = sum(ch.isalpha() or ch == " " for ch in par)
    if letters / len(par) < 0.85 or par.count(" ") < 6:
        return False
    return not any(tok in par for tok in (">>>", "::", "----", "====", "http", "Parameters", "Returns"))


def docstring_passages(n: int = 60_000, roots: list[Path] | None = None, seed: int = 0) -> list[str]:
    """Up to ``n`` distinct prose paragraphs from docstrings under ``roots`` (default: sys.path).

    Deterministic for a given set of installed packages: files are read in sorted order and
    passages are picked by a seeded hash, not by reading order.
    """
    roots = roots or [Path(p) for p in sys.path if p and Path(p).is_dir() and "site-packages" in p]
    roots += [Path(p) for p in sys.path if p.endswith(("lib/python3.11", "lib/python3.12", "lib/python3.13"))]
    seen: dict[str, str] = {}
    for root in roots:
        for f in sorted(root.rglob("*.py")):
            for doc in _iter_docstrings(f):
                for par in doc.split("\n\n"):
                    par = _WS.sub(" ", par).strip()
                    if _good(par):
                        h = hashlib.sha1(f"{seed}:{par}".encode()).hexdigest()
                        seen.setdefault(par, h)
    passages = sorted(seen, key=seen.__getitem__)[:n]
    logger.info("collected %d passages (asked for %d)", len(passages), n)
    return passages
