"""The joint generative retriever: a model over Semantic-ID tokens (DESIGN.md step 4), with
backends behind one interface (:mod:`semid.generative.backends`): ``encoder-decoder`` (the CPU
default) and ``t5``.

Names are imported lazily, so that ``semid --help`` (which imports ``semid.generative.cli``)
does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "TrainConfig",
    "train_model",
    "load_model",
    "GenerativeRetriever",
    "IDTrie",
    "BeamResult",
    "constrained_beam_search",
    "score_all_ids",
    "expand_items",
    "BACKENDS",
    "backend_class",
    "QueryStates",
    "encode_states",
]

_WHERE = {
    "TrainConfig": "semid.generative.config",
    "train_model": "semid.generative.train",
    "load_model": "semid.generative.retriever",
    "GenerativeRetriever": "semid.generative.retriever",
    "expand_items": "semid.generative.retriever",
    "IDTrie": "semid.generative.trie",
    "BeamResult": "semid.generative.decode",
    "constrained_beam_search": "semid.generative.decode",
    "score_all_ids": "semid.generative.decode",
    "BACKENDS": "semid.generative.backends",
    "backend_class": "semid.generative.backends",
    "QueryStates": "semid.generative.query_states",
    "encode_states": "semid.generative.query_states",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'semid.generative' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
