"""The generative backends side by side on ml-latest-small, in one run: training throughput
(examples/s), decoding throughput (queries/s at beam 30 and 60), peak memory, and the
encoder-decoder's one-off cost of encoding the training queries.

Both backends train on the same joint examples (every training query and every next item of
the rec histories) for the same IDs (RQ-KMeans 2 x 256 + suffix on the content embeddings),
at the same batch size; each measurement runs in its own subprocess, so that its peak resident
memory (``ru_maxrss``) is its own. The `small` T5 has the sizes of configs/movielens-small.toml
before this benchmark's change (d_model 64, d_ff 256, 3,000-token vocabulary).

    python benchmarks/bench_backends.py --ml-path ../shared/data/ml-latest-small [--threads 1 2]

The encoding cost is measured on the first ``--encode-queries`` training queries (default 10,000)
and extrapolated to all of them (the rate is per query; queries are short and alike).

Writes benchmarks/results/backends.json and backends.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
WORK = Path(__file__).resolve().parents[1] / "runs" / "bench-backends"
# name -> (label, TrainConfig overrides); "ed" is the default encoder-decoder, "t5" the comparison
ROWS = {
    "ed": ("encoder-decoder at TrainConfig's defaults (batch 128)", dict(backend="encoder-decoder", max_history=10)),
    "ed-learned": ("encoder-decoder as configs/movielens-small.toml trained it before pca (batch 256, learned projection)",
                   dict(backend="encoder-decoder", max_history=10, batch_size=256, lr=5e-3, search_projection="learned")),
    "ed-grid": ("encoder-decoder as configs/movielens-small.toml trains it (batch 256, pca projection)",
                dict(backend="encoder-decoder", max_history=10, batch_size=256, lr=5e-3)),
    "ed-pca-mqa": ("encoder-decoder, batch 256, pca + `cross_kv_heads = 1`",
                   dict(backend="encoder-decoder", max_history=10, batch_size=256, lr=5e-3, search_projection="pca",
                        cross_kv_heads=1)),
    "ed-pca-sum": ("encoder-decoder, batch 256, pca + `decoder_self_attention = false`",
                   dict(backend="encoder-decoder", max_history=10, batch_size=256, lr=5e-3, search_projection="pca",
                        decoder_self_attention=False)),
    "ed-mlp": ("encoder-decoder, batch 256, `decoder = \"mlp\"`, pooled",
               dict(backend="encoder-decoder", max_history=10, batch_size=256, lr=5e-3, search_memory="pooled",
                    decoder="mlp", rec_layers=0)),
    "t5": ("t5 `small` (d_model 64, as the old movielens-small config)",
           dict(backend="t5", model="small", small_d_model=64, small_d_ff=256, small_vocab_size=3000, max_history=10)),
    "t5-default": ("t5 `small` at TrainConfig's defaults (d_model 128, `--model small`)",
                   dict(backend="t5", model="small", max_history=10)),
    "t5-default-b256": ("t5 `small` at TrainConfig's defaults, batch 256",
                        dict(backend="t5", model="small", max_history=10, batch_size=256)),
}
#: the encoder-decoder rows compared with every t5 row
ED_ROWS = ("ed", "ed-learned", "ed-grid", "ed-pca-mqa", "ed-pca-sum", "ed-mlp")


def prepare(ml_path: str) -> None:
    """Data, content embeddings and IDs, once (cached under runs/bench-backends; the data and
    content embeddings of runs/movielens-small are copied when that run has them)."""
    import shutil

    run = Path(__file__).resolve().parents[1] / "runs" / "movielens-small" / "ml-latest-small"
    for name, src in (("data", run / "data"), ("content", run / "embeddings" / "content"),
                      ("query-states", run / "query-states" / "all-MiniLM-L6-v2-64"),
                      ("item-states", run / "item-states" / "all-MiniLM-L6-v2-64")):
        if not (WORK / name).exists() and (src / "stage.json").exists():
            shutil.copytree(src, WORK / name)
    from semid.data.prepare import prepare as prepare_data
    from semid.embed import build_embeddings
    from semid.ids import build_ids

    WORK.mkdir(parents=True, exist_ok=True)
    if not (WORK / "data").exists():
        prepare_data(source="movielens", path=ml_path, queries="offline", show_progress=False).save(WORK / "data")
    from semid.data import Dataset

    ds = Dataset.load(WORK / "data")
    if not (WORK / "ids").exists():
        from semid.embed import load_embeddings

        emb = (load_embeddings(WORK / "content") if (WORK / "content").exists()
               else build_embeddings(ds, "content", {}, show_progress=False))
        build_ids(emb.vectors, scheme="shared", method="rq-kmeans", levels=2, codebook_size=256, collisions="suffix",
                  seed=0, popularity=np.asarray(ds.train_counts), show_progress=False).save(WORK / "ids")


def child(kind: str, args) -> dict:
    """One measurement in this process: 'encode', 'ed' or 't5'."""
    import torch

    from semid.data import Dataset
    from semid.generative import TrainConfig
    from semid.generative.backends import backend_class
    from semid.generative.decode import constrained_beam_search
    from semid.generative.query_states import QueryStates, encode_states
    from semid.generative.train import _optimizer
    from semid.generative.trie import IDTrie
    from semid.ids.types import SemanticIDs

    torch.set_num_threads(args.threads)
    ds = Dataset.load(WORK / "data")
    ids = SemanticIDs.load(WORK / "ids")
    texts = ds.queries_for("train")["text"].tolist()
    out: dict = {}
    if kind == "encode":
        sub = texts[:args.encode_queries]
        t0 = time.perf_counter()
        st = encode_states(sub, "all-MiniLM-L6-v2", 64, show_progress=False)
        out = {"n_queries": len(sub), "n_train_queries": len(texts), "encode_s": time.perf_counter() - t0}
        out["queries_per_s"] = len(sub) / out["encode_s"]
        out["full_encode_s"] = len(texts) / out["queries_per_s"]
        out["full_states_mb"] = (st.states.nbytes + st.offsets.nbytes) / 2**20 * len(texts) / len(sub)
        if not (WORK / "query-states").exists():  # the training measurement needs every query's states
            encode_states(texts, "all-MiniLM-L6-v2", 64, show_progress=False).save(WORK / "query-states")
    else:
        cfg = TrainConfig(**ROWS[kind][1])
        torch.manual_seed(0)
        cls = backend_class(cfg.backend)
        if cfg.backend == "encoder-decoder":
            if not (WORK / "item-states").exists():  # the item texts' states, once (not timed)
                encode_states(ds.texts, "all-MiniLM-L6-v2", 64, show_progress=False).save(WORK / "item-states")
            be = cls.create(ds, ids, cfg, states=QueryStates.load(WORK / "query-states"),
                            item_states=QueryStates.load(WORK / "item-states"), show_progress=False)
        else:
            import shutil
            shutil.rmtree(WORK / "t5-init", ignore_errors=True)
            be = cls.create(ds, ids, cfg, WORK / "t5-init")
        ex = be.training_examples(ds)
        module = be.module.train()
        opt, _ = _optimizer(module, cfg, total_steps=args.steps + 2)  # the optimizer training uses
        rng = np.random.default_rng(0)
        batches = [rng.choice(len(ex), cfg.batch_size, replace=False) for _ in range(args.steps + 2)]
        t_setup = time.perf_counter()
        be.collate(ex, batches[0])  # one-off work of the first batch (the pca projection of every cached state)
        out_setup = time.perf_counter() - t_setup
        for i, b in enumerate(batches):
            if i == 2:  # two warm-up steps
                t0, c0 = time.perf_counter(), time.process_time()
            be.loss(module, be.collate(ex, b)).backward()
            opt.step()
            opt.zero_grad()
        train_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
        # examples per wall second, and per CPU second of this process (all its threads): the
        # second is what other jobs on a shared machine disturb least
        out = {"train_examples_per_s": args.steps * cfg.batch_size / train_s, "batch_size": cfg.batch_size,
               "train_examples_per_cpu_s": args.steps * cfg.batch_size / cpu_s,
               "steps": args.steps, "n_parameters": be.n_parameters(), "n_train_examples": len(ex),
               "first_batch_s": out_setup}
        module.eval()
        trie = IDTrie.build(ids, "search", ds.train_counts)
        q = ds.queries_for("test")["text"].tolist()[:args.queries]
        for beam in (30, 60):
            be.encode("search", q[:8])  # warm-up (loads the encoder)
            t0 = time.perf_counter()
            for s in range(0, len(q), args.batch):
                constrained_beam_search(be, be.encode("search", q[s:s + args.batch]), trie, beam_size=beam)
            out[f"decode_qps_beam{beam}"] = len(q) / (time.perf_counter() - t0)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


SPEEDUPS = [(e, t) for e in ED_ROWS for t in ("t5", "t5-default", "t5-default-b256")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ml-path", default="../shared/data/ml-latest-small")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                    help="torch threads; every row is measured at each (1 is how a grid trains: one process per core)")
    ap.add_argument("--steps", type=int, default=30, help="timed training steps per backend")
    ap.add_argument("--queries", type=int, default=256, help="test queries decoded per beam size")
    ap.add_argument("--batch", type=int, default=64, help="decoding batch")
    ap.add_argument("--encode-queries", type=int, default=10000, help="training queries timed for the encoding cost")
    ap.add_argument("--repeats", type=int, default=2, help="rounds over the rows; each row keeps its fastest")
    ap.add_argument("--from-json", action="store_true", help="only rewrite backends.md from backends.json")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.threads = args.threads[0]
        print(json.dumps(child(args.child, args)))
        return
    if args.from_json:
        write_markdown(json.loads((RESULTS / "backends.json").read_text()))
        return
    if not Path(args.ml_path, "movies.csv").exists():
        sys.exit(f"ml-latest-small not found at {args.ml_path}; pass --ml-path DIR")
    prepare(args.ml_path)
    res: dict = {"setup": {"threads": args.threads, "steps": args.steps, "queries": args.queries,
                           "decode_batch": args.batch, "repeats": args.repeats, "cpu": platform.processor() or platform.machine(),
                           "python": platform.python_version(), "ids": "rq-kmeans 2x256 + suffix on content",
                           "rows": {k: v[1] for k, v in ROWS.items()}}, "by_threads": {}}
    # rows alternate over --repeats rounds and each keeps its fastest, so that a load that comes
    # and goes on a shared machine weighs on every row alike
    for rnd in range(args.repeats):
        for threads in args.threads:
            got = res["by_threads"].setdefault(str(threads), {})
            for kind in (("encode",) if rnd == 0 and threads == args.threads[0] else ()) + tuple(ROWS):
                cmd = [sys.executable, __file__, "--child", kind, "--threads", str(threads), "--steps", str(args.steps),
                       "--queries", str(args.queries), "--batch", str(args.batch), "--encode-queries", str(args.encode_queries)]
                p = subprocess.run(cmd, capture_output=True, text=True)
                if p.returncode:
                    sys.exit(f"{kind} failed:\n{p.stderr[-3000:]}")
                out = json.loads(p.stdout.strip().splitlines()[-1])
                print(rnd, threads, kind, out, flush=True)
                if kind == "encode":
                    res["encode"] = out
                    continue
                old = got.get(kind, {})
                for key in ("train_examples_per_s", "train_examples_per_cpu_s", "decode_qps_beam30", "decode_qps_beam60"):
                    out[key] = max(out[key], old.get(key, 0))
                got[kind] = out
    for got in res["by_threads"].values():
        for e, t in SPEEDUPS:
            got.setdefault("speedup", {})[f"{e}/{t}"] = {
                "wall": got[e]["train_examples_per_s"] / got[t]["train_examples_per_s"],
                "cpu": got[e]["train_examples_per_cpu_s"] / got[t]["train_examples_per_cpu_s"]}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "backends.json").write_text(json.dumps(res, indent=2) + "\n")
    write_markdown(res)


def write_markdown(res: dict) -> None:
    enc, st = res["encode"], res["setup"]
    first = res["by_threads"][str(st["threads"][0])]
    lines = [
        "# Generative backends on ml-latest-small: encoder-decoder vs the `small` T5", "",
        "Command: `python benchmarks/bench_backends.py --ml-path ../shared/data/ml-latest-small "
        f"--threads {' '.join(map(str, st['threads']))} --steps {st['steps']} --queries {st['queries']} "
        f"--encode-queries {enc['n_queries']} --repeats {st['repeats']}` (one run; each row at each thread count "
        "measured in its own process, CPU).", "",
        f"The same joint training examples ({first['t5']['n_train_examples']:,} queries and rec targets; the encoder-decoder "
        f"also trains on the item texts, {first['ed']['n_train_examples']:,} in all), same IDs (RQ-KMeans 2x256 + suffix, "
        f"content), batch 128 unless the row says otherwise, {st['steps']} timed steps after 2 warm-up steps, each row the "
        f"fastest of {st['repeats']} alternating rounds. Examples per second of wall time, and per CPU second of the "
        "process (all its threads; what other jobs on a shared machine disturb least). Decoding: "
        f"{st['queries']} test queries in batches of {st['decode_batch']}, trie-constrained beam search.", ""]
    for threads, got in res["by_threads"].items():
        lines += [f"## {threads} torch thread{'s' if threads != '1' else ''}", "",
                  "| backend | parameters | train examples/s | train examples/CPU-s | decode q/s beam 30 | "
                  "decode q/s beam 60 | peak RSS (MB) |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for k in [k for k in ROWS if k in got]:
            r = got[k]
            lines.append(f"| {ROWS[k][0]} | {r['n_parameters']:,} | {r['train_examples_per_s']:.0f} | "
                         f"{r['train_examples_per_cpu_s']:.0f} | {r['decode_qps_beam30']:.1f} | "
                         f"{r['decode_qps_beam60']:.1f} | {r['peak_rss_mb']:.0f} |")
        lines += ["", "Training throughput ratios, wall / CPU time (same run):", "",
                  "| encoder-decoder | / t5 small d_model 64 | / t5 small at defaults | / t5 small at defaults, batch 256 |",
                  "| --- | --- | --- | --- |"]
        for e in ED_ROWS:
            cells = [f"**{got['speedup'][f'{e}/{t}']['wall']:.1f}x** / {got['speedup'][f'{e}/{t}']['cpu']:.1f}x"
                     for t in ("t5", "t5-default", "t5-default-b256")]
            lines.append(f"| {ROWS[e][0]} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [f"One-off cost of the encoder-decoder: encoding {enc['n_queries']:,} training queries with the frozen "
              f"all-MiniLM-L6-v2 ({st['threads'][0]} thread{'s' if st['threads'][0] != 1 else ''}) took "
              f"{enc['encode_s']:.0f} s ({enc['queries_per_s']:.0f} queries/s, peak RSS "
              f"{enc['peak_rss_mb']:.0f} MB), so all {enc['n_train_queries']:,} take about {enc['full_encode_s'] / 60:.1f} min "
              f"and {enc['full_states_mb']:.0f} MB of float16 states; a grid does it once per "
              f"dataset and shares it with every variant and seed. The encoder-decoder's parameter count is the trainable "
              f"decoder only; its decoding time includes encoding each test query with MiniLM.", ""]
    grid = first.get("ed-grid", {})
    if "first_batch_s" in grid:
        lines += [f"Once per model, the `pca` projection is fitted and applied to every cached state before the first "
                  f"step: {grid['first_batch_s']:.1f} s ({st['threads'][0]} thread), not in the examples/s above "
                  "(a 4-epoch model trains 825k examples).", ""]
    (RESULTS / "backends.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
