"""Model backends of the generative retriever, behind one interface (:class:`Backend`).

- ``encoder-decoder`` (default): a frozen pretrained text encoder (all-MiniLM-L6-v2 offline)
  with cached query states and a small trainable ID decoder. Learns search and rec in
  minutes on a CPU.
- ``t5``: a Hugging Face seq2seq model (``google/flan-t5-base``, the paper's, by hub name or
  local path) or the offline ``small`` T5 built from a config. The paper's setting, for GPUs.
"""

from __future__ import annotations

import importlib
from typing import Any

from semid.registry import Registry, check_name_attribute

__all__ = ["BACKENDS", "backend_class", "Backend", "TrainExamples"]

#: the model backends: name -> backend class (semid.registry; one line each)
BACKENDS: Registry[Any] = Registry("generative backend", check=check_name_attribute)
BACKENDS.add("encoder-decoder", "semid.generative.backends.encoder_decoder:EncoderDecoderBackend",
             "frozen pretrained text encoder (cached states) + small ID decoder; the CPU default",
             options="semid.generative.config:TrainConfig")
BACKENDS.add("t5", "semid.generative.backends.t5:T5Backend",
             "a T5 seq2seq model: --model small (offline, from scratch), a hub name or a local path; the paper's",
             options="semid.generative.config:TrainConfig")


def backend_class(name: str) -> Any:
    """The backend class registered as ``name``; ``ValueError`` listing the valid names otherwise."""
    return BACKENDS.get_factory(name)


def __getattr__(name: str) -> Any:
    if name in ("Backend", "TrainExamples"):
        return getattr(importlib.import_module("semid.generative.backends.base"), name)
    raise AttributeError(f"module 'semid.generative.backends' has no attribute {name!r}")
