"""One library call that prepares a dataset from any supported source.

Used by ``semid data prepare`` and by the experiment runner. The sources and query generators
are registered in :mod:`semid.data.sources` and implemented in :mod:`semid.data.catalogue`.
"""

from __future__ import annotations

import logging
from typing import Any

from semid.data.catalogue import SourceRequest
from semid.data.schema import Dataset
from semid.data.sources import DATA_SOURCES, QUERY_GENERATORS
from semid.data.splits import make_dataset

logger = logging.getLogger(__name__)

__all__ = ["prepare", "SOURCES", "QUERIES", "ITEM_NOUNS"]

SOURCES = tuple(DATA_SOURCES)  # the registered data sources (semid.data.sources)
QUERIES = tuple(QUERY_GENERATORS)  # the registered query generators
# The word queries use for an item, by source (--item-noun overrides it): each source's item_noun.
ITEM_NOUNS = {name: DATA_SOURCES[name].item_noun for name in SOURCES}


def prepare(source: str = "synthetic", path: str | None = None, download: str | None = None,
            queries: str = "offline", min_history: int = 1, seed: int = 0,
            synthetic_options: dict[str, Any] | None = None, llm_options: dict[str, Any] | None = None,
            cache_dir: str | None = None, n_genome_tags: int = 10, show_progress: bool = True,
            items_path: str | None = None, interactions_path: str | None = None,
            queries_path: str | None = None, item_noun: str | None = None,
            meta_path: str | None = None, columns: dict[str, str] | None = None,
            n_train_queries: int = 10, n_test_queries: int = 10) -> Dataset:
    """Read or generate a catalogue, generate queries, split: a ready :class:`Dataset`.

    source: a name in :data:`~semid.data.sources.DATA_SOURCES`: ``synthetic`` (the built-in
    world; ``synthetic_options`` are :class:`~semid.data.synthetic.SyntheticConfig` fields) or
    ``movielens`` (a local copy at ``path``, or the GroupLens archive ``download``) or ``files``
    (your own ``items_path`` and ``interactions_path``, see :mod:`semid.data.files`; with
    ``queries_path`` your own queries are used instead of generated ones) or ``amazon`` (the
    Amazon review data at ``path``: a directory or a reviews file, see :mod:`semid.data.amazon`;
    ``meta_path`` overrides the meta file found beside it).
    columns (files): semid's column name -> your files' name for it, e.g. ``{"item_id": "asin"}``.
    queries: a name in :data:`~semid.data.sources.QUERY_GENERATORS`: ``offline`` (template
    generator) or ``llm`` (``llm_options`` are :class:`~semid.data.llm_queries.LLMQueryConfig` fields).
    item_noun: what the offline queries call an item (default by source, :data:`ITEM_NOUNS`:
    "movie" keeps the MovieLens phrasings, any other noun the domain-neutral ones).
    n_train_queries, n_test_queries: offline queries per item for training and test (the paper: 10
    and 10; fewer training queries make every later stage that reads them cheaper).
    """
    source_cls = DATA_SOURCES.get_factory(source)  # an unknown name lists the valid ones
    generate = QUERY_GENERATORS.get_factory(queries)
    noun = source_cls.item_noun if item_noun is None else item_noun
    if not isinstance(noun, str) or not noun.strip() or len(noun) > 40:
        raise ValueError(f"--item-noun must be a short word such as 'product', got {noun!r}")
    req = SourceRequest(
        item_noun=noun.strip().lower(), queries=queries, path=path, download=download, cache_dir=cache_dir,
        n_genome_tags=n_genome_tags, items_path=items_path, interactions_path=interactions_path,
        queries_path=queries_path, meta_path=meta_path, columns=columns, synthetic_options=synthetic_options,
        llm_options=llm_options, n_train_queries=n_train_queries, n_test_queries=n_test_queries,
        min_history=min_history, seed=seed, show_progress=show_progress)
    catalogue = source_cls.read(req)
    if catalogue.dataset is not None:  # the source brought its own queries
        return catalogue.dataset
    base_items = catalogue.items.drop(columns=[c for c in ("train_count", "head") if c in catalogue.items.columns])
    q = generate(base_items, req)
    meta = {**catalogue.meta, "queries": queries, "item_noun": req.item_noun}
    raw = catalogue.interactions.drop(columns=["split"], errors="ignore")
    return make_dataset(base_items, raw, q, meta=meta, min_history=min_history)
