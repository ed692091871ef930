"""The Semantic ID artifact shared by the ID builders and the generative model.

An ``ids/<name>/`` directory holds::

    codes.npy        int64 (n_items, n_levels): every level's code for every item
    config.json      scheme, level_names, level_sizes, tasks, quantizer config, ...
    diagnostics.json see semid.ids.diagnostics

``tasks`` maps a task (``search``, ``rec``) to the list of code columns that form that
task's ID, in order. Examples:

- ``shared`` (2x256 + suffix):   level_names ["a", "b", "c"], tasks {search: [0,1,2], rec: [0,1,2]}
- ``separate``:                  ["s0","s1","r0","r1"], tasks {search: [0,1], rec: [2,3]}
- ``prefix-share``:              ["p0","s1","r1"], tasks {search: [0,1], rec: [0,2]}

Each level is its own token namespace: level ``j`` with code ``c`` is the token
``f"<{level_names[j]}_{c}>"``. Levels with the same name never appear twice.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semid.io import atomic_dir, read_json, save_npy, write_json

__all__ = ["SemanticIDs", "TASKS"]

TASKS = ("search", "rec")


@dataclass
class SemanticIDs:
    """Codes for every item plus the token layout of each task.

    codes: int64 (n_items, n_levels)
    """

    codes: np.ndarray
    level_names: list[str]
    level_sizes: list[int]
    tasks: dict[str, list[int]]
    scheme: str = "shared"
    config: dict[str, Any] = field(default_factory=dict)
    diagnostics: dict[str, Any] = field(default_factory=dict)
    # Optional, per task: int64 (n_items,) position of each item inside the bucket of items
    # sharing its task ID (0 = first); the order a decoder expands a shared ID in
    # (rule in config["bucket_order"]). Saved as bucket_rank_<task>.npy. See semid.ids.collisions.
    bucket_rank: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.codes = np.asarray(self.codes, dtype=np.int64)
        self.bucket_rank = {k: np.asarray(v, dtype=np.int64) for k, v in (self.bucket_rank or {}).items()}
        for task, rank in self.bucket_rank.items():
            if rank.shape != (self.codes.shape[0],):
                raise ValueError(f"bucket_rank[{task!r}] has shape {rank.shape}, expected ({self.codes.shape[0]},)")
        if self.codes.ndim != 2:
            raise ValueError(f"codes must be 2-D (n_items, n_levels), got shape {self.codes.shape}")
        n_levels = self.codes.shape[1]
        if len(self.level_names) != n_levels or len(self.level_sizes) != n_levels:
            raise ValueError(
                f"codes have {n_levels} levels but level_names has {len(self.level_names)} "
                f"and level_sizes {len(self.level_sizes)}"
            )
        if len(set(self.level_names)) != n_levels:
            raise ValueError(f"level_names must be distinct, got {self.level_names}")
        for task, cols in self.tasks.items():
            if task not in TASKS:
                raise ValueError(f"unknown task {task!r}; tasks are {list(TASKS)}")
            if any(c < 0 or c >= n_levels for c in cols):
                raise ValueError(f"task {task!r} uses columns {cols}, but there are {n_levels} levels")
        for j, size in enumerate(self.level_sizes):
            col = self.codes[:, j]
            if len(col) and (col.min() < 0 or col.max() >= size):
                raise ValueError(f"level {j} ({self.level_names[j]}) has codes outside [0, {size})")

    @property
    def n_items(self) -> int:
        return int(self.codes.shape[0])

    def task_codes(self, task: str) -> np.ndarray:
        """int64 (n_items, len(tasks[task])): the ID of every item for ``task``."""
        try:
            cols = self.tasks[task]
        except KeyError:
            raise ValueError(f"these IDs define tasks {list(self.tasks)}, not {task!r}") from None
        return self.codes[:, cols]

    def token(self, level: int, code: int) -> str:
        return f"<{self.level_names[level]}_{int(code)}>"

    def all_tokens(self) -> list[str]:
        """Every (level, code) token, level by level."""
        return [self.token(j, c) for j, size in enumerate(self.level_sizes) for c in range(size)]

    def task_tokens(self, task: str, item: int) -> list[str]:
        cols = self.tasks[task]
        return [self.token(j, self.codes[item, j]) for j in cols]

    # ------------------------------------------------------------------ I/O
    def save(self, path: str | os.PathLike, extra_files: dict[str, Any] | None = None) -> Path:
        """Atomically write ``codes.npy``, ``config.json`` and ``diagnostics.json``.

        ``extra_files`` maps file names to callables ``f(path)`` that write further
        files (the fitted quantizer) into the temporary directory.
        """
        path = Path(path)
        with atomic_dir(path) as tmp:
            save_npy(tmp / "codes.npy", self.codes)
            cfg = dict(self.config)
            cfg.update(
                scheme=self.scheme,
                level_names=self.level_names,
                level_sizes=[int(s) for s in self.level_sizes],
                tasks=self.tasks,
            )
            write_json(tmp / "config.json", cfg)
            write_json(tmp / "diagnostics.json", self.diagnostics)
            for task, rank in self.bucket_rank.items():
                save_npy(tmp / f"bucket_rank_{task}.npy", rank)
            for name, writer in (extra_files or {}).items():
                writer(tmp / name)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> SemanticIDs:
        path = Path(path)
        if not (path / "codes.npy").exists():
            raise FileNotFoundError(f"{path} holds no codes.npy; build IDs with `semid ids build --out {path}`")
        codes = np.load(path / "codes.npy")
        cfg = read_json(path / "config.json")
        diag = read_json(path / "diagnostics.json") if (path / "diagnostics.json").exists() else {}
        return cls(
            codes=codes,
            level_names=list(cfg["level_names"]),
            level_sizes=[int(s) for s in cfg["level_sizes"]],
            tasks={k: [int(c) for c in v] for k, v in cfg["tasks"].items()},
            scheme=cfg.get("scheme", "shared"),
            config=cfg,
            diagnostics=diag,
            bucket_rank={
                t: np.load(path / f"bucket_rank_{t}.npy") for t in TASKS if (path / f"bucket_rank_{t}.npy").exists()
            },
        )
