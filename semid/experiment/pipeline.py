"""The stages of one run, each cached by :class:`~semid.experiment.stages.StageCache` under the
folders of :class:`~semid.experiment.layout.RunLayout`: data, embeddings, baselines, IDs,
frozen-encoder states, model, evaluation. :func:`semid.experiment.runner.run_experiment` drives them.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semid.config import to_dict
from semid.experiment.config import DatasetSpec, ExperimentConfig, QuantizerSpec, SchemeSpec
from semid.experiment.layout import RunLayout, variant_slug
from semid.experiment.records import ResultRecord
from semid.experiment.results import ResultStore
from semid.experiment.stages import StageCache
from semid.io import read_json, write_json

logger = logging.getLogger(__name__)

__all__ = ["Pipeline", "Variant", "plan_variants", "prepare_dataset", "data_stage_spec", "quantizer_stage_spec"]

# DatasetSpec fields (and their defaults) added after runs existed: left out of the data stage's
# key while at their default
_LATER_DATA_FIELDS: dict[str, Any] = {"items": None, "interactions": None, "queries_file": None, "meta": None,
                                      "columns": {}, "item_noun": None, "train_queries_per_item": 10,
                                      "test_queries_per_item": 10, "split": "leave-last-out"}


@dataclass(frozen=True)
class Variant:
    dataset: DatasetSpec
    row: SchemeSpec
    quantizer: QuantizerSpec
    collisions: str
    seed: int

    @property
    def slug(self) -> str:
        return variant_slug(self.row.name, self.quantizer.label, self.collisions, self.seed)


def plan_variants(cfg: ExperimentConfig) -> list[Variant]:
    """Every (dataset, scheme row, quantizer, collisions, seed) the config asks for."""
    out = []
    for ds in cfg.datasets:
        for row in cfg.schemes:
            for q in cfg.quantizers:
                if q.only_schemes and row.name not in q.only_schemes:
                    continue
                for coll in cfg.collisions:
                    for seed in cfg.seeds:
                        out.append(Variant(ds, row, q, coll, seed))
    return out


# ----------------------------------------------------------------- stage bodies
def prepare_dataset(spec: DatasetSpec, show_progress: bool = True):
    """Build the :class:`~semid.data.Dataset` a spec describes."""
    from semid.data.prepare import prepare

    files = spec.file_paths() if spec.source == "files" else {}
    return prepare(
        source=spec.source,
        path=None if spec.source == "files" else spec.path,
        download=spec.download,
        queries=spec.queries,
        min_history=spec.min_history,
        seed=spec.seed,
        synthetic_options=spec.options,
        show_progress=show_progress,
        items_path=files.get("items"),
        interactions_path=files.get("interactions"),
        queries_path=files.get("queries"),
        meta_path=spec.meta,
        columns=spec.columns or None,
        item_noun=spec.item_noun,
        n_train_queries=spec.train_queries_per_item,
        n_test_queries=spec.test_queries_per_item,
    )


def data_stage_spec(spec: DatasetSpec) -> dict[str, Any]:
    """What the data stage's key hashes: the dataset spec without the per-dataset train/ids
    overrides (they belong to later stages); fields added with the files/amazon sources count only
    when set, so that runs made before them keep their keys (and their prepared data)."""
    return {k: v for k, v in to_dict(spec).items() if k not in ("train", "ids")
            and not (k in _LATER_DATA_FIELDS and v == _LATER_DATA_FIELDS[k])}


def quantizer_stage_spec(q: QuantizerSpec) -> dict[str, Any]:
    """A quantizer spec as the IDs stage's key hashes it: levels / codebook_size only when set, so that
    runs made before those fields existed keep their keys (the sizes are in the key's "ids" anyway)."""
    return {k: v for k, v in to_dict(q).items() if not (k in ("levels", "codebook_size") and v is None)}


class Pipeline:
    """The stages of ``cfg`` under ``run_dir``; each returns its folder and key, computed once."""

    def __init__(self, cfg: ExperimentConfig, run_dir: str | Path, show_progress: bool = True) -> None:
        self.cfg = cfg
        self.layout = RunLayout(run_dir)
        self.cache = StageCache(self.layout.root)
        self.results = ResultStore(self.layout, cfg)
        self.show_progress = show_progress
        self._datasets: dict[str, Any] = {}
        self._embs: dict[tuple[str, str], tuple[Path, str]] = {}

    def _stage(self, kind: str, name: str, folder: Path, spec: Any, build, resumable: bool = False) -> tuple[Path, str]:
        """:meth:`StageCache.run` of the stage whose folder (a :class:`RunLayout` path) is ``folder``."""
        return self.cache.run(kind, name, self.layout.rel(folder), spec, build, resumable=resumable)

    # ---------------------------------------------------------------- data
    def dataset(self, spec: DatasetSpec):
        if spec.name in self._datasets:
            return self._datasets[spec.name]
        from semid.data import Dataset

        def build(path: Path) -> None:
            prepare_dataset(spec, self.show_progress).save(path)

        path, key = self._stage("data", spec.name, self.layout.data(spec.name), data_stage_spec(spec), build)
        ds = Dataset.load(path)
        self._datasets[spec.name] = (ds, path, key)
        return self._datasets[spec.name]

    # ----------------------------------------------------------- embeddings
    def embedding(self, spec: DatasetSpec, name: str) -> tuple[Path, str]:
        ds, _, data_key = self.dataset(spec)
        if (spec.name, name) in self._embs:
            return self._embs[(spec.name, name)]
        emb_spec = self.cfg.embeddings[name]
        inputs = [self.embedding(spec, inp) for inp in emb_spec.inputs]

        def build(path: Path) -> None:
            from semid.embed import build_embeddings, load_embeddings

            loaded = [load_embeddings(p) for p, _ in inputs]
            emb = build_embeddings(ds, emb_spec.method, dict(emb_spec.options), inputs=loaded or None,
                                   seed=self.cfg.embedding_seed, show_progress=self.show_progress)
            emb.save(path)

        stage_spec = {"data": data_key, "method": emb_spec.method, "options": emb_spec.options,
                      "inputs": [k for _, k in inputs], "seed": self.cfg.embedding_seed}
        path, key = self._stage("embeddings", f"{spec.name}/{name}", self.layout.embeddings(spec.name, name),
                                   stage_spec, build)
        self._embs[(spec.name, name)] = (path, key)
        return path, key

    # ------------------------------------------------------------ baselines
    def dense_baselines(self, spec: DatasetSpec) -> None:
        ds, _, data_key = self.dataset(spec)
        def pop(path: Path) -> None:
            from semid.evaluate.generative import popularity_baseline

            ev = self.cfg.evaluate
            popularity_baseline(ds, k=ev.k, max_examples=ev.max_examples, sample_seed=ev.sample_seed).save(path)

        ev = self.cfg.evaluate
        path, _ = self._stage("baseline", f"{spec.name}/popularity", self.layout.popularity_eval(spec.name),
                                 {"data": data_key, "k": ev.k, "max_examples": ev.max_examples,
                                  "sample_seed": ev.sample_seed, "hits": True}, pop)
        self.record(ResultRecord.from_parts({"kind": "popularity", "dataset": spec.name}, read_json(path / "metrics.json"),
                                            {"eval_dir": str(path)}))
        if not self.cfg.dense_baselines:
            return
        names = sorted({e for row in self.cfg.schemes for e in row.embedding_names()})
        for name in names:
            emb_path, emb_key = self.embedding(spec, name)

            def dense(path: Path, emb_path: Path = emb_path) -> None:
                from semid.embed import load_embeddings
                from semid.evaluate.dense import evaluate_dense

                ev = self.cfg.evaluate
                res = evaluate_dense(ds, load_embeddings(emb_path), k=ev.k, show_progress=self.show_progress,
                                     max_search_queries=ev.max_examples, seed=ev.sample_seed)
                path.mkdir(parents=True, exist_ok=True)
                write_json(path / "metrics.json", res.metrics)

            path, _ = self._stage("dense", f"{spec.name}/{name}", self.layout.dense_eval(spec.name, name),
                                     {"data": data_key, "embedding": emb_key, "eval": to_dict(self.cfg.evaluate)}, dense)
            self.record(ResultRecord.from_parts({"kind": "dense", "dataset": spec.name, "embedding": name},
                                                read_json(path / "metrics.json"), {"eval_dir": str(path)}))

    # ---------------------------------------------------------------- IDs
    def ids(self, v: Variant) -> tuple[Path, str]:
        ds, _, data_key = self.dataset(v.dataset)
        embs = {n: self.embedding(v.dataset, n) for n in v.row.embedding_names()}
        id_opts = v.quantizer.id_options(self.cfg.ids_for(v.dataset))

        def build(path: Path) -> None:
            import numpy as np

            from semid.embed import load_embeddings
            from semid.generative.fingerprint import data_fingerprint
            from semid.ids import build_ids

            if v.row.one_embedding:
                x: Any = load_embeddings(embs[v.row.embedding][0]).vectors
            else:
                x = {"search": load_embeddings(embs[v.row.search][0]).vectors,
                     "rec": load_embeddings(embs[v.row.rec][0]).vectors}
            built = build_ids(x, scheme=v.row.scheme, method=v.quantizer.method, levels=id_opts.levels,
                              codebook_size=id_opts.codebook_size, collisions=v.collisions, seed=v.seed,
                              preset=v.quantizer.preset, popularity=np.asarray(ds.train_counts),
                              show_progress=self.show_progress, **v.quantizer.options)
            built.ids.config["data_fingerprint"] = data_fingerprint(ds)  # a model refuses IDs of other data
            built.save(path)

        spec = {"data": data_key, "embeddings": {n: k for n, (_, k) in embs.items()}, "scheme": v.row.scheme,
                "quantizer": quantizer_stage_spec(v.quantizer), "collisions": v.collisions, "seed": v.seed, "ids": to_dict(id_opts)}
        return self._stage("ids", f"{v.dataset.name}/{v.slug}", self.layout.ids(v.dataset.name, v.slug), spec, build)

    # ------------------------------------------------------- query states
    def query_states(self, spec: DatasetSpec, encoder: str, max_tokens: int, what: str = "query") -> tuple[Path, str]:
        """The frozen-encoder states of the training queries (``what="query"``) or of the item
        texts (``"item"``), once per (dataset, encoder, token limit), shared by every variant and
        seed (the encoder-decoder backend)."""
        ds, _, data_key = self.dataset(spec)

        def build(path: Path) -> None:
            from semid.generative.query_states import encode_states

            texts = ds.queries_for("train")["text"].tolist() if what == "query" else ds.texts
            encode_states(texts, encoder, max_tokens, show_progress=self.show_progress).save(path)

        folder = self.layout.states(spec.name, what, encoder, max_tokens)
        return self._stage(f"{what}-states", f"{spec.name}/{folder.name}", folder,
                              {"data": data_key, "encoder": encoder, "max_tokens": max_tokens}, build)

    # -------------------------------------------------------------- model
    def model(self, v: Variant, ids_path: Path, ids_key: str) -> tuple[Path, str]:
        from semid.config import from_dict
        from semid.generative import TrainConfig

        ds, _, data_key = self.dataset(v.dataset)
        train_opts = self.cfg.train_for(v.dataset)
        train_opts["seed"] = v.seed
        tc = from_dict(TrainConfig, train_opts, where="train")
        states_path, states_key, item_path, item_key = None, None, None, None
        if tc.caches_states:
            states_path, states_key = self.query_states(v.dataset, tc.encoder, tc.max_query_tokens)
            if tc.item_texts:
                item_path, item_key = self.query_states(v.dataset, tc.encoder, tc.max_query_tokens, what="item")

        def build(path: Path) -> dict[str, Any]:
            from semid.generative import train_model
            from semid.ids.types import SemanticIDs

            resumed = _newest_checkpoint_step(path / "checkpoints")
            ids = SemanticIDs.load(ids_path)
            try:
                train_model(ds, ids, tc, path, show_progress=self.show_progress, query_states=states_path,
                            item_states=item_path)
            except FileExistsError as exc:
                # the stage key holds the [train] keys the config sets, train_model's run key every
                # TrainConfig field: a partial model of the same stage key whose run key differs was
                # trained under other TrainConfig defaults (an older semid). Start it afresh.
                logger.warning("%s; training it afresh", exc)
                shutil.rmtree(path)
                resumed = 0
                train_model(ds, ids, tc, path, show_progress=self.show_progress, query_states=states_path,
                            item_states=item_path)
            done = read_json(path / "config.json")
            return {"resumed_from_step": resumed, "steps": done.get("steps")}

        spec = {"data": data_key, "ids": ids_key, "train": train_opts}
        if states_key is not None:
            spec["query_states"] = states_key
        if item_key is not None:
            spec["item_states"] = item_key
        return self._stage("model", f"{v.dataset.name}/{v.slug}", self.layout.model(v.dataset.name, v.slug), spec, build,
                              resumable=True)

    def evaluate(self, v: Variant, model_path: Path, model_key: str) -> tuple[Path, dict[str, Any]]:
        ds, _, data_key = self.dataset(v.dataset)
        ev = self.cfg.evaluate

        def build(path: Path) -> None:
            from semid.evaluate.generative import evaluate_generative

            res = evaluate_generative(model_path, ds, k=ev.k, max_examples=ev.max_examples, sample_seed=ev.sample_seed,
                                      beam=ev.beam_size, num_groups=ev.num_groups,
                                      diversity_penalty=ev.diversity_penalty, show_progress=self.show_progress)
            res.save(path)

        path, _ = self._stage("eval", f"{v.dataset.name}/{v.slug}", self.layout.eval(v.dataset.name, v.slug),
                                 {"data": data_key, "model": model_key, "eval": to_dict(ev)}, build)
        return path, read_json(path / "metrics.json")

    def random_baseline(self, v: Variant, ids_path: Path, ids_key: str) -> None:
        ds, _, data_key = self.dataset(v.dataset)
        ev = self.cfg.evaluate

        def build(path: Path) -> None:
            from semid.evaluate.generative import random_id_baseline
            from semid.ids.types import SemanticIDs

            res = random_id_baseline(ds, SemanticIDs.load(ids_path), k=ev.k, seed=v.seed,
                                     max_examples=ev.max_examples, sample_seed=ev.sample_seed)
            res.save(path)

        path, _ = self._stage("baseline", f"{v.dataset.name}/random-s{v.seed}", self.layout.random_eval(v.dataset.name, v.seed),
                                 {"data": data_key, "ids": ids_key, "eval": to_dict(ev), "seed": v.seed}, build)
        self.record(ResultRecord.from_parts({"kind": "random", "dataset": v.dataset.name, "seed": v.seed, "ids_from": v.slug},
                                            read_json(path / "metrics.json"), {"eval_dir": str(path)}))

    # ------------------------------------------------------------- results
    def record(self, rec: ResultRecord) -> None:
        """Add ``rec`` to the run's results (its own file, then ``results.json``)."""
        self.results.add(rec)

    @staticmethod
    def generative_record(v: Variant, metrics: dict[str, Any], eval_path: Path, ids_path: Path,
                          model_path: Path) -> ResultRecord:
        """The record of a trained and evaluated variant: its metrics, its IDs' diagnostics, where
        its artifacts are and its training budget (stated in the report)."""
        diag = read_json(ids_path / "diagnostics.json")
        trained = read_json(model_path / "config.json")
        identity = {"kind": "generative", "dataset": v.dataset.name, "row": v.row.name, "tables": v.row.tables,
                    "scheme": v.row.scheme, "embedding": v.row.embedding or f"{v.row.search}+{v.row.rec}",
                    "quantizer": v.quantizer.label, "collisions": v.collisions, "seed": v.seed}
        facts = {"collision_rate": diag.get("collision_rate"),
                 "quantizer_collision_rate": diag.get("quantizer_collision_rate"),
                 "codes_used": list((diag.get("codes_used") or {}).values()), "distinct_ids": diag.get("distinct_ids"),
                 "max_bucket": diag.get("max_bucket"), "eval_dir": str(eval_path), "ids_dir": str(ids_path),
                 "model_dir": str(model_path), "epochs": trained.get("train_config", {}).get("epochs"),
                 "steps": trained.get("steps"), "n_train_examples": trained.get("n_train_examples")}
        return ResultRecord.from_parts(identity, metrics, facts)


def _newest_checkpoint_step(ckpt_dir: Path) -> int:
    """The step of the newest ``step-N.pt`` in ``ckpt_dir`` (0: none, training starts afresh)."""
    steps = [int(p.stem.split("-", 1)[1]) for p in ckpt_dir.glob("step-*.pt") if p.stem.split("-", 1)[1].isdigit()]
    return max(steps, default=0)


