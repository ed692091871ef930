"""Typed result records: one per generative variant and per baseline, in ``RUN/results.json``.

The runner writes them, the report and the studies read them. A record's JSON is its identity
(which variant or baseline), then the scalar metrics its evaluation wrote (open-ended: they
depend on ``k`` and the evaluator), then the facts the runner adds (where its artifacts are, ID
diagnostics, the training budget)::

    {"kind": "generative", "dataset": ..., "row": ..., ..., "seed": 0,      identity
     "search_recall@30": ..., "rec_recall@30": ..., ...,                      metrics
     "collision_rate": ..., ..., "eval_dir": ..., "ids_dir": ..., ...}        facts

:meth:`ResultRecord.from_dict` reads the records of older runs too (some identity or fact keys
absent) and :meth:`ResultRecord.to_dict` writes them back unchanged: a key that was absent stays
absent, and the key order is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from semid.experiment.layout import variant_slug

__all__ = ["ResultRecord", "KINDS", "as_records"]

#: record kinds, in the order ``results.json`` lists them within a dataset
KINDS = ("popularity", "dense", "random", "generative")
# identity keys of each kind, in the order they are written
_IDENTITY = {
    "popularity": ("kind", "dataset"),
    "dense": ("kind", "dataset", "embedding"),
    "random": ("kind", "dataset", "seed", "ids_from"),
    "generative": ("kind", "dataset", "row", "tables", "scheme", "embedding", "quantizer", "collisions", "seed"),
}
# facts the runner adds after the metrics, in the order they are written
_FACTS = {
    "popularity": ("eval_dir",),
    "dense": ("eval_dir",),
    "random": ("eval_dir",),
    "generative": ("collision_rate", "quantizer_collision_rate", "codes_used", "distinct_ids", "max_bucket",
                   "eval_dir", "ids_dir", "model_dir", "epochs", "steps", "n_train_examples"),
}


@dataclass
class ResultRecord:
    """One row of ``results.json`` (module docstring).

    Identity: ``kind`` (popularity | dense | random | generative) and ``dataset``; dense: the
    ``embedding``; random: its ``seed`` and the variant whose IDs it drew from (``ids_from``);
    generative: scheme ``row`` (and the paper ``tables`` it belongs to), ``scheme``, ``embedding``
    (``search+rec`` for two), ``quantizer`` label, ``collisions`` mode and ``seed``.
    ``metrics``: the evaluation's scalar metrics, as written (e.g. ``rec_recall@30``, ``n_rec``).
    Facts: the artifacts' folders (``eval_dir`` for every kind; ``ids_dir``, ``model_dir``), the
    IDs' diagnostics and the training budget (``epochs``, ``steps``, ``n_train_examples``).
    """

    kind: str
    dataset: str
    row: str | None = None
    tables: list[str] | None = None
    scheme: str | None = None
    embedding: str | None = None
    quantizer: str | None = None
    collisions: str | None = None
    seed: int | None = None
    ids_from: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    collision_rate: float | None = None
    quantizer_collision_rate: float | None = None
    codes_used: list[int] | None = None
    distinct_ids: int | None = None
    max_bucket: int | None = None
    eval_dir: str | None = None
    ids_dir: str | None = None
    model_dir: str | None = None
    epochs: float | None = None
    steps: int | None = None
    n_train_examples: int | None = None
    # identity / fact keys of this kind that the record's file lacks (an older run): kept absent
    absent: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"result record of unknown kind {self.kind!r}; the kinds are {list(KINDS)}")

    # ------------------------------------------------------------------ access
    def get(self, key: str, default: Any = None) -> Any:
        """A metric (``"rec_recall@30"``) or any identity / fact key by its JSON name; ``default``
        when the record has none."""
        if key in self.metrics:
            return self.metrics[key]
        if key in _FIELDS and key not in ("metrics", "absent"):
            value = getattr(self, key)
            return default if value is None else value
        return default

    @property
    def slug(self) -> str:
        """A generative record's variant name (its ids / model / eval folder and record file)."""
        return variant_slug(str(self.row), str(self.quantizer), str(self.collisions), int(self.seed or 0))

    @property
    def variant(self) -> tuple[str, str | None, str | None, str | None]:
        """(dataset, row, quantizer, collisions): a generative variant, all seeds together."""
        return (self.dataset, self.row, self.quantizer, self.collisions)

    def name(self) -> str:
        """The record's file name under ``RUN/records/<dataset>/`` (without ``.json``)."""
        if self.kind == "generative":
            return self.slug
        if self.kind == "popularity":
            return "popularity"
        if self.kind == "dense":
            return f"dense-{self.embedding}"
        return f"random-ids__s{self.seed}"

    # ----------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        """The record as ``results.json`` holds it: identity, metrics, facts (module docstring)."""
        out: dict[str, Any] = {k: getattr(self, k) for k in _IDENTITY[self.kind] if k not in self.absent}
        out.update(self.metrics)
        out.update({k: getattr(self, k) for k in _FACTS[self.kind] if k not in self.absent})
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "results.json") -> ResultRecord:
        """A record from its JSON (this or an older semid's); ``where`` names the file in errors."""
        if not isinstance(d, dict):
            raise TypeError(f"{where}: a result record must be a JSON object, got {type(d).__name__}")
        for key in ("kind", "dataset"):
            if key not in d:
                raise ValueError(f"{where}: result record without {key!r}: {_short(d)}; "
                                 "rerun `semid run` to rewrite it")
        kind = d["kind"]
        if kind not in KINDS:
            raise ValueError(f"{where}: result record of unknown kind {kind!r} (the kinds are {list(KINDS)}): "
                             f"{_short(d)}")
        own = set(_IDENTITY[kind]) | set(_FACTS[kind])
        metrics = {k: v for k, v in d.items() if k not in own}
        return cls(**{k: d[k] for k in own if k in d}, metrics=metrics,
                   absent=frozenset(k for k in own if k not in d))

    @classmethod
    def from_parts(cls, identity: dict[str, Any], metrics: dict[str, Any],
                   facts: dict[str, Any] | None = None) -> ResultRecord:
        """A new record: ``identity`` keys, the scalar values of ``metrics`` (lists and dicts
        dropped) and ``facts``. Keys that ``identity`` / ``facts`` do not give are written as null."""
        scalar = {k: v for k, v in metrics.items() if not isinstance(v, list | dict)}
        kind_keys = _IDENTITY.get(identity.get("kind"), ())
        # a metric named like an identity key (generative's training "seed") is that key
        identity = {**identity, **{k: scalar.pop(k) for k in list(scalar) if k in kind_keys}}
        return cls(**identity, **(facts or {}), metrics=scalar)


_FIELDS = {f.name for f in fields(ResultRecord)}


def _short(d: dict[str, Any]) -> str:
    text = repr(d)
    return text if len(text) <= 160 else text[:157] + "..."


def as_records(records: list[ResultRecord | dict[str, Any]], where: str = "results.json") -> list[ResultRecord]:
    """``records`` as :class:`ResultRecord` (dicts, as ``results.json`` holds them, are read)."""
    return [r if isinstance(r, ResultRecord) else ResultRecord.from_dict(r, where) for r in records]
