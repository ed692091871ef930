"""One library call that prepares a dataset from any supported source.

Used by ``semid data prepare`` and by the experiment runner.
"""

from __future__ import annotations

import logging
from typing import Any

from semid.data.schema import Dataset
from semid.data.splits import make_dataset

logger = logging.getLogger(__name__)

__all__ = ["prepare", "SOURCES"]

SOURCES = ("synthetic", "movielens", "files", "amazon")
# The word queries use for an item, by source (--item-noun overrides it).
ITEM_NOUNS = {"synthetic": "movie", "movielens": "movie", "files": "item", "amazon": "product"}


def prepare(source: str = "synthetic", path: str | None = None, download: str | None = None,
            queries: str = "offline", min_history: int = 1, seed: int = 0,
            synthetic_options: dict[str, Any] | None = None, llm_options: dict[str, Any] | None = None,
            cache_dir: str | None = None, n_genome_tags: int = 10, show_progress: bool = True,
            items_path: str | None = None, interactions_path: str | None = None,
            queries_path: str | None = None, item_noun: str | None = None,
            meta_path: str | None = None, columns: dict[str, str] | None = None,
            n_train_queries: int = 10, n_test_queries: int = 10) -> Dataset:
    """Read or generate a catalogue, generate queries, split: a ready :class:`Dataset`.

    source: ``synthetic`` (the built-in world; ``synthetic_options`` are
    :class:`~semid.data.synthetic.SyntheticConfig` fields) or ``movielens`` (a local copy
    at ``path``, or the GroupLens archive ``download``) or ``files`` (your own
    ``items_path`` and ``interactions_path``, see :mod:`semid.data.files`; with
    ``queries_path`` your own queries are used instead of generated ones) or ``amazon`` (the
    Amazon review data at ``path``: a directory or a reviews file, see :mod:`semid.data.amazon`;
    ``meta_path`` overrides the meta file found beside it).
    columns (files): semid's column name -> your files' name for it, e.g. ``{"item_id": "asin"}``.
    queries: ``offline`` (template generator) or ``llm`` (``llm_options`` are
    :class:`~semid.data.llm_queries.LLMQueryConfig` fields).
    item_noun: what the offline queries call an item (default by source, :data:`ITEM_NOUNS`:
    "movie" keeps the MovieLens phrasings, any other noun the domain-neutral ones).
    n_train_queries, n_test_queries: offline queries per item for training and test (the paper: 10
    and 10; fewer training queries make every later stage that reads them cheaper).
    """
    if source not in SOURCES:
        raise ValueError(f"unknown --source {source!r}; choose one of {list(SOURCES)}")
    noun = ITEM_NOUNS[source] if item_noun is None else item_noun
    if not isinstance(noun, str) or not noun.strip() or len(noun) > 40:
        raise ValueError(f"--item-noun must be a short word such as 'product', got {noun!r}")
    noun = noun.strip().lower()
    if source == "synthetic":
        from semid.config import from_dict
        from semid.data.synthetic import SyntheticConfig, make_synthetic_world

        opts = dict(synthetic_options or {})
        opts.setdefault("seed", seed)
        opts.setdefault("min_history", min_history)
        world = make_synthetic_world(from_dict(SyntheticConfig, opts, where="synthetic"))
        if queries == "offline":
            return world
        items, interactions, meta = world.items, world.interactions, dict(world.meta)
    elif source == "files":
        from semid.data.files import read_items, read_table

        if not (items_path and interactions_path):
            raise ValueError("--source files needs --items FILE and --interactions FILE")
        from semid.data.schema import validate_interactions, validate_items, validate_queries

        items = validate_items(read_items(items_path, noun, columns), str(items_path))
        interactions = validate_interactions(read_table(interactions_path, columns), items["item_id"],
                                             str(interactions_path))
        meta = {"source": "files", "items": str(items_path), "interactions": str(interactions_path)}
        if queries_path:
            q = validate_queries(read_table(queries_path, columns), items["item_id"], str(queries_path))
            meta["queries"] = f"file:{queries_path}"
            return make_dataset(items, interactions, q, meta=meta, min_history=min_history)
    elif source == "amazon":
        from semid.data.amazon import read_amazon

        if not path:
            raise ValueError("--source amazon needs --path DIR (or the reviews file), e.g. --path ~/data/amazon-beauty")
        amazon = read_amazon(path, meta_path=meta_path)
        items, interactions = amazon.items, amazon.interactions
        meta = {"source": "amazon", "name": f"amazon-{amazon.name}", "release": amazon.release,
                "reviews": str(amazon.reviews_path), "meta": str(amazon.meta_path) if amazon.meta_path else None}
    else:
        from semid.data.movielens import read_movielens

        if bool(path) == bool(download):
            raise ValueError("a movielens source needs exactly one of --path DIR or --download NAME")
        if download:
            from semid.data.download import download_movielens

            path = str(download_movielens(download, cache_dir=cache_dir, show_progress=show_progress))
        tables = read_movielens(path, n_genome_tags=n_genome_tags)
        items, interactions = tables.items, tables.interactions
        meta = {"source": "movielens", "name": tables.name, "path": str(path)}
    base_items = items.drop(columns=[c for c in ("train_count", "head") if c in items.columns])
    if queries == "offline":
        from semid.data.queries import generate_offline_queries

        q = generate_offline_queries(base_items, n_train=n_train_queries, n_test=n_test_queries, seed=seed,
                                     show_progress=show_progress, item_noun=noun)
    elif queries == "llm":
        from semid.config import from_dict
        from semid.data.llm_queries import LLMQueryConfig, generate_llm_queries

        q = generate_llm_queries(base_items, from_dict(LLMQueryConfig, {"item_noun": noun, **(llm_options or {})}, where="llm"),
                                 show_progress=show_progress)
    else:
        raise ValueError(f"unknown --queries {queries!r}; choose 'offline' or 'llm'")
    meta["queries"] = queries
    meta["item_noun"] = noun
    raw = interactions.drop(columns=["split"], errors="ignore")
    return make_dataset(base_items, raw, q, meta=meta, min_history=min_history)
