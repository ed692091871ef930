"""Load benchmark of `semid serve` on loopback: latency percentiles and throughput at
concurrency 1, 8 and 32, for POST /search and POST /recommend (one query or history per request).

The model (unless ``--model``): the quickstart's synthetic world (300 items, 200 users), RQ-KMeans
2 x 32 + suffix IDs on the frozen all-MiniLM-L6-v2 content embeddings, the default encoder-decoder
backend trained ``--epochs`` (default 2; latency does not depend on how well it learned), cached
in ``--work``. The server is the real command (``semid serve MODEL --port P``) in a subprocess with
``--server-threads`` torch threads; the client (httpx, asyncio) sends a bounded number of requests
per level (``--requests``) after a warm-up, with the world's test queries and training histories.

    nice -n 15 python benchmarks/bench_serve.py > /tmp/bench_serve.log 2>&1

Writes benchmarks/results/serve.json and serve.md (the command at the top).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]


def build_model(work: Path, epochs: float) -> tuple[Path, list[str], list[list[int]]]:
    """The small model (cached in ``work``), the world's test queries and training histories."""
    from semid.data.synthetic import SyntheticConfig, make_synthetic_world

    world = make_synthetic_world(SyntheticConfig(n_items=300, n_users=200, seed=0))
    queries = world.queries_for("test")["text"].tolist()
    ids = world.items["item_id"].to_numpy()
    histories = [ids[h[-10:]].tolist() for h in world.user_histories().values()]
    model = work / "model"
    if not (model / "config.json").exists():
        from semid.embed.sentence import load_sentence_model
        from semid.generative import TrainConfig, train_model
        from semid.ids import build_ids

        enc = load_sentence_model("all-MiniLM-L6-v2", device="cpu")
        vecs = np.asarray(enc.encode(world.texts, batch_size=64, normalize_embeddings=True), dtype=np.float32)
        build_ids(vecs, levels=2, codebook_size=32, popularity=world.train_counts, show_progress=False).save(work / "ids")
        train_model(world, work / "ids", TrainConfig(epochs=epochs, lr=5e-3, batch_size=64, max_history=10), model,
                    show_progress=False)
    return model, queries, histories


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def run_level(url: str, path: str, bodies: list[dict], concurrency: int) -> dict:
    import httpx

    sem = asyncio.Semaphore(concurrency)
    lat: list[float] = []
    errors = 0

    async with httpx.AsyncClient(base_url=url, timeout=300,
                                 limits=httpx.Limits(max_connections=concurrency + 4)) as client:
        async def one(body: dict) -> None:
            nonlocal errors
            async with sem:
                t = time.perf_counter()
                r = await client.post(path, json=body)
                lat.append(time.perf_counter() - t)
                errors += r.status_code != 200

        t0 = time.perf_counter()
        await asyncio.gather(*(one(b) for b in bodies))
        wall = time.perf_counter() - t0
    ms = np.asarray(lat) * 1000
    return {"endpoint": path, "concurrency": concurrency, "requests": len(bodies), "errors": errors,
            "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "p99_ms": float(np.percentile(ms, 99)), "mean_ms": float(ms.mean()), "throughput_rps": len(bodies) / wall,
            "wall_s": wall}


def write_markdown(res: dict, path: Path) -> None:
    a = res["args"]
    lines = ["# `semid serve` under load (loopback)", "", "```", res["command"], "```", "",
             f"Model: {res['model_note']} Server: `semid serve` (uvicorn, one process; one model thread that answers "
             f"the requests queued meanwhile in one batched call, up to 64) with {a['server_threads']} torch "
             f"thread(s); k={a['k']}, "
             f"beam {max(a['k'], 30)} (the Retriever's default). Client: httpx (asyncio) on the same machine, "
             f"{a['requests']} requests per row after {a['warmup']} warm-up requests; one query or one history "
             "(the last 10 training items of a user) per request.", "",
             f"Machine: {res['machine']}; load average before the run {res['load_before']}, after "
             f"{res['load_after']} (a shared 2-core machine: other jobs ran at the same time, so the absolute "
             "numbers are pessimistic and noisy).", "",
             "| endpoint | concurrency | requests | errors | p50 ms | p95 ms | p99 ms | throughput req/s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        lines.append(f"| {r['endpoint']} | {r['concurrency']} | {r['requests']} | {r['errors']} | {r['p50_ms']:.0f} | "
                     f"{r['p95_ms']:.0f} | {r['p99_ms']:.0f} | {r['throughput_rps']:.1f} |")
    if res.get("notes"):
        lines += ["", res["notes"]]
    lines.append("")
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="benchmark this model directory instead of the small synthetic one")
    p.add_argument("--work", default="/tmp/semid-bench-serve", help="where the small model is cached")
    p.add_argument("--epochs", type=float, default=2)
    p.add_argument("--requests", type=int, default=120, help="requests per (endpoint, concurrency)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--server-threads", type=int, default=2)
    p.add_argument("--out", default=str(RESULTS / "serve"), help="writes OUT.json and OUT.md")
    p.add_argument("--from-json", action="store_true", help="only rewrite OUT.md from OUT.json")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.from_json:
        write_markdown(json.loads(out.with_suffix(".json").read_text()), out.with_suffix(".md"))
        return 0
    command = "python benchmarks/bench_serve.py " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:]))
    work = Path(args.work)
    model, queries, histories = build_model(work, args.epochs)
    note = (f"the quickstart's synthetic world (300 items, 200 users), RQ-KMeans 2 x 32 + suffix IDs on frozen "
            f"all-MiniLM-L6-v2 content embeddings, the encoder-decoder backend trained {args.epochs:g} epochs.")
    if args.model:
        model, note = Path(args.model), f"{args.model}."
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": str(args.server_threads), "MKL_NUM_THREADS": str(args.server_threads)}
    server = subprocess.Popen([sys.executable, "-m", "semid.cli", "-q", "serve", str(model), "--port", str(port),
                               "--device", "cpu", "--no-access-log", "--log-level", "warning"], env=env, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    load_before = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    try:
        import httpx

        deadline = time.monotonic() + 300
        while True:
            try:
                httpx.get(url + "/health", timeout=5)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("semid serve did not come up") from None
                time.sleep(0.5)
        rng = np.random.default_rng(0)
        bodies = {"/search": [{"query": q, "k": args.k} for q in rng.choice(queries, args.requests + args.warmup)],
                  "/recommend": [{"history": histories[i], "k": args.k}
                                 for i in rng.integers(0, len(histories), args.requests + args.warmup)]}
        rows = []
        for path, bs in bodies.items():
            asyncio.run(run_level(url, path, bs[:args.warmup], 1))
            for c in args.concurrency:
                rows.append(asyncio.run(run_level(url, path, bs[args.warmup:], c)))
                print(json.dumps(rows[-1]), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    res = {"command": command, "args": vars(args), "model_note": note, "rows": rows,
           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
           "load_before": load_before, "load_after": ", ".join(f"{x:.1f}" for x in os.getloadavg())}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    write_markdown(res, out.with_suffix(".md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
