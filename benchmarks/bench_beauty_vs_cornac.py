"""semid's generative rec beside cornac's TIGER and popularity on Amazon Beauty, in one run, on one
split, scored by one metric code (issue #12, point 5).

- Data: ``../shared/data/amazon-beauty`` read with semid's own file readers (string ASINs as they
  are) and split by semid's leave-last-out (:func:`semid.data.splits.make_dataset`: per user the
  last item is the test target, the one before it validation, the rest training). No queries are
  generated: every model here is a recommender (semid's model is trained on the rec task only).
- Every model trains on the training items only (cornac: each user's ``seq[:-2]`` as one
  session, the protocol of ``NextItemEvaluation.leave_last_out``; semid: ``rec_pairs`` over the
  same histories) and is asked, for every test user, for the top ``k`` items of the whole catalogue
  given the train + validation history. Neither model uses the validation item for checkpoint
  selection (cornac ``model_selection="last"``; semid has none).
- Both generative models read the same item content: all-MiniLM-L6-v2 (offline) embeddings of
  the item titles, computed once (its time is reported on its own line, and counted in neither).
  semid: RQ-KMeans 2 x 256 + collision suffix, the default encoder-decoder backend (a small ID
  decoder; rec only, so the frozen text encoder is never run). cornac TIGER: its residual k-means
  tokenizer (GRID's recipe: 3 x 256 + a disambiguation level) and its T5-style 4 + 4 layer
  seq2seq at the constructor's architecture, with GRID's optimiser settings.
- Scores: ranks from semid.evaluate.metrics (``hit_ranks``, ``recall_at``, ``ndcg_at``):
  Recall@5/10/30 and NDCG@5/10 over the full catalogue; seen items are not filtered (as in every
  semid evaluation and in cornac's ``leave_last_out``). A paired t-test over the test users
  compares semid with each cornac model (scipy ``ttest_rel`` on per-user hits).
- Wall time per model: training (for semid also the RQ-KMeans IDs; cornac's fit includes its
  tokenizer) plus inference over every test user, on this machine with ``--threads`` torch
  threads. By default each cornac model may train as long as semid's IDs + training took
  (``--cornac-budget semid``; :func:`training_budget`), so the rows compare at equal training time.

    OMP_NUM_THREADS=2 python benchmarks/bench_beauty_vs_cornac.py --threads 2 --semid-epochs 4

    # a quick check on 2,000 users (their items form the catalogue)
    python benchmarks/bench_beauty_vs_cornac.py --max-users 2000 --semid-epochs 1 --cornac-budget 120 --out /tmp/bvc

Needs the optional ``bench`` extra (``pip install "semid[bench]"``: cornac). Writes
``benchmarks/results/beauty_vs_cornac.md`` and ``.json`` (or ``--out DIR/beauty_vs_cornac.*``);
work files (title embeddings, IDs, the semid model) go to ``--work`` (default runs/bench-beauty-cornac).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger("bench_beauty_vs_cornac")

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
WORK = ROOT / "runs" / "bench-beauty-cornac"
ENCODER = "all-MiniLM-L6-v2"
RECALL_KS = (5, 10, 30)
NDCG_KS = (5, 10)
METRICS = ("recall@5", "ndcg@5", "recall@10", "ndcg@10", "recall@30")
# ../shared/data/README.md: the published figures on this data (leave-last-out, full catalogue)
PUBLISHED = [
    {"model": "TIGER (Rajput et al., NeurIPS 2023)", "recall@5": 0.0454, "ndcg@5": 0.0321,
     "recall@10": 0.0648, "ndcg@10": 0.0384},
    {"model": "cornac TIGER, defaults (cornac 3 README)", "recall@5": 0.0217, "ndcg@5": 0.0132,
     "recall@10": 0.0386, "ndcg@10": 0.0186, "train_s": 8072},
    {"model": "cornac TIGER, PAISCHER_CONFIG (cornac 3 README)", "recall@5": 0.0419, "ndcg@5": 0.0270,
     "recall@10": 0.0634, "ndcg@10": 0.0338, "train_s": 4341},
    {"model": "cornac SASRec, tuned (cornac 3 README)", "recall@5": 0.0508, "ndcg@5": 0.0348,
     "recall@10": 0.0740, "ndcg@10": 0.0423, "train_s": 2455},
]
CORNAC_MODELS = ("tiger", "sasrec")
CORNAC_NAMES = {"tiger": "cornac TIGER", "sasrec": "cornac SASRec"}
SEMID = "semid generative (rec)"


# ----------------------------------------------------------------------------- data
def cut_users(interactions: pd.DataFrame, max_users: int | None) -> pd.DataFrame:
    """The interactions of the first ``max_users`` users in file order (all users when None)."""
    if max_users is None:
        return interactions
    if max_users < 1:
        raise ValueError(f"--max-users must be >= 1, got {max_users}")
    keep = pd.unique(interactions["user_id"])[:max_users]
    return interactions[interactions["user_id"].isin(keep)].reset_index(drop=True)


def load_beauty(path: str | os.PathLike, max_users: int | None = None, min_history: int = 1):
    """Beauty as a semid :class:`~semid.data.schema.Dataset` (no queries), split leave-last-out.

    path: a directory with ``items.csv`` (item_id, title) and ``interactions.csv`` (user_id,
    item_id, timestamp), read by semid's ``--source files`` readers. With ``max_users`` the
    catalogue is cut to the items those users touched.
    """
    from semid.data.files import read_items, read_table
    from semid.data.schema import validate_interactions, validate_items
    from semid.data.splits import make_dataset

    path = Path(path)
    items_path, inter_path = path / "items.csv", path / "interactions.csv"
    for p in (items_path, inter_path):
        if not p.is_file():
            raise FileNotFoundError(f"{p} does not exist; --data must be the amazon-beauty directory "
                                    f"(items.csv + interactions.csv), e.g. ../shared/data/amazon-beauty")
    items = validate_items(read_items(items_path, "product"), str(items_path))
    inter = cut_users(read_table(inter_path), max_users)
    if max_users is not None:
        items = items[items["item_id"].isin(set(inter["item_id"].tolist()))].reset_index(drop=True)
    inter = validate_interactions(inter, items["item_id"], str(inter_path))
    queries = pd.DataFrame({"item_id": pd.Series([], dtype=items["item_id"].dtype),
                            "text": pd.Series([], dtype=object), "split": pd.Series([], dtype=object)})
    meta = {"source": "files", "items": str(items_path), "interactions": str(inter_path), "max_users": max_users}
    return make_dataset(items, inter, queries, meta=meta, min_history=min_history)


def cornac_sessions(ds) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """USIT tuples (user, session, item, timestamp) for cornac, one session per user (session = user):
    train = the training items, val = train + the validation item, test = every item (cornac's
    ``leave_last_out`` layout). Items are the catalogue's own ids (strings or ints, as in ``ds``)."""
    df = ds.interactions
    order = np.lexsort((df.index.to_numpy(), df["timestamp"].to_numpy(), df["user_id"].to_numpy()))
    df = df.iloc[order]
    rows = list(zip(df["user_id"].astype(str), df["item_id"].tolist(), df["timestamp"].tolist(), df["split"].tolist(),
                    strict=True))
    train = [(u, u, i, t) for u, i, t, s in rows if s == "train"]
    val = [(u, u, i, t) for u, i, t, s in rows if s in ("train", "valid")]
    test = [(u, u, i, t) for u, i, t, _ in rows]
    return train, val, test


def top_k_from_scores(scores: np.ndarray, k: int) -> np.ndarray:
    """int64 (k,): indices of the ``k`` highest scores, best first (ties by index)."""
    scores = np.asarray(scores)
    k = min(k, len(scores))
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    return part[np.lexsort((part, -scores[part]))].astype(np.int64)


def rank_metrics(ranks: np.ndarray) -> dict[str, float]:
    """Mean Recall@5/10/30 and NDCG@5/10 from 0-based ranks (-1: not in the list), with
    semid.evaluate.metrics' recall_at / ndcg_at (one relevant item per user)."""
    from semid.evaluate.metrics import ndcg_at, recall_at

    ranks = np.asarray(ranks)
    if len(ranks) == 0:
        raise ValueError("no test users to score")
    out = {f"recall@{k}": float(recall_at(ranks, k).mean()) for k in RECALL_KS}
    out.update({f"ndcg@{k}": float(ndcg_at(ranks, k).mean()) for k in NDCG_KS})
    out["n_users"] = int(len(ranks))
    return out


def test_examples(ds, max_examples: int | None = None, sample_seed: int = 0) -> dict[str, Any]:
    """semid's own rec test examples (users, targets, train + valid histories), sampled as
    :func:`semid.evaluate.generative.evaluate_generative` samples them."""
    from semid.evaluate.generative import eval_examples

    return eval_examples(ds, max_examples, sample_seed)["rec"]


# ----------------------------------------------------------------------------- models
def title_embeddings(ds, data: str | os.PathLike, work: Path) -> tuple[np.ndarray, float]:
    """float32 (n_items, 384): MiniLM embeddings of the item texts, in ``ds`` item order, and the
    seconds spent encoding (0 when cached).

    The whole catalogue of ``data`` is encoded once and cached in ``work`` (keyed by a hash of its
    texts), so that a ``--max-users`` cut reuses the rows of its items.
    """
    import hashlib

    from semid.data.files import read_items
    from semid.data.schema import validate_items
    from semid.embed.sentence import encode_texts, load_sentence_model
    from semid.io import save_npy

    items_path = Path(data) / "items.csv"
    full = validate_items(read_items(items_path, "product"), str(items_path))
    key = hashlib.sha256("\n".join(full["text"].tolist()).encode()).hexdigest()[:12]
    cache = work / f"titles-{ENCODER}-{key}.npy"
    dt = 0.0
    if cache.exists():
        x = np.load(cache)
    else:
        t0 = time.perf_counter()
        x = encode_texts(load_sentence_model(ENCODER, device="cpu"), full["text"].tolist(), batch_size=128,
                         show_progress=True)
        dt = time.perf_counter() - t0
        work.mkdir(parents=True, exist_ok=True)
        save_npy(cache, x)
    rows = pd.Index(full["item_id"]).get_indexer(ds.items["item_id"])
    if (rows < 0).any() or full["text"].to_numpy()[rows].tolist() != ds.texts:
        raise RuntimeError(f"the dataset's items differ from {items_path}'s")
    return x[rows], dt


def run_popularity(ds, ex: dict[str, Any], k: int) -> dict[str, Any]:
    from semid.evaluate.baselines import popularity_order
    from semid.evaluate.metrics import hit_ranks

    t0 = time.perf_counter()
    top = popularity_order(ds)[:k]
    ranks = hit_ranks([top] * len(ex["targets"]), ex["targets"])
    return {"ranks": ranks, "train_s": 0.0, "infer_s": time.perf_counter() - t0,
            "settings": "items by training count"}


def run_semid(ds, x: np.ndarray, ex: dict[str, Any], work: Path, args) -> dict[str, Any]:
    """RQ-KMeans 2x256 + suffix on the title embeddings, then the encoder-decoder on the rec task."""
    import shutil

    from semid.evaluate.generative import evaluate_generative
    from semid.generative import TrainConfig, load_model, train_model
    from semid.ids import build_ids

    t0 = time.perf_counter()
    built = build_ids(x, scheme="shared", method="rq-kmeans", levels=2, codebook_size=args.codebook,
                      collisions="suffix", seed=args.seed, popularity=np.asarray(ds.train_counts, dtype=np.float64),
                      show_progress=False)
    ids_dir = work / "semid-ids"
    built.save(ids_dir)
    cfg = TrainConfig(backend="encoder-decoder", tasks=["rec"], epochs=args.semid_epochs, lr=args.semid_lr,
                      batch_size=args.semid_batch, max_history=args.max_history, dropout=0.0, seed=args.seed)
    model_dir = work / "semid-model"
    if model_dir.exists():  # a fresh model every run: the wall time must include training
        shutil.rmtree(model_dir)
    train_model(ds, ids_dir, cfg, model_dir, show_progress=True)
    t1 = time.perf_counter()
    retriever = load_model(model_dir)
    if args.max_test_users is None:
        res = evaluate_generative(retriever, ds, k=args.k, beam=args.beam, tasks=("rec",), batch_size=256)
    else:
        res = evaluate_generative(retriever, ds, k=args.k, beam=args.beam, tasks=("rec",), batch_size=256,
                                  max_examples=args.max_test_users, sample_seed=args.seed)
    t2 = time.perf_counter()
    hits = res.hits[res.hits["task"] == "rec"]
    if not np.array_equal(hits["target"].to_numpy(), ex["targets"]):
        raise RuntimeError("semid's evaluation scored other test users than the other models")
    ranks = hits["rank"].to_numpy().astype(np.int64)  # 0-based, -1 outside the top k (semid's hit_ranks)
    distinct = int(len(np.unique(built.ids.codes[:, :2], axis=0)))
    every = None
    if args.max_test_users is not None:  # semid is cheap to score: also every test user, beside the sample
        t3 = time.perf_counter()
        full = evaluate_generative(retriever, ds, k=args.k, beam=args.beam, tasks=("rec",), batch_size=256)
        every = {"ranks": full.hits["rank"].to_numpy().astype(np.int64), "infer_s": time.perf_counter() - t3}
    return {"ranks": ranks, "train_s": t1 - t0, "infer_s": t2 - t1, "every_user": every,
            "settings": (f"RQ-KMeans 2x{args.codebook} + suffix ({distinct} distinct 2-level IDs), encoder-decoder "
                         f"(d_model {cfg.d_model}, {cfg.decoder_layers} decoder block), rec only, {args.semid_epochs:g} "
                         f"epochs, lr {cfg.lr:g}, batch {cfg.batch_size}, history {cfg.max_history}, beam {args.beam}")}


def cornac_model(name: str, args, n_items: int):
    """A cornac next-item model with this benchmark's settings (see the module docstring)."""
    import cornac.models as cm

    if name == "tiger":
        from cornac.models.tiger import GRID_CONFIG

        cfg = {**GRID_CONFIG, "n_epochs": args.tiger_epochs, "model_selection": "last", "n_beams": args.beam,
               "max_len": args.max_history, "seed": args.seed, "device": "cpu", "verbose": True,
               "rqvae_codebook_size": min(args.codebook, n_items)}
        return cm.TIGER(**cfg), cfg
    if name == "sasrec":
        cfg = {"n_epochs": args.sasrec_epochs, "max_len": args.max_history, "seed": args.seed, "device": "cpu",
               "verbose": True}
        return cm.SASRec(**cfg), cfg
    raise ValueError(f"unknown cornac model {name!r}; choose from {list(CORNAC_MODELS)}")


def cornac_method(ds, x: np.ndarray, seed: int = 0):
    """cornac's ``NextItemEvaluation`` over this split (:func:`cornac_sessions`), the title
    embeddings attached as ``item_feature``, and the index maps: ``to_semid`` int64 (n_items,)
    cornac index -> semid item index, ``to_cornac`` its inverse."""
    from cornac.data import FeatureModality
    from cornac.eval_methods import NextItemEvaluation

    train, val, test = cornac_sessions(ds)
    method = NextItemEvaluation.from_splits(train_data=train, test_data=test, val_data=val, fmt="USIT",
                                            exclude_unknowns=False, seed=seed, mode="last",
                                            item_feature=FeatureModality(features=x, ids=ds.items["item_id"].tolist()))
    iid_map = method.train_set.iid_map  # catalogue id -> cornac index
    if len(iid_map) != ds.n_items:
        raise RuntimeError(f"cornac knows {len(iid_map)} items, the catalogue has {ds.n_items}: every catalogue "
                           f"item needs an interaction")
    to_semid = np.empty(len(iid_map), dtype=np.int64)
    pos = ds.item_index
    for raw, c in iid_map.items():
        to_semid[c] = pos[raw]
    return method, to_semid, np.argsort(to_semid)


@contextlib.contextmanager
def training_budget(module, seconds: float | None):
    """Stop a cornac model's training once ``seconds`` of wall time have passed (None: no limit).

    cornac trains whole epochs and has no step or time limit, so this wraps the batch iterator
    that ``module`` (``cornac.models.tiger.recom_tiger`` or ``...sasrec.recom_sasrec``) imported:
    past the deadline it yields no more batches, so the running epoch ends early and the later
    epochs are empty. Nothing else of cornac changes (GRID's recipe has a constant learning rate,
    so no schedule is cut short). Yields a dict with ``batches`` (trained) and ``stopped``.
    """
    state = {"batches": 0, "stopped": False}
    if seconds is None:
        yield state
        return
    orig = module.session_seq_iter
    deadline = time.perf_counter() + seconds

    def limited(*a, **kw):
        for batch in orig(*a, **kw):
            if time.perf_counter() >= deadline:
                state["stopped"] = True
                return
            state["batches"] += 1
            yield batch

    module.session_seq_iter = limited
    try:
        yield state
    finally:
        module.session_seq_iter = orig


def run_cornac(name: str, ds, x: np.ndarray, ex: dict[str, Any], args, budget_s: float | None = None) -> dict[str, Any]:
    """Fit one cornac model on the training sessions (within ``budget_s`` seconds of training when
    given) and rank the whole catalogue for every test user."""
    import importlib

    from tqdm.auto import tqdm

    from semid.evaluate.metrics import hit_ranks

    method, to_semid, to_cornac = cornac_method(ds, x, args.seed)
    model, cfg = cornac_model(name, args, ds.n_items)
    module = importlib.import_module(f"cornac.models.{name}.recom_{name}")
    t0 = time.perf_counter()
    with training_budget(module, budget_s) as trained:
        model.fit(method.train_set)  # no val_set: no best-on-validation selection (semid has none either)
    t1 = time.perf_counter()
    lists = []
    for u, hist in tqdm(list(zip(ex["example"], ex["inputs"], strict=True)), desc=f"{name} inference"):
        scores = model.score(user_idx=int(u), history_items=to_cornac[np.asarray(hist)].tolist())
        lists.append(to_semid[top_k_from_scores(np.asarray(scores, dtype=np.float64), args.k)])
    t2 = time.perf_counter()
    ranks = hit_ranks(lists, ex["targets"])
    shown = {k: v for k, v in cfg.items() if k not in ("verbose", "device")}
    n_samples = sum(len(h) - 1 for h in ds.user_histories(("train",)).values() if len(h) > 1)
    per_epoch = int(np.ceil(n_samples / model.batch_size))
    done = (f"trained {trained['batches']} batches = {trained['batches'] / per_epoch:.2f} epochs "
            f"({per_epoch} batches per epoch), stopped by the {budget_s:.0f} s budget" if trained["stopped"] else
            f"all {cfg['n_epochs']} epochs trained" + ("" if budget_s is None else f" within the {budget_s:.0f} s budget"))
    return {"ranks": ranks, "train_s": t1 - t0, "infer_s": t2 - t1, "budget_s": budget_s,
            "batches": trained["batches"] if budget_s is not None else None,
            "settings": f"{done}; cornac arguments {json.dumps(shown, sort_keys=True)}"}


# ----------------------------------------------------------------------------- report
def paired_p(a: np.ndarray, b: np.ndarray) -> float | None:
    """Two-sided paired t-test p-value over users (None when the two are identical)."""
    from scipy.stats import ttest_rel

    if np.array_equal(a, b):
        return None
    return float(ttest_rel(a, b).pvalue)


def write_results(res: dict[str, Any], out_dir: Path) -> None:
    from semid.io import atomic_write_bytes, write_json

    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "beauty_vs_cornac.json", res)
    d = res["data"]
    lines = [
        "# Amazon Beauty: semid's generative rec beside cornac's TIGER and popularity (one run, one split)",
        "",
        f"Command: `{res['command']}`",
        "",
        f"Data: {d['path']} read with semid's `--source files` readers, leave-last-out "
        f"({d['n_users']:,} users, {d['n_items']:,} items, {d['n_train']:,} training interactions; "
        f"{d['n_test_users']:,} test users scored). Ranking over the full catalogue, seen items not filtered; "
        f"every figure from semid.evaluate.metrics. Machine: {res['machine']}, {res['threads']} torch thread(s); "
        f"load average at the start {res['load_start']}, at the end {res['load_end']}.",
        "",
        f"Shared input: {ENCODER} embeddings of the item titles, {res['embed_s']:.0f} s "
        f"(0 when cached; counted in no row).",
        "",
        "| model | test users | Recall@5 | NDCG@5 | Recall@10 | NDCG@10 | Recall@30 | train s | inference s | wall s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in res["models"].items():
        m = r["metrics"]
        lines.append(f"| {name} | {m['n_users']:,} | " + " | ".join(f"{m[k]:.4f}" for k in METRICS)
                     + f" | {r['train_s']:.0f} | {r['infer_s']:.0f} | {r['train_s'] + r['infer_s']:.0f} |")
    for p in PUBLISHED:
        cells = " | ".join(f"{p[k]:.4f}" if k in p else "-" for k in METRICS)
        tr = f"{p['train_s']} (their machine)" if "train_s" in p else "-"
        lines.append(f"| {p['model']}: published, not measured | all | {cells} | {tr} | - | - |")
    lines += ["", "Settings:", ""]
    lines += [f"- {name}: {r['settings']}" for name, r in res["models"].items()]
    if res.get("tests"):
        lines += ["", "Paired t-tests over the test users (two-sided, per-user hit / NDCG; no correction):", ""]
        lines += [f"- {t['a']} vs {t['b']}, {t['metric']}: {t['mean_a']:.4f} vs {t['mean_b']:.4f}, p = "
                  + ("n/a" if t["p"] is None else f"{t['p']:.2g}") for t in res["tests"]]
    if res.get("notes"):
        lines += ["", *res["notes"]]
    atomic_write_bytes(out_dir / "beauty_vs_cornac.md", ("\n".join(lines) + "\n").encode())


def parse_cornac(value: str) -> list[tuple[str, float | None]]:
    """--cornac: comma-separated ``model[@factor]`` (e.g. ``tiger,tiger@4,sasrec``); the factor
    multiplies the "semid" training budget for that row (None: --budget-factor)."""
    out = []
    for entry in (e.strip() for e in value.split(",")):
        if not entry:
            continue
        name, _, factor = entry.partition("@")
        if name not in CORNAC_MODELS:
            raise ValueError(f"--cornac: unknown model {name!r} in {value!r}; choose from {list(CORNAC_MODELS)}")
        try:
            f = float(factor) if factor else None
        except ValueError:
            raise ValueError(f"--cornac: {entry!r} needs a number after '@', e.g. tiger@4") from None
        if f is not None and f <= 0:
            raise ValueError(f"--cornac: the factor of {entry!r} must be > 0")
        out.append((name, f))
    return out


def parse_budget(value: str) -> float | None:
    """--cornac-budget: "semid" (semid's training time), "none", or seconds."""
    if value in ("semid", "none"):
        return None if value == "none" else -1.0
    try:
        out = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--cornac-budget must be 'semid', 'none' or seconds, got {value!r}") from None
    if out <= 0:
        raise argparse.ArgumentTypeError(f"--cornac-budget must be > 0 seconds, got {value!r}")
    return out


def summarize(runs: dict[str, dict[str, Any]], ds, ex, args, meta: dict[str, Any]) -> dict[str, Any]:
    """The results dict (``beauty_vs_cornac.json``) of the models run so far."""
    from semid.evaluate.metrics import ndcg_at, recall_at

    for r in runs.values():
        r.setdefault("metrics", rank_metrics(r["ranks"]))
    tests = []
    for name, other in runs.items():
        if not name.startswith("cornac") or SEMID not in runs:
            continue
        for metric, f in (("recall@10", lambda r: recall_at(r, 10)), ("ndcg@10", lambda r: ndcg_at(r, 10))):
            a, b = f(runs[SEMID]["ranks"]), f(other["ranks"])
            tests.append({"a": SEMID, "b": name, "metric": metric, "mean_a": float(a.mean()),
                          "mean_b": float(b.mean()), "p": paired_p(a, b)})
    tr = ds.interactions["split"] == "train"
    return {
        **meta, "load_end": round(os.getloadavg()[0], 1),
        "data": {"path": args.data, "max_users": args.max_users, "n_users": int(ds.interactions["user_id"].nunique()),
                 "n_items": ds.n_items, "n_train": int(tr.sum()), "n_test_users": int(len(ex["targets"]))},
        "models": {k: {kk: vv for kk, vv in v.items() if kk != "ranks"} for k, v in runs.items()},
        "tests": tests, "published": PUBLISHED, "args": vars(args),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="examples:\n  OMP_NUM_THREADS=2 python benchmarks/bench_beauty_vs_cornac.py "
                                        "--threads 2 --semid-epochs 4\n"
                                        "  python benchmarks/bench_beauty_vs_cornac.py --max-users 2000 --semid-epochs 1 "
                                        "--cornac-budget 120 --out /tmp/bvc")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "amazon-beauty"),
                    help="amazon-beauty directory (items.csv, interactions.csv)")
    ap.add_argument("--max-users", type=int, default=None, help="first N users only (a quick check)")
    ap.add_argument("--max-test-users", type=int, default=None,
                    help="score a seeded sample of N test users (semid's evaluation sample); default all")
    ap.add_argument("--cornac", default="tiger", help=f"comma-separated cornac models from {list(CORNAC_MODELS)}, "
                                                     f"each with an optional @FACTOR for its budget (tiger,tiger@4,sasrec)")
    ap.add_argument("--cornac-budget", type=parse_budget, default=-1.0, metavar="semid|none|SECONDS",
                    help="training wall time of each cornac model: 'semid' (default: the time semid's IDs + "
                         "training took, times --budget-factor), 'none' (all its epochs) or seconds")
    ap.add_argument("--budget-factor", type=float, default=1.0, help="multiplies the 'semid' budget")
    ap.add_argument("--semid-epochs", type=float, default=4.0)
    ap.add_argument("--semid-lr", type=float, default=5e-3)
    ap.add_argument("--semid-batch", type=int, default=256)
    ap.add_argument("--tiger-epochs", type=int, default=50, help="cornac TIGER epochs (the cap under a budget)")
    ap.add_argument("--sasrec-epochs", type=int, default=50, help="cornac SASRec epochs (the cap under a budget)")
    ap.add_argument("--codebook", type=int, default=256, help="codes per level (both generative models)")
    ap.add_argument("--max-history", type=int, default=20, help="history items the models read (TIGER's max_len)")
    ap.add_argument("--beam", type=int, default=30, help="beam width of both generative models (>= --k)")
    ap.add_argument("--k", type=int, default=30, help="list length scored (Recall@30 needs 30)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default=str(WORK), help="work directory (embeddings cache, IDs, semid model)")
    ap.add_argument("--out", default=str(RESULTS), help="directory for beauty_vs_cornac.md / .json")
    args = ap.parse_args(argv)
    if args.beam < args.k:
        raise SystemExit(f"--beam ({args.beam}) must be >= --k ({args.k}): only beamed items get a rank")
    try:
        entries = parse_cornac(args.cornac)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)
    try:
        import cornac
    except ImportError:
        raise SystemExit("cornac is missing: pip install 'semid[bench]' (or pip install cornac)") from None
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    meta = {"command": "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])]),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
                       f"torch {torch.__version__}, cornac {cornac.__version__}",
            "threads": args.threads, "load_start": round(os.getloadavg()[0], 1)}

    ds = load_beauty(args.data, args.max_users)
    ex = test_examples(ds, args.max_test_users, args.seed)
    x, meta["embed_s"] = title_embeddings(ds, args.data, work)
    if args.max_users is not None:
        work = work / f"users{args.max_users}"  # the cut's IDs and model apart from the full run's
    logger.info("data: %d items, %d test users; embeddings %s", ds.n_items, len(ex["targets"]), x.shape)
    runs: dict[str, dict[str, Any]] = {"popularity": run_popularity(ds, ex, args.k)}
    runs[SEMID] = run_semid(ds, x, ex, work, args)
    every = runs[SEMID].pop("every_user")
    if every is not None:
        all_ex = test_examples(ds)
        runs[f"popularity, all {len(all_ex['targets']):,} test users"] = run_popularity(ds, all_ex, args.k)
        runs[f"{SEMID}, all {len(all_ex['targets']):,} test users (same model)"] = {
            "ranks": every["ranks"], "train_s": runs[SEMID]["train_s"], "infer_s": every["infer_s"],
            "settings": "the model of the row above, scored on every test user"}
    logger.info("semid: train %.0f s, inference %.0f s", runs[SEMID]["train_s"], runs[SEMID]["infer_s"])
    write_results(summarize(runs, ds, ex, args, meta), out)  # partial: a later crash keeps these rows
    for n, factor in entries:
        budget, row = args.cornac_budget, CORNAC_NAMES[n]
        if budget is not None and budget < 0:  # "semid": semid's IDs + training time
            budget = runs[SEMID]["train_s"] * (args.budget_factor if factor is None else factor)
            if factor is not None:
                row = f"{row}, {factor:g}x semid's training time"
        runs[row] = run_cornac(n, ds, x, ex, args, budget)
        logger.info("%s: train %.0f s, inference %.0f s", row, runs[row]["train_s"], runs[row]["infer_s"])
        write_results(summarize(runs, ds, ex, args, meta), out)
    print((out / "beauty_vs_cornac.md").read_text())


if __name__ == "__main__":
    main()
