"""Token states of a frozen text encoder, computed once per dataset and reused.

The ``encoder-decoder`` backend reads search queries through a pretrained encoder that stays
frozen, so the encoder's output for a training query never changes: semid computes it once
(:func:`encode_states`) and every ID variant and seed of a grid trains on the same cached
states (the ``query-states`` stage of ``semid run``). Only the small ID decoder trains.

A :class:`QueryStates` holds, for ``n`` texts, the encoder's last-layer token states (the
``token_embeddings`` output of sentence-transformers, padding removed) as one float16 array
``states: (total_tokens, d)`` with ``offsets: int64 (n + 1,)`` (text ``i`` owns rows
``offsets[i]:offsets[i+1]``), plus ``meta`` (encoder, token limit, count, a hash of the texts).
On disk: ``states.npy``, ``offsets.npy``, ``meta.json``; ``states.npy`` is memory-mapped on load.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semid.io import atomic_dir, read_json, save_npy, write_json

logger = logging.getLogger(__name__)

__all__ = ["QueryStates", "encode_states", "cached_states", "texts_hash", "load_encoder"]

FORMAT = "semid-query-states-v1"


def texts_hash(texts: list[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def load_encoder(name: str, max_tokens: int, device: str | None = None):
    """The frozen sentence-transformers encoder, truncating inputs at ``max_tokens`` tokens."""
    from semid.embed.sentence import load_sentence_model

    model = load_sentence_model(name, device=device, max_seq_length=max_tokens)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def token_states(model, texts: list[str], batch_size: int = 128, show_progress: bool = False) -> list[np.ndarray]:
    """Per text, float32 (n_tokens_i, d): the encoder's token states, padding removed."""
    import torch

    if not texts:
        return []
    with torch.inference_mode():
        out = model.encode(list(texts), batch_size=batch_size, output_value="token_embeddings",
                           convert_to_numpy=False, show_progress_bar=show_progress)
    return [o.float().cpu().numpy() for o in out]


@dataclass
class QueryStates:
    """See the module docstring. states: float16 (total_tokens, d); offsets: int64 (n + 1,)."""

    states: np.ndarray
    offsets: np.ndarray
    meta: dict[str, Any]
    _pooled: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return int(len(self.offsets) - 1)

    @property
    def dim(self) -> int:
        return int(self.states.shape[1])

    def gather(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 (B, S, d) right-padded states of ``rows`` and bool (B, S) mask (True = token)."""
        rows = np.asarray(rows, dtype=np.int64)
        starts = self.offsets[rows]
        lens = self.offsets[rows + 1] - starts
        S = int(max(lens.max(initial=1), 1))
        mask = np.arange(S)[None, :] < lens[:, None]
        out = np.zeros((len(rows), S, self.dim), dtype=np.float32)
        out[mask] = self.states[(starts[:, None] + np.arange(S)[None, :])[mask]]
        return out, mask

    def pooled(self, rows: np.ndarray) -> np.ndarray:
        """float32 (B, d): the sentence embeddings of ``rows`` (the L2-normalised mean of each
        text's token states, as sentence-transformers pools all-MiniLM-L6-v2). Every text's is
        computed once, on first use, and kept (n x d float32)."""
        if self._pooled is None:
            n = len(self)
            pooled = np.zeros((n, self.dim), dtype=np.float32)
            lens = np.diff(self.offsets)
            for s in range(0, n, 8192):  # in chunks: a float32 copy of every state may not fit in memory
                e = min(s + 8192, n)
                lo, hi = int(self.offsets[s]), int(self.offsets[e])
                if hi == lo:
                    continue
                block = np.asarray(self.states[lo:hi], dtype=np.float32)
                sums = np.add.reduceat(block, (self.offsets[s:e] - lo).clip(max=hi - lo - 1), axis=0)
                pooled[s:e] = np.where((lens[s:e] > 0)[:, None], sums, 0.0)
            pooled /= np.maximum(lens, 1)[:, None]
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            self._pooled = pooled
        return self._pooled[np.asarray(rows, dtype=np.int64)]

    @classmethod
    def from_list(cls, states: list[np.ndarray], meta: dict[str, Any]) -> QueryStates:
        lens = np.asarray([len(s) for s in states], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        d = states[0].shape[1] if states else 0
        flat = np.concatenate(states).astype(np.float16) if states else np.zeros((0, d), np.float16)
        return cls(flat, offsets, meta)

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        with atomic_dir(path) as tmp:
            save_npy(tmp / "states.npy", self.states)
            save_npy(tmp / "offsets.npy", self.offsets)
            write_json(tmp / "meta.json", self.meta)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> QueryStates:
        path = Path(path)
        missing = [f for f in ("states.npy", "offsets.npy", "meta.json") if not (path / f).exists()]
        if missing:
            raise FileNotFoundError(f"{path} is not a query-states directory (missing {missing}); "
                                    f"rebuild it (semid run does, or delete it and rerun)")
        meta = read_json(path / "meta.json")
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}/meta.json has format {meta.get('format')!r}, expected {FORMAT!r}")
        return cls(np.load(path / "states.npy", mmap_mode="r"), np.load(path / "offsets.npy"), meta)

    def check(self, encoder: str, max_tokens: int, texts: list[str], where: str = "query states") -> None:
        """Raise ``ValueError`` unless these states were made by ``encoder`` at ``max_tokens``
        from exactly ``texts``."""
        want = {"encoder": encoder, "max_tokens": int(max_tokens), "n": len(texts), "texts_sha": texts_hash(texts)}
        got = {k: self.meta.get(k) for k in want}
        if got != want:
            diff = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
            raise ValueError(f"{where} do not match this run (have vs want: {diff}); "
                             f"delete the directory or pass states built for this dataset and encoder")


def encode_states(texts: list[str], encoder: str, max_tokens: int, batch_size: int = 128,
                  show_progress: bool = True, device: str | None = None) -> QueryStates:
    """Encode ``texts`` once with the frozen ``encoder`` (name or path) into :class:`QueryStates`."""
    import time

    from semid.threads import avoid_cpu_oversubscription

    avoid_cpu_oversubscription()
    model = load_encoder(encoder, max_tokens, device)
    t0 = time.perf_counter()
    states = token_states(model, texts, batch_size=batch_size, show_progress=show_progress)
    seconds = time.perf_counter() - t0
    meta = {"format": FORMAT, "encoder": encoder, "max_tokens": int(max_tokens), "n": len(texts),
            "texts_sha": texts_hash(texts), "dim": int(states[0].shape[1]) if states else 0,
            "encode_seconds": seconds, "texts_per_s": len(texts) / seconds if seconds > 0 else None}
    logger.info("encoded %d texts with %s in %.1f s", len(texts), encoder, seconds)
    return QueryStates.from_list(states, meta)


def cached_states(given, texts: list[str], own: Path, encoder: str, max_tokens: int,
                  show_progress: bool = True) -> QueryStates:
    """``given`` (a QueryStates or its directory), else ``texts`` encoded once into ``own`` (kept,
    so that a resumed training does not encode them again)."""
    if isinstance(given, QueryStates):
        return given
    if given is not None:
        return QueryStates.load(given)
    if not (own / "meta.json").exists():
        encode_states(texts, encoder, max_tokens, show_progress=show_progress).save(own)
    return QueryStates.load(own)
