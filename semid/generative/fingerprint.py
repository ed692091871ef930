"""Fingerprints: the data and the IDs a model was trained on, checked before the model is used.

- A dataset's fingerprint is :func:`semid.embed.base.dataset_hash` (sha256 of its items' ids and
  texts, its interactions with their split, and its queries with their split).
- IDs' fingerprint is :func:`semid.ids.encode.ids_fingerprint` (sha256 of the codes and the token
  layout); a trained model's ``config.json`` holds its first 12 hex digits (``ids_fingerprint``,
  part of the training run key since the first models) and the dataset's (``data_fingerprint``).
  IDs built by ``semid run`` record the dataset they were built for (``data_fingerprint`` in their
  ``config.json``).

Two datasets with the same item count but other items, or IDs of another dataset, are refused
with one line naming both fingerprints and the fix (the item count alone let them through).
Models written before the data fingerprint existed still load: a warning, once per model.
"""

from __future__ import annotations

import logging
from typing import Any

from semid.ids.types import SemanticIDs

logger = logging.getLogger(__name__)

__all__ = ["data_fingerprint", "model_ids_fingerprint", "check_model_ids", "check_model_data", "check_ids_data"]

#: hex digits of ids_fingerprint a model's config.json holds (the training run key has always used 12)
IDS_DIGITS = 12

_warned: set[str] = set()


def data_fingerprint(dataset: Any) -> str:
    """The dataset's content hash (16 hex digits; :func:`semid.embed.base.dataset_hash`)."""
    from semid.embed.base import dataset_hash

    return dataset_hash(dataset)


def model_ids_fingerprint(ids: SemanticIDs) -> str:
    """The IDs' fingerprint as a model's ``config.json`` records it."""
    from semid.ids.encode import ids_fingerprint

    return ids_fingerprint(ids)[:IDS_DIGITS]


def check_model_ids(config: dict[str, Any], ids: SemanticIDs, where: Any) -> None:
    """Refuse IDs other than those the model at ``where`` was trained on (its ``ids/`` copy replaced)."""
    recorded = config.get("ids_fingerprint")
    if recorded is None:
        return  # not written by semid train (no record to compare against)
    got = model_ids_fingerprint(ids)
    if got != recorded:
        raise ValueError(f"{where}: the IDs in {where}/ids (fingerprint {got}) are not the ones this model was trained "
                         f"on (fingerprint {recorded}); copy back the training IDs or retrain the model")


def check_model_data(config: dict[str, Any], dataset: Any, where: Any) -> None:
    """Refuse a dataset other than the one the model at ``where`` was trained on; a model written
    before data fingerprints existed gets a warning (once) instead."""
    recorded = config.get("data_fingerprint")
    if recorded is None:
        if str(where) not in _warned:
            _warned.add(str(where))
            logger.warning("%s records no data fingerprint (trained by an older semid): cannot check that the "
                           "dataset is the one it was trained on", where)
        return
    got = data_fingerprint(dataset)
    if got != recorded:
        raise ValueError(f"{where} was trained on another dataset (data fingerprint {recorded}; this dataset's is "
                         f"{got}, with {dataset.n_items} items): evaluate on the dataset the model was trained on")


def check_ids_data(ids: SemanticIDs, dataset: Any, where: Any = "the IDs") -> None:
    """Refuse IDs built for another dataset (when the IDs record one: ``semid run`` writes it)."""
    recorded = ids.config.get("data_fingerprint")
    if recorded is None:
        return
    got = data_fingerprint(dataset)
    if got != recorded:
        raise ValueError(f"{where} were built for another dataset (data fingerprint {recorded}; this dataset's is "
                         f"{got}): build IDs for this dataset (semid ids build / semid run)")
