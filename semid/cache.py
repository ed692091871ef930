"""One cache of keyed JSON records, for work that is slow to redo and cheap to keep: an LLM's
answer for an item (:mod:`semid.data.llm_queries`), a quantizer fitted for the RQ-VAE study
(``semid study rqvae --cache``).

A record lives in ``folder/<label>-<key>.json``, where ``key`` hashes everything that decides
it (:func:`semid.io.hash_json`) and ``label`` is a readable prefix (made safe for file names).
Writes are atomic (a crash leaves the old file or none); an unreadable or invalid file is
reported and treated as missing, so the work is redone rather than trusted.

The run's stage cache (:mod:`semid.experiment.stages`) keeps *directories* of artifacts with
the same keyed naming, and a model directory's ``run_key`` (:mod:`semid.generative.train`)
guards a resume; both use :func:`semid.io.hash_json` for their keys as this cache does.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from semid.io import atomic_write_text, hash_json

logger = logging.getLogger(__name__)

__all__ = ["RecordCache"]


class RecordCache:
    """Keyed JSON records in ``folder`` (created on the first write)."""

    def __init__(self, folder: str | Path, key_length: int = 16, sep: str = "-", max_label: int | None = 60) -> None:
        self.folder = Path(folder)
        self.key_length = key_length
        self.sep = sep
        self.max_label = max_label

    def path(self, label: str, key: Any) -> Path:
        """The file of the record that ``key`` (any JSON-ready value) decides."""
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", str(label))[:self.max_label]  # labels may hold path characters
        return self.folder / f"{stem}{self.sep}{hash_json(key, length=self.key_length)}.json"

    def get(self, label: str, key: Any, check: Callable[[Any], Any] | None = None) -> Any:
        """The record, or None when there is none or it cannot be read. ``check(record)`` may
        raise (KeyError, TypeError, ValueError) to reject a record, or return it reshaped."""
        path = self.path(label, key)
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            return check(record) if check is not None else record
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
            logger.warning("ignoring unreadable cache file %s (%s); redoing it", path, exc)
            return None

    def put(self, label: str, key: Any, record: Any) -> Path:
        """Write ``record`` atomically; returns its file."""
        path = self.path(label, key)
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(record, indent=1, ensure_ascii=False) + "\n")
        return path
