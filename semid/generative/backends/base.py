"""The model backend interface: everything training, decoding, the retriever and evaluation
need from a generative model, and nothing more (DESIGN.md "Offline and on a laptop").

A backend turns a batch of task inputs into a *memory* (``encode``), decodes an ID one
level at a time from a *state* (``start`` / ``step`` / ``advance``, with whatever cache it
keeps inside the state), computes its training loss on a collated batch, and saves and
loads itself. Decoding code never touches the underlying ``torch.nn.Module``.

Codes are per-level integers (``0 <= code < level_size``); a backend maps them to its own
tokens. ``step`` returns log-probabilities over the codes of the current level only, so the
beam search and the exhaustive reference need no token offsets.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Backend", "TrainExamples"]


@dataclass
class TrainExamples:
    """Training examples in a backend's own input format.

    inputs: one entry per example (token ids, a query row, ...); labels: int64 per-level codes
    of the target's task ID; task: "search" or "rec" per example.
    """

    inputs: list[Any]
    labels: list[np.ndarray]
    task: list[str]

    def __len__(self) -> int:
        return len(self.inputs)

    def subset(self, idx: np.ndarray) -> TrainExamples:
        return TrainExamples([self.inputs[i] for i in idx], [self.labels[i] for i in idx], [self.task[i] for i in idx])


class Backend(ABC):
    """One generative model behind the interface of this module's docstring."""

    #: registry name, recorded in the model directory's config.json
    name: str = ""

    # ------------------------------------------------------------------ model
    @property
    @abstractmethod
    def module(self) -> Any:
        """The trainable ``torch.nn.Module`` (given to the optimizer and Accelerate)."""

    @abstractmethod
    def to(self, device: Any) -> Backend:
        """Move the model to ``device``; returns self."""

    @property
    @abstractmethod
    def device(self) -> Any:
        """The device the model lives on."""

    # --------------------------------------------------------------- decoding
    @abstractmethod
    def encode(self, task: str, inputs: list) -> Any:
        """A memory for a batch: query strings (``search``) or item-index histories, oldest
        first (``rec``)."""

    @abstractmethod
    def batch_size_of(self, memory: Any) -> int:
        """The number of inputs a memory holds."""

    @abstractmethod
    def start(self, task: str, memory: Any) -> Any:
        """The decoding state before the first level (one beam per input)."""

    @abstractmethod
    def step(self, state: Any, level: int, size: int) -> Any:
        """float32 tensor (n_beams, size): log-probabilities of every code of ``level``."""

    @abstractmethod
    def advance(self, state: Any, level: int, src: Any, codes: Any) -> Any:
        """The state after each new beam ``i`` extends old beam ``src[i]`` with ``codes[i]``.

        src, codes: int64 tensors (n_new_beams,), ``src`` indexing the flattened old beams.
        """

    def score_codes(self, task: str, memory: Any, codes: np.ndarray, sizes: list[int]) -> np.ndarray:
        """Exhaustive reference: float32 (B, n) log-probability of every ID in ``codes``
        (int (n, L)) for each input. The default runs ``step``/``advance``; backends override it
        with a teacher-forced pass that shares no cache code with decoding."""
        import torch

        B = self.batch_size_of(memory)
        n, L = codes.shape
        out = np.zeros((B, n), dtype=np.float32)
        for b in range(B):
            state = self.start(task, self.select(memory, b))
            total = torch.zeros(n)
            src = torch.zeros(n, dtype=torch.long)
            for t in range(L):
                logp = self.step(state, t, sizes[t]).float().cpu()
                c = torch.as_tensor(codes[:, t], dtype=torch.long)
                total += logp[src, c]
                if t + 1 < L:
                    state = self.advance(state, t, src.to(self.device), c.to(self.device))
                    src = torch.arange(n)
            out[b] = total.numpy()
        return out

    @abstractmethod
    def select(self, memory: Any, b: int) -> Any:
        """The memory of input ``b`` alone (batch of one, without padding)."""

    # --------------------------------------------------------------- training
    @abstractmethod
    def training_examples(self, dataset: Any) -> TrainExamples:
        """Every training example of the configured tasks."""

    @abstractmethod
    def collate(self, examples: TrainExamples, idx: np.ndarray) -> dict[str, Any]:
        """A batch of tensors (on the CPU) for ``loss``."""

    @abstractmethod
    def loss(self, module: Any, batch: dict[str, Any]) -> Any:
        """Mean token cross-entropy of a batch (a scalar tensor); ``module`` may be the
        Accelerate-wrapped ``self.module``."""

    # -------------------------------------------------------------------- I/O
    @abstractmethod
    def save(self, path: str | os.PathLike) -> None:
        """Write the model into directory ``path`` (which exists)."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """JSON-ready settings recorded in the model's config.json under ``backend_config``."""

    @classmethod
    @abstractmethod
    def for_training(cls, dataset: Any, ids: Any, cfg: Any, work_dir: Path, query_states: Any = None,
                     item_states: Any = None, show_progress: bool = True) -> Backend:
        """A freshly initialised backend (seeded by the caller) for ``train_model``. ``work_dir``
        (the run's checkpoint folder) keeps whatever must survive a resume (a tokenizer, cached
        encoder states); ``query_states`` / ``item_states``: shared encoder states, for backends
        that cache them (others ignore them)."""

    @classmethod
    @abstractmethod
    def load(cls, path: Path, config: dict[str, Any], ids: Any, device: str | None = None) -> Backend:
        """Rebuild the backend saved in model directory ``path`` (``config`` is its config.json)."""

    @property
    def model_source(self) -> str:
        """The pretrained model it starts from (hub name or path), recorded in config.json."""
        return ""

    def n_parameters(self) -> int:
        return int(sum(p.numel() for p in self.module.parameters()))

    def n_trainable_parameters(self) -> int:
        return int(sum(p.numel() for p in self.module.parameters() if p.requires_grad))
