"""semid: Semantic IDs for joint generative search and recommendation."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Retriever", "Hit", "__version__"]


def __getattr__(name: str) -> Any:  # lazy: `import semid` stays light (no torch)
    if name in ("Retriever", "Hit"):
        from semid.generative import api

        return getattr(api, name)
    raise AttributeError(f"module 'semid' has no attribute {name!r}")
