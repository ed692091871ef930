"""The data sources and query generators: one registry line each.

A data source reads (or generates) a catalogue: its factory is a class with an ``item_noun``
(what generated queries call an item) and ``read(request) -> Catalogue``. A query generator is
a function ``(items, request) -> queries``. Both live in :mod:`semid.data.catalogue` and are
imported on first use, so this module imports neither pandas nor any reader: CLI choices,
``--help`` lists and config validation (:mod:`semid.experiment.config`) read the names and help
from here cheaply. Adding a source is its class plus one line below.
"""

from __future__ import annotations

from semid.registry import Registry

__all__ = ["DATA_SOURCES", "QUERY_GENERATORS"]

DATA_SOURCES: Registry = Registry("data source")
DATA_SOURCES.add("synthetic", "semid.data.catalogue:SyntheticSource",
                 "the built-in synthetic world (no files needed; --n-items, --n-users)",
                 options="semid.data.synthetic:SyntheticConfig")
DATA_SOURCES.add("movielens", "semid.data.catalogue:MovieLensSource",
                 "a local MovieLens copy (--path) or a GroupLens archive (--download)")
DATA_SOURCES.add("files", "semid.data.catalogue:FilesSource",
                 "your own --items and --interactions files (CSV, TSV, Parquet or JSON Lines)")
DATA_SOURCES.add("amazon", "semid.data.catalogue:AmazonSource",
                 "the Amazon review data (2014, 2018 or 2023 files) at --path")

QUERY_GENERATORS: Registry = Registry("query generator")
QUERY_GENERATORS.add("offline", "semid.data.catalogue:offline_queries",
                     "template queries from the item metadata (no network)")
QUERY_GENERATORS.add("llm", "semid.data.catalogue:llm_queries",
                     "the paper's prompt sent to an OpenAI-compatible LLM",
                     options="semid.data.llm_queries:LLMQueryConfig")
