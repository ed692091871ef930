"""Stage caching: each artifact is keyed by a hash of its config and its inputs.

A stage directory is trusted only when its ``stage.json`` marker exists and holds the
current key. The marker is written last, after the stage's own (atomic) writes, so a
crash or ``kill -9`` at any point leaves either a complete, marked artifact or one that
the next run recomputes. Stages that checkpoint (model training) keep their partial
directory between runs while the key is unchanged, so they resume.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semid.io import hash_json, read_json, write_json

logger = logging.getLogger(__name__)

__all__ = ["StageCache", "StageRecord"]

MARKER = "stage.json"
PENDING = "stage.pending.json"


@dataclass
class StageRecord:
    kind: str
    name: str
    path: str
    key: str
    seconds: float
    reused: bool


@dataclass
class StageCache:
    """Runs stages under ``root``, reusing any whose key is unchanged."""

    root: Path
    records: list[StageRecord] = field(default_factory=list)

    def key_of(self, path: Path) -> str | None:
        marker = path / MARKER
        if not marker.exists():
            return None
        try:
            return read_json(marker).get("key")
        except ValueError:
            return None

    def run(self, kind: str, name: str, rel: str, spec: Any, fn: Callable[[Path], Any],
            resumable: bool = False) -> tuple[Path, str]:
        """Run ``fn(path)`` unless ``path`` holds a completed stage with the same key.

        spec: JSON-ready description of the stage's config and its inputs' keys.
        resumable: ``fn`` checkpoints into ``path`` and resumes from it; a partial
        directory with the same key is then kept for the next run instead of discarded.
        Returns (path, key); the key feeds the specs of downstream stages.
        """
        path = self.root / rel
        key = hash_json({"kind": kind, "spec": spec})
        if self.key_of(path) == key:
            rec = read_json(path / MARKER)
            self.records.append(StageRecord(kind, name, str(path), key, float(rec.get("seconds", 0.0)), True))
            logger.info("reuse %s %s (%s)", kind, name, path)
            return path, key
        if path.exists():
            pending = path / PENDING
            resumable = pending.exists() and read_json(pending).get("key") == key
            if not resumable:
                logger.info("discarding stale or incomplete %s", path)
                shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if resumable:
            path.mkdir(parents=True, exist_ok=True)
            write_json(path / PENDING, {"key": key})
        t0 = time.perf_counter()
        fn(path)
        seconds = time.perf_counter() - t0
        path.mkdir(parents=True, exist_ok=True)
        (path / PENDING).unlink(missing_ok=True)
        write_json(path / MARKER, {"key": key, "kind": kind, "name": name, "seconds": seconds, "spec": spec})
        self.records.append(StageRecord(kind, name, str(path), key, seconds, False))
        logger.info("done %s %s in %.1fs", kind, name, seconds)
        return path, key
