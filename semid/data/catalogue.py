"""The registered data sources and query generators (see :mod:`semid.data.sources`).

:func:`semid.data.prepare.prepare` gathers its arguments into one :class:`SourceRequest`, asks
the source for a :class:`Catalogue`, generates queries for it with the query generator and
splits the result. A source that makes its own queries (the synthetic world with offline
queries, your files with ``--queries-file``) hands back the finished dataset instead.

Each reader imports its heavy modules (pandas, the file readers) when it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from semid.data.sources import DATA_SOURCES, QUERY_GENERATORS

if TYPE_CHECKING:
    import pandas as pd

    from semid.data.schema import Dataset

__all__ = ["SourceRequest", "Catalogue", "SyntheticSource", "MovieLensSource", "FilesSource", "AmazonSource",
           "offline_queries", "llm_queries"]


@dataclass(frozen=True)
class SourceRequest:
    """The arguments of :func:`~semid.data.prepare.prepare`, as the sources and generators read them
    (each reads only its own fields; ``item_noun`` is already resolved and checked)."""

    item_noun: str
    queries: str = "offline"
    path: str | None = None
    download: str | None = None
    cache_dir: str | None = None
    n_genome_tags: int = 10
    items_path: str | None = None
    interactions_path: str | None = None
    queries_path: str | None = None
    meta_path: str | None = None
    columns: dict[str, str] | None = None
    synthetic_options: dict[str, Any] | None = None
    llm_options: dict[str, Any] | None = None
    n_train_queries: int = 10
    n_test_queries: int = 10
    min_history: int = 1
    seed: int = 0
    show_progress: bool = True


class Catalogue(NamedTuple):
    """What a source reads: the item and interaction tables and the dataset's ``meta``, or, for a
    source that brings its own queries, the finished ``dataset`` (the other fields are then unused)."""

    items: pd.DataFrame | None = None
    interactions: pd.DataFrame | None = None
    meta: dict[str, Any] | None = None
    dataset: Dataset | None = None


# ----------------------------------------------------------------------------- sources
class SyntheticSource:
    """The built-in synthetic world (:mod:`semid.data.synthetic`); ``synthetic_options`` are
    :class:`~semid.data.synthetic.SyntheticConfig` fields (seed and min_history default to the request's)."""

    item_noun = "movie"

    @staticmethod
    def read(req: SourceRequest) -> Catalogue:
        from semid.data.synthetic import make_synthetic_world

        opts = dict(req.synthetic_options or {})
        opts.setdefault("seed", req.seed)
        opts.setdefault("min_history", req.min_history)
        world = make_synthetic_world(DATA_SOURCES.make_options("synthetic", opts, where="synthetic"))
        if req.queries == "offline":  # the world's own offline queries
            return Catalogue(dataset=world)
        return Catalogue(world.items, world.interactions, dict(world.meta))


class MovieLensSource:
    """A local MovieLens directory (``path``) or a GroupLens archive (``download``), see :mod:`semid.data.movielens`."""

    item_noun = "movie"

    @staticmethod
    def read(req: SourceRequest) -> Catalogue:
        from semid.data.movielens import read_movielens

        path = req.path
        if bool(path) == bool(req.download):
            raise ValueError("a movielens source needs exactly one of --path DIR or --download NAME")
        if req.download:
            from semid.data.download import download_movielens

            path = str(download_movielens(req.download, cache_dir=req.cache_dir, show_progress=req.show_progress))
        tables = read_movielens(path, n_genome_tags=req.n_genome_tags)
        return Catalogue(tables.items, tables.interactions,
                         {"source": "movielens", "name": tables.name, "path": str(path)})


class FilesSource:
    """Your own ``items_path`` and ``interactions_path`` (see :mod:`semid.data.files`); with
    ``queries_path`` your queries are used instead of generated ones."""

    item_noun = "item"

    @staticmethod
    def read(req: SourceRequest) -> Catalogue:
        from semid.data.files import read_items, read_table

        if not (req.items_path and req.interactions_path):
            raise ValueError("--source files needs --items FILE and --interactions FILE")
        from semid.data.schema import validate_interactions, validate_items, validate_queries

        items = validate_items(read_items(req.items_path, req.item_noun, req.columns), str(req.items_path))
        interactions = validate_interactions(read_table(req.interactions_path, req.columns), items["item_id"],
                                             str(req.interactions_path))
        meta = {"source": "files", "items": str(req.items_path), "interactions": str(req.interactions_path)}
        if not req.queries_path:
            return Catalogue(items, interactions, meta)
        from semid.data.splits import make_dataset

        q = validate_queries(read_table(req.queries_path, req.columns), items["item_id"], str(req.queries_path))
        meta["queries"] = f"file:{req.queries_path}"
        return Catalogue(dataset=make_dataset(items, interactions, q, meta=meta, min_history=req.min_history))


class AmazonSource:
    """The Amazon review data at ``path`` (a directory or a reviews file, see :mod:`semid.data.amazon`);
    ``meta_path`` overrides the meta file found beside it."""

    item_noun = "product"

    @staticmethod
    def read(req: SourceRequest) -> Catalogue:
        from semid.data.amazon import read_amazon

        if not req.path:
            raise ValueError("--source amazon needs --path DIR (or the reviews file), e.g. --path ~/data/amazon-beauty")
        amazon = read_amazon(req.path, meta_path=req.meta_path)
        meta = {"source": "amazon", "name": f"amazon-{amazon.name}", "release": amazon.release,
                "reviews": str(amazon.reviews_path), "meta": str(amazon.meta_path) if amazon.meta_path else None}
        return Catalogue(amazon.items, amazon.interactions, meta)


# ----------------------------------------------------------------------------- query generators
def offline_queries(items: pd.DataFrame, req: SourceRequest) -> pd.DataFrame:
    """Template queries (:func:`semid.data.queries.generate_offline_queries`): ``n_train_queries`` and
    ``n_test_queries`` per item."""
    from semid.data.queries import generate_offline_queries

    return generate_offline_queries(items, n_train=req.n_train_queries, n_test=req.n_test_queries, seed=req.seed,
                                    show_progress=req.show_progress, item_noun=req.item_noun)


def llm_queries(items: pd.DataFrame, req: SourceRequest) -> pd.DataFrame:
    """Queries from an LLM (:func:`semid.data.llm_queries.generate_llm_queries`); ``llm_options`` are
    :class:`~semid.data.llm_queries.LLMQueryConfig` fields."""
    from semid.data.llm_queries import generate_llm_queries

    cfg = QUERY_GENERATORS.make_options("llm", {"item_noun": req.item_noun, **(req.llm_options or {})}, where="llm")
    return generate_llm_queries(items, cfg, show_progress=req.show_progress)
