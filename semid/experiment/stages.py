"""Stage caching: each artifact is keyed by a hash of its config and its inputs.

A stage lives in ``ROOT/<rel>@<key8>``: its folder is named by what it contains (the first
8 characters of its key), so two settings of one stage live side by side; ``ROOT/<rel>`` is a
symlink to the folder the latest run used (the readable name the docs and examples use).

A stage folder is trusted only when its ``stage.json`` marker holds the current key *and*
every file the marker lists still has its recorded size and hash (sha256 of the whole file
up to 8 MiB; of the size, first and last MiB above). The marker is written last, after the
stage's own (atomic) writes, so a crash or ``kill -9`` at any point leaves either a complete,
marked artifact or one that the next run recomputes; a missing or damaged file also means
"recompute". Stages that checkpoint (model training) keep their partial folder between runs,
so they resume: the folder's name already says its settings are the same.

Several runs may share one root (e.g. one process per seed): a file lock per stage folder
makes one of them build it while the others wait and then reuse it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from semid.experiment.layout import keyed
from semid.io import hash_json, read_json, write_json

logger = logging.getLogger(__name__)

__all__ = ["StageCache", "StageRecord", "describe_files", "check_files", "file_digest"]

MARKER = "stage.json"
PENDING = "stage.pending.json"
SMALL_FILE = 8 << 20  # hashed whole up to this size
ENDS = 1 << 20  # bigger files: size + first and last MiB (reading GBs of checkpoints on every reuse is too slow)
SKIP_DIRS = ("checkpoints",)  # training scratch, gone once the stage completes


def file_digest(path: Path) -> dict[str, Any]:
    """``{"size", "sha256"}`` of a small file, ``{"size", "sha256_ends"}`` of a big one."""
    size = path.stat().st_size
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        if size <= SMALL_FILE:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
            return {"size": size, "sha256": h.hexdigest()}
        h.update(str(size).encode())
        h.update(fh.read(ENDS))
        fh.seek(size - ENDS)
        h.update(fh.read(ENDS))
    return {"size": size, "sha256_ends": h.hexdigest()}


def describe_files(root: Path) -> dict[str, dict[str, Any]]:
    """Every file under ``root`` (relative POSIX path -> :func:`file_digest`), markers excluded."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if p.is_dir() or p.name in (MARKER, PENDING) or rel.parts[0] in SKIP_DIRS:
            continue
        out[rel.as_posix()] = file_digest(p)
    return out


def check_files(root: Path, files: dict[str, dict[str, Any]]) -> str | None:
    """The first problem with the files a marker lists ("x.npy is missing", ...), or None."""
    for rel, want in files.items():
        p = root / rel
        if not p.is_file():
            return f"{rel} is missing"
        size = p.stat().st_size
        if size != want.get("size"):
            return f"{rel} has {size} bytes, {want.get('size')} expected"
    for rel, want in files.items():  # sizes first: cheap, and catch truncation without hashing
        if file_digest(root / rel) != want:
            return f"{rel} changed since the stage wrote it (hash differs)"
    return None


@dataclass
class StageRecord:
    kind: str
    name: str
    path: str
    key: str
    seconds: float
    reused: bool
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class StageCache:
    """Runs stages under ``root``, reusing any whose key is unchanged and whose files are intact."""

    root: Path
    records: list[StageRecord] = field(default_factory=list)

    def folder(self, rel: str, key: str) -> Path:
        """Where the stage ``rel`` with ``key`` lives: ``root/<rel>@<key8>``."""
        return keyed(self.root / rel, key)

    @staticmethod
    def _problem(path: Path, key: str) -> str | None:
        """Why ``path`` cannot be reused ("absent", "incomplete", ...), or None when it can."""
        if not path.is_dir():
            return "absent"
        try:
            marker = read_json(path / MARKER)
        except FileNotFoundError:
            return "incomplete"
        except ValueError:
            return "its stage.json is damaged"
        if marker.get("key") != key:
            return "its stage.json holds another key"
        if "files" not in marker:
            return None  # written before markers listed files; _migrate adds them
        return check_files(path, marker["files"])

    def _migrate(self, link: Path, key: str, resumable: bool) -> None:
        """A run made before folders were named by key keeps ``link`` as a real folder:
        move it to its keyed name (kept, not discarded) so that this run reuses or resumes it."""
        if link.is_symlink() or not link.is_dir():
            return
        try:
            old_key = read_json(link / MARKER).get("key")
        except (FileNotFoundError, ValueError):
            old_key = None
        if old_key is None and resumable and (link / PENDING).exists():
            try:
                old_key = read_json(link / PENDING).get("key")
            except ValueError:
                old_key = None
        if old_key is None:
            logger.info("discarding incomplete %s", link)
            shutil.rmtree(link)
            return
        target = self.folder(link.relative_to(self.root).as_posix(), old_key)
        if target.exists():
            shutil.rmtree(link)
            return
        os.replace(link, target)
        if (target / MARKER).exists():
            marker = read_json(target / MARKER)
            if "files" not in marker:
                write_json(target / MARKER, {**marker, "files": describe_files(target)})
        logger.info("moved %s to %s (stage folders are now named by their key)", link, target.name)

    def _point(self, link: Path, path: Path) -> None:
        """Make ``link`` a relative symlink to ``path`` (atomically replaced)."""
        if link.exists() and not link.is_symlink():
            return
        if link.is_symlink() and os.readlink(link) == path.name:
            return
        tmp = link.with_name(f".{link.name}.link-{os.getpid()}")
        tmp.unlink(missing_ok=True)
        os.symlink(path.name, tmp)
        os.replace(tmp, link)

    def run(self, kind: str, name: str, rel: str, spec: Any, fn: Callable[[Path], Any],
            resumable: bool = False) -> tuple[Path, str]:
        """Run ``fn(path)`` unless ``path`` holds a completed, intact stage with the same key.

        spec: JSON-ready description of the stage's config and its inputs' keys.
        resumable: ``fn`` checkpoints into ``path`` and resumes from it; a partial folder is
        then kept for the next run instead of discarded.
        ``fn`` may return a dict of facts about the run (e.g. the step it resumed from),
        kept in the marker and in :attr:`records` as ``info``.
        Returns (path, key); the key feeds the specs of downstream stages.
        """
        key = hash_json({"kind": kind, "spec": spec})
        link = self.root / rel
        path = self.folder(rel, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path.parent / f".{path.name}.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            logger.info("waiting for another run that is building %s %s", kind, name)
            lock.acquire()
        try:
            return self._run_locked(kind, name, link, path, key, spec, fn, resumable)
        finally:
            lock.release()

    def _run_locked(self, kind: str, name: str, link: Path, path: Path, key: str, spec: Any,
                    fn: Callable[[Path], Any], resumable: bool) -> tuple[Path, str]:
        self._migrate(link, key, resumable)
        problem = self._problem(path, key)
        if problem is None:
            rec = read_json(path / MARKER)
            if "files" not in rec:
                write_json(path / MARKER, {**rec, "files": describe_files(path)})
            self.records.append(StageRecord(kind, name, str(path), key, float(rec.get("seconds", 0.0)), True,
                                            dict(rec.get("info") or {})))
            self._point(link, path)
            logger.info("reuse %s %s (%s)", kind, name, path)
            return path, key
        if path.exists():
            if resumable and problem == "incomplete":
                logger.info("resuming %s %s in %s", kind, name, path)
            else:
                logger.info("recomputing %s %s: %s", kind, name, problem)
                shutil.rmtree(path)
        if resumable:
            path.mkdir(parents=True, exist_ok=True)
            write_json(path / PENDING, {"key": key})
        t0 = time.perf_counter()
        info = fn(path) or {}
        seconds = time.perf_counter() - t0
        path.mkdir(parents=True, exist_ok=True)
        (path / PENDING).unlink(missing_ok=True)
        write_json(path / MARKER, {"key": key, "kind": kind, "name": name, "seconds": seconds, "spec": spec,
                                   "info": info, "files": describe_files(path)})
        self.records.append(StageRecord(kind, name, str(path), key, seconds, False, dict(info)))
        self._point(link, path)
        logger.info("done %s %s in %.1fs", kind, name, seconds)
        return path, key
