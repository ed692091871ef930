"""The experiment grid config: datasets x embeddings x ID schemes x quantizers x collisions x seeds.

A config file (TOML, YAML or JSON) maps onto :class:`ExperimentConfig`::

    name = "quickstart"
    seeds = [0]

    [[datasets]]
    name = "synthetic"
    source = "synthetic"            # or "movielens" with path = "..." or download = "ml-latest-small",
                                    # "files" with path = DIR (items.csv + interactions.csv) or items/interactions,
                                    # "amazon" with path = the Amazon review files
    options = { n_items = 500 }

    [embeddings.search]             # name -> method and its options
    method = "search"
    options = { epochs = 1 }

    [[schemes]]                     # one row of the paper's tables
    name = "search-tuned"
    scheme = "shared"               # shared | separate | prefix-share
    embedding = "search"            # for shared
    # search = "search"; rec = "rec" for separate / prefix-share

    [[quantizers]]
    method = "rq-kmeans"

    collisions = ["suffix"]
    [ids]                           # levels / codebook size for every variant
    levels = 2
    codebook_size = 256
    [train]                         # semid.generative.TrainConfig fields
    epochs = 3
    [evaluate]
    k = 30

Every variant is one (dataset, scheme, quantizer, collisions, seed). Embeddings are built
once per dataset (with ``embedding_seed``); the seed varies the quantizer and the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semid.config import apply_overrides, from_dict, load_config_file, to_dict
from semid.data.sources import DATA_SOURCES

# validate.py imports this module's classes for type checking only: no import cycle
from semid.experiment.validate import check_at, validate_experiment  # noqa: E402  (re-exported)
from semid.generative.config import DEFAULT_BEAM_SIZE, DEFAULT_K
from semid.ids.base import DEFAULT_CODEBOOK_SIZE, DEFAULT_LEVELS
from semid.ids.collisions import COLLISION_MODES, DEFAULT_COLLISIONS
from semid.ids.quantizers import DEFAULT_QUANTIZER
from semid.ids.schemes import DEFAULT_SCHEME, SCHEMES

__all__ = [
    "DatasetSpec",
    "EmbeddingSpec",
    "SchemeSpec",
    "QuantizerSpec",
    "IDOptions",
    "EvalOptions",
    "ScaleTestOptions",
    "ExperimentConfig",
    "load_experiment_config",
    "validate_experiment",
    "TABLES",
]

# the registered data sources (semid.data.sources lists them without importing pandas or a reader)
SOURCES = tuple(DATA_SOURCES)
# the files source: semid's column name -> the column a user's file calls it
FILE_COLUMNS = ("item_id", "user_id", "timestamp", "text", "title", "rating", "genres", "tags", "description")
SPLITS = ("leave-last-out",)
TABLES = ("table1", "table2", "table3")


@dataclass
class DatasetSpec:
    name: str = field(metadata={"help": "short name used in paths and tables"})
    source: str = field(default="synthetic", metadata={"help": "synthetic | movielens | files | amazon"})
    path: str | None = field(default=None, metadata={
        "help": "movielens: a local MovieLens directory; amazon: a directory with reviews_<Category>_5 + "
                "meta_<Category> (or the reviews file); files: a directory holding items.csv and interactions.csv"})
    download: str | None = field(default=None, metadata={"help": "GroupLens archive name, e.g. ml-latest-small"})
    options: dict[str, Any] = field(default_factory=dict, metadata={"help": "SyntheticConfig fields (synthetic)"})
    items: str | None = field(default=None, metadata={"help": "files: the items file (default: <path>/items.csv)"})
    interactions: str | None = field(default=None, metadata={
        "help": "files: the interactions file (default: <path>/interactions.csv)"})
    queries_file: str | None = field(default=None, metadata={
        "help": "files: your own queries (item_id, text, split) instead of generated ones"})
    meta: str | None = field(default=None, metadata={"help": "amazon: the meta_<Category> file (default: beside the reviews)"})
    columns: dict[str, str] = field(default_factory=dict, metadata={
        "help": "files: semid column -> the column your files name it, e.g. {item_id = \"asin\", user_id = \"reviewerID\"}"})
    item_noun: str | None = field(default=None, metadata={
        "help": "what generated queries call an item (default: movie for synthetic/movielens, product for amazon, item for files)"})
    train_queries_per_item: int = field(default=10, metadata={"help": "offline queries: training queries per item (the paper: 10)"})
    test_queries_per_item: int = field(default=10, metadata={"help": "offline queries: test queries per item (the paper: 10)"})
    queries: str = field(default="offline", metadata={"help": "offline | llm"})
    split: str = field(default="leave-last-out", metadata={
        "help": "leave-last-out: per user, the last item is the test target, the one before it validation "
                "(the protocol of the paper and of the Amazon benchmarks; the only split semid makes)"})
    min_history: int = field(default=1, metadata={"help": "minimum training history per user"})
    seed: int = field(default=0, metadata={"help": "seed of data generation and query phrasing"})
    train: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "this dataset's overrides of [train], e.g. more epochs for a small catalogue"})
    ids: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "this dataset's overrides of [ids] (levels, codebook_size), e.g. an ID space sized to its catalogue"})

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"dataset {self.name!r}: source {self.source!r} is not one of {list(SOURCES)}")
        if self.source == "movielens" and not (self.path or self.download):
            raise ValueError(f"dataset {self.name!r}: a movielens source needs `path` or `download`")
        self._check_source_fields()
        if self.split not in SPLITS:
            raise ValueError(f"dataset {self.name!r}: split {self.split!r} is not one of {list(SPLITS)}")
        if self.queries not in ("offline", "llm"):
            raise ValueError(f"dataset {self.name!r}: queries {self.queries!r} must be 'offline' or 'llm'")

    def _check_source_fields(self) -> None:
        """Each source's own fields are set only where that source reads them (a typo'd source
        would otherwise silently ignore them), with values of the right shape."""
        at = f"dataset {self.name!r}"
        own = {"items": "files", "interactions": "files", "queries_file": "files", "columns": "files", "meta": "amazon",
               "download": "movielens"}
        for name, src in own.items():
            if getattr(self, name) and self.source != src:
                raise ValueError(f"{at}: `{name}` is read only by source = \"{src}\", not by {self.source!r}; remove it")
        if self.source == "files" and not (self.path or (self.items and self.interactions)):
            raise ValueError(f"{at}: a files source needs `path` (a directory with items.csv and interactions.csv) "
                             "or both `items` and `interactions`")
        if self.source == "amazon" and not self.path:
            raise ValueError(f"{at}: an amazon source needs `path`: a directory with reviews_<Category>_5.json(.gz) "
                             "and meta_<Category>.json(.gz), or the reviews file")
        bad = sorted(set(self.columns) - set(FILE_COLUMNS))
        if bad:
            raise ValueError(f"{at}: columns {bad} are not semid columns; rename any of {list(FILE_COLUMNS)}")
        for key, col in self.columns.items():
            if not isinstance(col, str) or not col.strip():
                raise ValueError(f"{at}: columns.{key} must name a column of your file, got {col!r}")
        noun = self.item_noun
        if noun is not None and (not isinstance(noun, str) or not noun.strip() or len(noun) > 40):
            raise ValueError(f"{at}: item_noun must be a short word such as \"product\", got {noun!r}")
        for name in ("train_queries_per_item", "test_queries_per_item"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{at}: {name} must be an integer >= 1, got {v!r}")
        if self.source == "synthetic" and (self.train_queries_per_item, self.test_queries_per_item) != (10, 10):
            raise ValueError(f"{at}: the synthetic world sets its query counts in options (n_train_queries, "
                             "n_test_queries), not in train_queries_per_item / test_queries_per_item")
        if self.queries != "offline" and (self.train_queries_per_item, self.test_queries_per_item) != (10, 10):
            raise ValueError(f"{at}: train_queries_per_item / test_queries_per_item apply only to queries = "
                             "\"offline\"; remove them")

    def file_paths(self) -> dict[str, str | None]:
        """files source: the items, interactions and queries files, ``path`` filling the first two."""
        base = Path(self.path) if self.path else None
        return {"items": self.items or (str(base / "items.csv") if base else None),
                "interactions": self.interactions or (str(base / "interactions.csv") if base else None),
                "queries": self.queries_file}


@dataclass
class EmbeddingSpec:
    method: str = field(metadata={"help": "content | search | rec | multitask | fused-concat | fused-svd"})
    inputs: list[str] = field(default_factory=list, metadata={"help": "for fused methods: two embedding names"})
    options: dict[str, Any] = field(default_factory=dict, metadata={"help": "the method's config fields"})


@dataclass
class SchemeSpec:
    name: str = field(metadata={"help": "row label, e.g. 'multi-task'"})
    scheme: str = field(default=DEFAULT_SCHEME, metadata={"help": "a name in semid.ids.schemes.SCHEMES: "
                                                                   "shared | separate | prefix-share"})
    embedding: str | None = field(default=None, metadata={"help": "embedding name (shared)"})
    search: str | None = field(default=None, metadata={"help": "search embedding name (separate/prefix-share)"})
    rec: str | None = field(default=None, metadata={"help": "rec embedding name (separate/prefix-share)"})
    tables: list[str] = field(default_factory=list, metadata={
        "help": "report tables this row appears in: table1/table2 show it with the first quantizer, "
                "table3 shows it with every quantizer"})

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme row {self.name!r}: scheme {self.scheme!r} is not one of {SCHEMES.names()}")
        if self.one_embedding and not self.embedding:
            raise ValueError(f"scheme row {self.name!r}: scheme {self.scheme!r} needs `embedding`")
        if not self.one_embedding and not (self.search and self.rec):
            raise ValueError(f"scheme row {self.name!r}: scheme {self.scheme!r} needs `search` and `rec` embeddings")

    @property
    def one_embedding(self) -> bool:
        """Whether the scheme reads one embedding (``embedding``) rather than ``search`` and ``rec``."""
        return SCHEMES[self.scheme].inputs == ("shared",)

    def embedding_names(self) -> list[str]:
        return [self.embedding] if self.one_embedding else [self.search, self.rec]  # type: ignore[list-item]


@dataclass
class QuantizerSpec:
    method: str = field(default=DEFAULT_QUANTIZER, metadata={"help": "rq-kmeans | rq-vae | rlfq | dict"})
    preset: str | None = field(default=None, metadata={"help": "rq-vae preset: naive | robust"})
    options: dict[str, Any] = field(default_factory=dict, metadata={"help": "extra quantizer options"})
    only_schemes: list[str] = field(default_factory=list, metadata={"help": "restrict to these scheme rows"})
    levels: int | None = field(default=None, metadata={
        "help": "this quantizer's levels, over [ids] (e.g. TIGER's 3 beside the paper's 2); set with codebook_size, "
                "and both are named in its label (rq-kmeans-3x256)"})
    codebook_size: int | None = field(default=None, metadata={
        "help": "this quantizer's codes per level, over [ids]; set with levels"})

    def __post_init__(self) -> None:
        if (self.levels is None) != (self.codebook_size is None):
            raise ValueError(f"quantizer {self.method!r}: set levels and codebook_size together (the label names both), "
                             f"got levels = {self.levels!r}, codebook_size = {self.codebook_size!r}")
        if self.levels is not None and (isinstance(self.levels, bool) or self.levels < 1):
            raise ValueError(f"quantizer {self.method!r}: levels must be >= 1, got {self.levels!r}")
        if self.codebook_size is not None and (isinstance(self.codebook_size, bool) or self.codebook_size < 2):
            raise ValueError(f"quantizer {self.method!r}: codebook_size must be >= 2, got {self.codebook_size!r}")

    @property
    def method_label(self) -> str:
        """The method and preset, e.g. ``rq-vae-robust``."""
        return f"{self.method}-{self.preset}" if self.preset else self.method

    @property
    def label(self) -> str:
        """:attr:`method_label`, with the ID size when this quantizer sets its own (``rq-kmeans-3x256``)."""
        base = self.method_label
        return base if self.levels is None else f"{base}-{self.levels}x{self.codebook_size}"

    def id_options(self, ids: IDOptions) -> IDOptions:
        """``ids`` (the [ids] options, with the dataset's) with this quantizer's levels / codebook size over them."""
        return IDOptions(levels=self.levels or ids.levels, codebook_size=self.codebook_size or ids.codebook_size)


@dataclass
class IDOptions:
    levels: int = field(default=DEFAULT_LEVELS, metadata={"help": "quantizer levels (the paper: 2)"})
    codebook_size: int = field(default=DEFAULT_CODEBOOK_SIZE, metadata={"help": "codes per level (the paper: 256)"})

    def __post_init__(self) -> None:
        if self.levels < 1 or self.codebook_size < 2:
            raise ValueError(f"ids: levels must be >= 1 and codebook_size >= 2, got {self.levels}, {self.codebook_size}")


@dataclass
class EvalOptions:
    k: int = field(default=DEFAULT_K, metadata={"help": "ranked list length"})
    max_examples: int | None = field(default=None, metadata={"help": "seeded sample of test examples per task"})
    sample_seed: int = field(default=0, metadata={"help": "seed of the test sample (same for every variant)"})
    beam_size: int = field(default=DEFAULT_BEAM_SIZE, metadata={"help": "beam width of constrained decoding (the "
                                                                       "same for every variant, whatever its k)"})
    num_groups: int = field(default=1, metadata={"help": "diverse beam search groups (paper: 30 with beam 60)"})
    diversity_penalty: float = field(default=0.0, metadata={"help": "diverse beam search penalty (paper: 0.25)"})

    def __post_init__(self) -> None:
        for name in ("k", "beam_size", "num_groups"):
            if getattr(self, name) < 1:
                raise ValueError(f"evaluate.{name} must be >= 1, got {getattr(self, name)}")
        if self.max_examples is not None and self.max_examples < 1:
            raise ValueError(f"evaluate.max_examples must be >= 1 or absent (every example), got {self.max_examples}")
        if self.beam_size % self.num_groups:
            raise ValueError(f"evaluate.beam_size ({self.beam_size}) must be a multiple of num_groups ({self.num_groups})")
        if self.diversity_penalty < 0:
            raise ValueError(f"evaluate.diversity_penalty must be >= 0, got {self.diversity_penalty}")


@dataclass
class ScaleTestOptions:
    """[scale_test]: read by ``semid study rqvae --config`` only (the runner ignores it). An unset field
    takes the study's own default (its command line, see ``semid study rqvae --help``)."""

    seeds: list[int] | None = field(default=None, metadata={"help": "quantizer seeds of the quantizer-only study"})
    k: int | None = field(default=None, metadata={"help": "list length of the oracle ceilings"})
    paper_n_items: int | None = field(default=None, metadata={
        "help": "catalogue size of the ID-space arithmetic (the paper's 62,138 movies)"})
    zipf_exponent: float | None = field(default=None, metadata={
        "help": "simulated popularity for embedding sets without interactions"})
    options: dict[str, dict[str, Any]] = field(default_factory=dict, metadata={
        "help": "quantizer label (rq-kmeans, rq-vae-naive, ...) -> options over its [[quantizers]] options"})

    def __post_init__(self) -> None:
        for name in ("k", "paper_n_items"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ValueError(f"scale_test.{name} must be >= 1 or absent, got {v}")
        if self.seeds is not None and not self.seeds:
            raise ValueError("scale_test.seeds must not be empty; remove it for the study's default seeds")


@dataclass
class ExperimentConfig:
    name: str = "experiment"
    seeds: list[int] = field(default_factory=lambda: [0])
    embedding_seed: int = 0
    datasets: list[DatasetSpec] = field(default_factory=list)
    embeddings: dict[str, EmbeddingSpec] = field(default_factory=dict)
    schemes: list[SchemeSpec] = field(default_factory=list)
    quantizers: list[QuantizerSpec] = field(default_factory=lambda: [QuantizerSpec()])
    collisions: list[str] = field(default_factory=lambda: [DEFAULT_COLLISIONS])
    ids: IDOptions = field(default_factory=IDOptions)
    train: dict[str, Any] = field(default_factory=dict)
    evaluate: EvalOptions = field(default_factory=EvalOptions)
    dense_baselines: bool = True
    random_baseline: bool = True
    scale_test: ScaleTestOptions = field(default_factory=ScaleTestOptions)

    def __post_init__(self) -> None:
        if not self.datasets:
            raise ValueError("config: at least one [[datasets]] entry is needed")
        if not self.seeds:
            raise ValueError("config: seeds must not be empty")
        names = [d.name for d in self.datasets]
        if len(set(names)) != len(names):
            raise ValueError(f"config: dataset names must be unique, got {names}")
        for c in self.collisions:
            if c not in COLLISION_MODES:
                raise ValueError(f"config: collisions {c!r} is not one of {COLLISION_MODES.names()}")
        for name, spec in self.embeddings.items():
            for inp in spec.inputs:
                if inp not in self.embeddings:
                    raise ValueError(f"embedding {name!r} takes input {inp!r}, which is not defined; defined: {sorted(self.embeddings)}")
        for row in self.schemes:
            for e in row.embedding_names():
                if e not in self.embeddings:
                    raise ValueError(f"scheme row {row.name!r} uses embedding {e!r}, which is not defined; defined: {sorted(self.embeddings)}")
        rows = [r.name for r in self.schemes]
        if len(set(rows)) != len(rows):
            raise ValueError(f"config: scheme row names must be unique, got {rows}")
        for row in self.schemes:
            for t in row.tables:
                if t not in TABLES:
                    raise ValueError(f"scheme row {row.name!r}: tables {t!r} is not one of {list(TABLES)}")
        for q in self.quantizers:
            for r in q.only_schemes:
                if r not in rows:
                    raise ValueError(f"quantizer {q.label!r}: only_schemes {r!r} is not a scheme row; rows: {rows}")
        labels = sorted({q.method_label for q in self.quantizers})
        for label in self.scale_test.options:
            if label not in labels:
                raise ValueError(f"config: scale_test.options.{label} names no quantizer; quantizers: {labels}")
        for d in self.datasets:
            self.ids_for(d)  # unknown keys or bad sizes fail here, not at the first variant

    def ids_for(self, dataset: DatasetSpec) -> IDOptions:
        """The [ids] options with ``dataset.ids`` laid over them."""
        return from_dict(IDOptions, {**to_dict(self.ids), **dataset.ids}, where=f"datasets.{dataset.name}.ids")

    def train_for(self, dataset: DatasetSpec) -> dict[str, Any]:
        """The [train] options with ``dataset.train`` laid over them."""
        return {**self.train, **dataset.train}


def load_experiment_config(path: str, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read a TOML/YAML/JSON experiment config, apply ``a.b=c`` overrides and validate all of it
    (:func:`validate_experiment`) before anything runs."""
    data = load_config_file(path)
    if overrides:
        data = apply_overrides(data, overrides)
    cfg = check_at(str(path), "config", lambda: from_dict(ExperimentConfig, data, where=str(path)))
    validate_experiment(cfg, where=str(path))
    return cfg
