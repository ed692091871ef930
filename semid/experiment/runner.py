"""The pipeline over a grid of configs, with stage caching (DESIGN.md "Data flow").

``run_experiment(cfg, run_dir)`` builds, per dataset::

    RUN/<dataset>/data/                                  prepared dataset
    RUN/<dataset>/embeddings/<name>/                     one per embedding source
    RUN/<dataset>/eval/dense-<name>/                     dense baseline of each embedding
    RUN/<dataset>/query-states/<encoder>-<tokens>/      frozen-encoder states of the training queries
    RUN/<dataset>/item-states/<encoder>-<tokens>/       ... and of the item texts
    RUN/<dataset>/ids/<row>__<quantizer>__<coll>__s<seed>/
    RUN/<dataset>/model/<same>/                          the joint generative model
    RUN/<dataset>/eval/<same>/                           metrics.json + per-example hits
    RUN/records/<dataset>/<same or baseline>.json        one record per variant and baseline
    RUN/results.json                                     every record under RUN/records/
    RUN/config.resolved.json, RUN/timings.json

Each stage folder above is a symlink to ``<folder>@<key8>``, the folder named by its key;
a stage is reused when its key (config + input keys) is unchanged and its files are intact,
and model training resumes from its newest checkpoint; see stages.py.

Each record is its own file (written atomically), and ``results.json`` is rebuilt from all of
them under a lock after every record, so runs that share one RUN (one process per seed or per
dataset) end with every record of each; a record is replaced only by a newer run of the same
variant. Delete ``RUN/records/<dataset>/<name>.json`` to drop a variant from the results.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock
from tqdm.auto import tqdm

from semid.config import to_dict
from semid.experiment.config import (
    DatasetSpec,
    ExperimentConfig,
    QuantizerSpec,
    SchemeSpec,
    validate_experiment,
)
from semid.experiment.stages import StageCache
from semid.io import read_json, write_json

logger = logging.getLogger(__name__)

__all__ = ["run_experiment", "Variant", "plan_variants", "record_name", "collect_records"]

KIND_ORDER = {"popularity": 0, "dense": 1, "random": 2, "generative": 3}
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
        return f"{self.row.name}__{self.quantizer.label}__{self.collisions}__s{self.seed}"


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


class _Runner:
    def __init__(self, cfg: ExperimentConfig, run_dir: Path, show_progress: bool) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        self.cache = StageCache(run_dir)
        self.show_progress = show_progress
        self.results_path = run_dir / "results.json"
        self._datasets: dict[str, Any] = {}
        self._embs: dict[tuple[str, str], tuple[Path, str]] = {}
        with FileLock(str(run_dir / ".results.lock")):
            adopt_legacy_results(run_dir)

    # ---------------------------------------------------------------- data
    def dataset(self, spec: DatasetSpec):
        if spec.name in self._datasets:
            return self._datasets[spec.name]
        from semid.data import Dataset

        def build(path: Path) -> None:
            prepare_dataset(spec, self.show_progress).save(path)

        path, key = self.cache.run("data", spec.name, f"{spec.name}/data", data_stage_spec(spec), build)
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
        path, key = self.cache.run("embeddings", f"{spec.name}/{name}", f"{spec.name}/embeddings/{name}", stage_spec, build)
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
        path, _ = self.cache.run("baseline", f"{spec.name}/popularity", f"{spec.name}/eval/popularity",
                                 {"data": data_key, "k": ev.k, "max_examples": ev.max_examples,
                                  "sample_seed": ev.sample_seed, "hits": True}, pop)
        self.record({"kind": "popularity", "dataset": spec.name}, read_json(path / "metrics.json"),
                     {"eval_dir": str(path)})
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

            path, _ = self.cache.run("dense", f"{spec.name}/{name}", f"{spec.name}/eval/dense-{name}",
                                     {"data": data_key, "embedding": emb_key, "eval": to_dict(self.cfg.evaluate)}, dense)
            self.record({"kind": "dense", "dataset": spec.name, "embedding": name}, read_json(path / "metrics.json"),
                        {"eval_dir": str(path)})

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

            if v.row.scheme == "shared":
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
        return self.cache.run("ids", f"{v.dataset.name}/{v.slug}", f"{v.dataset.name}/ids/{v.slug}", spec, build)

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

        slug = f"{Path(encoder).name}-{max_tokens}"
        return self.cache.run(f"{what}-states", f"{spec.name}/{slug}", f"{spec.name}/{what}-states/{slug}",
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
        return self.cache.run("model", f"{v.dataset.name}/{v.slug}", f"{v.dataset.name}/model/{v.slug}", spec, build,
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

        path, _ = self.cache.run("eval", f"{v.dataset.name}/{v.slug}", f"{v.dataset.name}/eval/{v.slug}",
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

        path, _ = self.cache.run("baseline", f"{v.dataset.name}/random-s{v.seed}", f"{v.dataset.name}/eval/random-ids__s{v.seed}",
                                 {"data": data_key, "ids": ids_key, "eval": to_dict(ev), "seed": v.seed}, build)
        self.record({"kind": "random", "dataset": v.dataset.name, "seed": v.seed, "ids_from": v.slug},
                     read_json(path / "metrics.json"), {"eval_dir": str(path)})

    # ------------------------------------------------------------- results
    def record(self, keys: dict[str, Any], metrics: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
        """Write the record with these ``keys`` (scalar metrics plus ``extra``, kept as given) to its
        own file, replacing an earlier one of the same variant, then rebuild ``results.json``."""
        rec = dict(keys)
        rec.update({k: v for k, v in metrics.items() if not isinstance(v, list | dict)})
        rec.update(extra or {})
        write_json(self.run_dir / "records" / rec["dataset"] / f"{record_name(rec)}.json", rec)
        self.write_results()

    def write_results(self) -> None:
        """``results.json`` from every record file, under a lock shared by all runs into this RUN."""
        with FileLock(str(self.run_dir / ".results.lock")):
            records = collect_records(self.run_dir, self.cfg)
            write_json(self.results_path, {"name": self.cfg.name, "default_quantizer": self.cfg.quantizers[0].label,
                                           "records": records})


def _newest_checkpoint_step(ckpt_dir: Path) -> int:
    """The step of the newest ``step-N.pt`` in ``ckpt_dir`` (0: none, training starts afresh)."""
    steps = [int(p.stem.split("-", 1)[1]) for p in ckpt_dir.glob("step-*.pt") if p.stem.split("-", 1)[1].isdigit()]
    return max(steps, default=0)


def record_name(rec: dict[str, Any]) -> str:
    """The file name (without .json) of a record under ``RUN/records/<dataset>/``."""
    kind = rec.get("kind")
    if kind == "generative":
        q = rec["quantizer"]
        return f"{rec['row']}__{q}__{rec['collisions']}__s{rec['seed']}"
    if kind == "popularity":
        return "popularity"
    if kind == "dense":
        return f"dense-{rec['embedding']}"
    if kind == "random":
        return f"random-ids__s{rec['seed']}"
    raise ValueError(f"record of unknown kind {kind!r}: {rec}")


def adopt_legacy_results(run_dir: Path) -> None:
    """A run directory made before records had their own files keeps them in ``results.json``
    only: write them out as record files (once), so that none is lost."""
    rec_dir = run_dir / "records"
    legacy = run_dir / "results.json"
    if not rec_dir.exists() and legacy.exists():
        for rec in read_json(legacy).get("records", []):
            write_json(rec_dir / rec["dataset"] / f"{record_name(rec)}.json", rec)
        rec_dir.mkdir(exist_ok=True)  # also when results.json held no record: adopted once


def collect_records(run_dir: Path, cfg: ExperimentConfig | None = None) -> list[dict[str, Any]]:
    """Every record under ``run_dir/records/``, in the config's order (dataset, baselines, then
    the variants as :func:`plan_variants` lists them); records the config does not name come last."""
    rec_dir = run_dir / "records"
    records = [read_json(p) for p in sorted(rec_dir.glob("*/*.json"))] if rec_dir.exists() else []
    if cfg is None:
        return records
    pos = {
        "dataset": {d.name: i for i, d in enumerate(cfg.datasets)},
        "row": {r.name: i for i, r in enumerate(cfg.schemes)},
        "quantizer": {q.label: i for i, q in enumerate(cfg.quantizers)},
        "collisions": {c: i for i, c in enumerate(cfg.collisions)},
    }

    def order(r: dict[str, Any]) -> tuple:
        def at(field: str) -> tuple[int, str]:
            value = r.get(field)
            return (pos[field].get(value, len(pos[field])), str(value))
        return (at("dataset"), KIND_ORDER.get(r.get("kind"), 9), at("row"), at("quantizer"), at("collisions"),
                r.get("seed", 0), str(r.get("embedding", "")))

    return sorted(records, key=order)


def run_experiment(cfg: ExperimentConfig, run_dir: str | Path, show_progress: bool = True) -> Path:
    """Run (or resume) every stage of ``cfg`` under ``run_dir``; returns ``run_dir/results.json``."""
    validate_experiment(cfg)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.resolved.json", to_dict(cfg))
    r = _Runner(cfg, run_dir, show_progress)
    variants = plan_variants(cfg)
    t_start = time.perf_counter()
    total = len(cfg.datasets) + len(variants)
    bar = tqdm(total=total, desc=f"semid run {cfg.name}", unit="step", disable=not show_progress, position=0)
    random_done: set[tuple[str, int]] = set()
    for spec in cfg.datasets:
        bar.set_postfix_str(f"{spec.name}: data, embeddings, baselines")
        r.dataset(spec)
        r.dense_baselines(spec)
        bar.update(1)
    for i, v in enumerate(variants, 1):
        bar.set_postfix_str(f"[{i}/{len(variants)}] {v.dataset.name}/{v.slug}")
        logger.info("variant %d/%d: %s/%s", i, len(variants), v.dataset.name, v.slug)
        ids_path, ids_key = r.ids(v)
        if cfg.random_baseline and (v.dataset.name, v.seed) not in random_done:
            r.random_baseline(v, ids_path, ids_key)
            random_done.add((v.dataset.name, v.seed))
        model_path, model_key = r.model(v, ids_path, ids_key)
        eval_path, metrics = r.evaluate(v, model_path, model_key)
        diag = read_json(ids_path / "diagnostics.json")
        trained = read_json(model_path / "config.json")
        keys = {"kind": "generative", "dataset": v.dataset.name, "row": v.row.name, "tables": v.row.tables,
                "scheme": v.row.scheme, "embedding": v.row.embedding or f"{v.row.search}+{v.row.rec}",
                "quantizer": v.quantizer.label, "collisions": v.collisions, "seed": v.seed}
        extra = {"collision_rate": diag.get("collision_rate"), "quantizer_collision_rate": diag.get("quantizer_collision_rate"),
                 "codes_used": list((diag.get("codes_used") or {}).values()), "distinct_ids": diag.get("distinct_ids"),
                 "max_bucket": diag.get("max_bucket"), "eval_dir": str(eval_path), "ids_dir": str(ids_path),
                 "model_dir": str(model_path),
                 # the training budget, stated in the report
                 "epochs": trained.get("train_config", {}).get("epochs"), "steps": trained.get("steps"),
                 "n_train_examples": trained.get("n_train_examples")}
        r.record(keys, metrics, extra)
        bar.update(1)
    bar.close()
    timings = [vars(s) for s in r.cache.records]
    write_json(run_dir / "timings.json", {"total_seconds": time.perf_counter() - t_start, "stages": timings})
    return r.results_path
