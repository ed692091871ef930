"""2T-HGNN against ENMF on recommendation, with the sparse items split out (issue #15).

For each dataset (ml-latest-small; Amazon Beauty 5-core) every method is trained on the
training interactions, and its own user vectors rank the whole catalogue for each test
example (dot product, as ``semid evaluate-dense`` scores ENMF's user vectors). Reported:
rec R@30 overall, on head / torso targets (the dataset's 1% most popular items by training
count / the rest), and on targets with at most N training interactions (sparse items).

Methods:
- ``enmf``: the rec-tuned source at its defaults (30 epochs, dim 256; on Beauty dim 64, 2T-HGNN's,
  with ``enmf, dim 256`` beside it: see BUDGETS and ENMF_EXTRA);
- ``hgnn``: 2T-HGNN, learned node vectors only (links co, genre, tag where the data has them);
  ``hgnn, no logQ``: the same without the log-frequency correction of the in-batch softmax;
- ``hgnn+text``: 2T-HGNN whose item nodes also read the offline MiniLM embedding of the item
  text; ``hgnn+text, no logQ``: the same without the log-frequency correction of the in-batch
  softmax (which, left out, biases the scores towards rare items); ``hgnn+text, logQ w``: a share
  w of the correction (``logq_weight``).
On Beauty, whose only metadata is the title, the 2T-HGNN graph has co-interaction and
title-word (``term``) links, and ``+text`` reads the MiniLM vector of the title.
2T-HGNN user vectors come from the training history only, as ENMF's do; the ``(train+valid)``
rows give the same model the valid item as well (the history the test protocol allows; ENMF
cannot use it without retraining).

    python benchmarks/bench_hgnn.py --ml-path ../shared/data/ml-latest-small \\
        --beauty-path ../shared/data/amazon-beauty --work /tmp/bench-hgnn

Amazon Beauty is read through ``semid data prepare --source files`` (string ASINs and user ids
kept); its titles stand in for the queries, which this benchmark does not use.
Each method's rows are cached under ``--work`` by a hash of its settings, so an interrupted run
resumes. Writes benchmarks/results/hgnn.json and hgnn.md (a "## Notes" section already in hgnn.md is kept). One seed (the test sets are small: 610 users
on ml-latest-small), so differences of a few hundredths on the sparse split are noise.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"
SPARSE_N = (5, 10)
NOTES = "## Notes"
CACHED_ONLY = False
# the 2T-HGNN variants per dataset (Beauty's graph has co-interaction and title-word links)
PLAN = {"ml-latest-small": ["hgnn", "hgnn+text", "hgnn+text, no logQ"],
        "amazon-beauty": ["hgnn", "hgnn, no logQ", "hgnn+text", "hgnn+text, no logQ", "hgnn+text, logQ 0.5",
                          "hgnn+text, logQ 0.75"]}
HGNN_BUDGET = {"epochs": 2, "max_examples_per_epoch": 40000}
# per-dataset overrides (none: 2T-HGNN at HGNN_BUDGET, ENMF at its defaults). Beauty, to fit a few
# CPU minutes per method on a shared 2-core machine: 2T-HGNN 1 epoch of 40,000 examples with fewer
# sampled neighbours (co 5, term 3 per layer); ENMF at 2T-HGNN's dimension, 64 (its default is 256)
BUDGETS = {"amazon-beauty": {"hgnn": {"epochs": 1, "max_examples_per_epoch": 40000, "fanouts": {"co": 5, "term": 3}},
                             "enmf": {"dim": 64}}}
# further ENMF rows per dataset: label -> options (Beauty: ENMF at its default dimension as well)
ENMF_EXTRA = {"amazon-beauty": {"enmf, dim 256": {"dim": 256}}}


def prepare(name: str, path: Path, work: Path) -> Path:
    """The prepared dataset directory (cached under ``work``)."""
    out = work / name / "data"
    if (out / "meta.json").exists():
        return out
    if name == "ml-latest-small":
        cmd = ["semid", "data", "prepare", "--source", "movielens", "--path", str(path), "--out", str(out)]
    else:  # semid's files source reads the ASINs and user hashes as they are
        raw = work / name / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        items = pd.read_csv(path / "items.csv", dtype=str)
        # this benchmark scores recommendation only: the title stands in for the queries (generating
        # the offline template queries of 12k items takes many minutes on a busy machine)
        q = items.assign(text=items["title"].fillna("").str.strip())[["item_id", "text"]]
        q = q[q["text"] != ""]
        pd.concat([q.assign(split=s) for s in ("train", "test")]).to_csv(raw / "queries.csv", index=False)
        cmd = ["semid", "data", "prepare", "--source", "files", "--items", str(path / "items.csv"),
               "--interactions", str(path / "interactions.csv"), "--queries-file", str(raw / "queries.csv"),
               "--out", str(out)]
    subprocess.run(cmd, check=True)
    return out


def user_ranks(ds, user_ids: np.ndarray, user_vectors: np.ndarray, items: np.ndarray) -> tuple:
    """The full rank (0 = first) of each test target under the user's vector, and the targets."""
    from semid.evaluate.dense import topk_ranks

    ex = ds.rec_examples("test")
    row = {int(u): i for i, u in enumerate(user_ids)}
    ex = [e for e in ex if e.user_id in row]
    uv = np.stack([user_vectors[row[e.user_id]] for e in ex])
    targets = np.array([e.target for e in ex], dtype=np.int64)
    return topk_ranks(uv, items, targets, len(items)), targets


def split_recalls(ds, ranks: np.ndarray, targets: np.ndarray) -> dict:
    """column -> (R@30, n examples, median rank of the target) for all / head / torso / <=N."""
    hit = (ranks >= 0) & (ranks < 30)
    counts = ds.train_counts[targets]
    head = ds.head_mask[targets]
    masks = {"all": np.ones(len(hit), bool), "head": head, "torso": ~head}
    masks.update({f"<={n}": counts <= n for n in SPARSE_N})
    return {c: (float(hit[m].mean()) if m.any() else float("nan"), int(m.sum()),
                float(np.median(ranks[m])) if m.any() else float("nan")) for c, m in masks.items()}


def _cached(work: Path, name: str, key: dict, compute) -> list[dict]:
    """Rows of one method, cached in ``work`` under a hash of its settings (reruns skip them)."""
    import hashlib

    h = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    f = work / name / "rows" / f"{key['label']}-{h}.json"
    if f.exists():
        return json.loads(f.read_text())
    if CACHED_ONLY:
        print(f"not run yet, left out: {name} {key['label']}", file=sys.stderr)
        return []
    rows = compute()
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps(rows))
    return rows


def run_dataset(name: str, data: Path, seed: int, work: Path, only: list[str] | None = None) -> list[dict]:
    from semid.data import Dataset
    from semid.embed import build_embeddings
    from semid.embed.hgnn import HGNNEmbedder
    from semid.embed.registry import make_config

    ds = Dataset.load(data)

    enmf_opts = BUDGETS.get(name, {}).get("enmf", {})
    hgnn_budget = BUDGETS.get(name, {}).get("hgnn", HGNN_BUDGET)

    def enmf(opts: dict = enmf_opts) -> list[dict]:
        t0, c0 = time.perf_counter(), time.process_time()
        emb = build_embeddings(ds, "rec", opts, seed=seed, show_progress=False)
        secs, cpu = round(time.perf_counter() - t0, 1), round(time.process_time() - c0, 1)
        r, t = user_ranks(ds, emb.user_ids, emb.user_vectors, emb.vectors)
        return [{"dataset": name, "method": "enmf", "history": "train", "seconds": secs, "cpu_seconds": cpu,
                 **split_recalls(ds, r, t)}]

    rows = []
    if not only or "enmf" in only:
        key = {"label": "enmf", "seed": seed, **({"opts": enmf_opts} if enmf_opts else {})}
        rows = _cached(work, name, key, enmf)
        for r in rows:
            print(json.dumps(r), flush=True)
    for label, opts in ENMF_EXTRA.get(name, {}).items():
        if only and label not in only:
            continue
        new = _cached(work, name, {"label": "enmf", "seed": seed, "opts": opts},
                      lambda opts=opts: enmf({**enmf_opts, **opts}))
        new = [{**r, "method": label} for r in new]
        for r in new:
            print(json.dumps(r), flush=True)
        rows += new
    has_meta = bool((ds.items["genres"] != "").any() or (ds.items["tags"] != "").any())
    links = {} if has_meta else {"links": ["co", "term"]}  # title words: the only metadata of Beauty
    plan = PLAN.get(name, PLAN["ml-latest-small"])
    text: dict = {}
    if any("text" in label for label in plan):
        content = work / name / "content"  # the MiniLM item-text embeddings, computed once for the text variants
        if not (content / "embeddings.npy").exists() and not CACHED_ONLY:
            build_embeddings(ds, "content", {"model": "all-MiniLM-L6-v2"}, seed=seed, show_progress=False).save(content)
        text = {"text_model": str(content)}
    variants = {"hgnn": links, "hgnn, no logQ": {**links, "logq_correction": False},
                "hgnn+text": {**links, **text}, "hgnn+text, no logQ": {**links, **text, "logq_correction": False},
                "hgnn+text, logQ 0.5": {**links, **text, "logq_weight": 0.5},
                "hgnn+text, logQ 0.75": {**links, **text, "logq_weight": 0.75}}
    variants = {label: variants[label] for label in plan if not only or label in only}

    def hgnn(label: str, opts: dict) -> list[dict]:
        t0, c0 = time.perf_counter(), time.process_time()
        cfg = make_config("hgnn", {**hgnn_budget, **opts})
        model = HGNNEmbedder(cfg, seed=seed, show_progress=False).fit(ds)
        emb = model.embed()
        secs, cpu = round(time.perf_counter() - t0, 1), round(time.process_time() - c0, 1)
        r, t = user_ranks(ds, emb.user_ids, emb.user_vectors, emb.vectors)
        out = [{"dataset": name, "method": label, "history": "train", "seconds": secs,
                "cpu_seconds": cpu, "links": emb.meta["graph"]["links"], **split_recalls(ds, r, t)}]
        hist = ds.user_histories(("train", "valid"))
        uids = np.array(sorted(hist), dtype=np.int64)
        r, t = user_ranks(ds, uids, model.user_vectors([hist[int(u)] for u in uids]), emb.vectors)
        out.append({**out[0], "history": "train+valid", **split_recalls(ds, r, t)})
        return out

    for label, opts in variants.items():
        new = _cached(work, name, {"label": label.replace(",", "").replace(" ", "-"), "opts": opts,
                                   "budget": hgnn_budget, "seed": seed}, lambda label=label, opts=opts: hgnn(label, opts))
        for r in new:
            print(json.dumps(r), flush=True)
        rows += new
    return rows


def markdown(rows: list[dict], cmd: str, meta: dict) -> str:
    cols = ["all", "head", "torso"] + [f"<={n}" for n in SPARSE_N]
    lines = [
        "# 2T-HGNN vs ENMF: dense rec R@30, with sparse items split out",
        "",
        "Regenerate with:",
        "",
        "```",
        cmd,
        "```",
        "",
        f"One seed ({meta['seed']}); {meta['python']} on {meta['machine']}, {meta['threads']} torch thread(s); "
        f"{meta['method_minutes']} minutes of training and scoring in all (cached rows are reused; this run "
        f"took {meta['minutes']}). 2T-HGNN budget: {HGNN_BUDGET} (its config defaults are 3 full "
        f"epochs); on a busy machine smaller budgets for: {BUDGETS}. R@30 of each method's own user vectors over the whole catalogue; `<=N`: test targets with "
        "at most N training interactions. In brackets: the median rank of the test target over the whole "
        "catalogue (0 = first; lower is better), which still separates methods where R@30 is 0.",
        "",
        "Test examples per column: " + "; ".join(
            f"{d}: " + ", ".join(f"{c} {r[c][1]}" for c in cols)
            for d, r in {r["dataset"]: r for r in rows}.items()) + ".",
        "",
        "| dataset | method | user history | " + " | ".join(cols) + " | seconds | CPU s |",
        "|---|---|---|" + "---|" * len(cols) + "---|---|",
    ]
    for r in rows:
        cells = [f"{r[c][0]:.4f} ({r[c][2]:.0f})" for c in cols]
        lines.append(f"| {r['dataset']} | {r['method']} | {r['history']} | " + " | ".join(cells) + f" | {r['seconds']} | {r.get('cpu_seconds', '')} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ml-path", type=Path, default=Path("../shared/data/ml-latest-small"))
    ap.add_argument("--beauty-path", type=Path, default=Path("../shared/data/amazon-beauty"))
    ap.add_argument("--work", type=Path, default=Path("runs/bench-hgnn"), help="prepared datasets are cached here")
    ap.add_argument("--datasets", nargs="+", default=["ml-latest-small", "amazon-beauty"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="+", default=None, help="run only these methods (e.g. enmf, hgnn) to split the work")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=RESULTS / "hgnn.md")
    ap.add_argument("--cached-only", action="store_true", help="only assemble the rows already computed under --work")
    args = ap.parse_args()
    global CACHED_ONLY
    CACHED_ONLY = args.cached_only
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    rows = []
    for name in args.datasets:
        path = args.ml_path if name == "ml-latest-small" else args.beauty_path
        if not path.exists():
            print(f"skipping {name}: {path} is absent", file=sys.stderr)
            continue
        rows += run_dataset(name, prepare(name, path, args.work), args.seed, args.work, args.only)
    meta = {"seed": args.seed, "threads": args.threads, "python": platform.python_version(),
            "machine": platform.machine(), "minutes": round((time.perf_counter() - t0) / 60, 1),
            "method_minutes": round(sum(r["seconds"] for r in rows if r["history"] == "train") / 60, 1)}
    # the command that computes every row (--only / --cached-only runs only split or assemble that work)
    cmd = f"python benchmarks/bench_hgnn.py --ml-path {args.ml_path} --beauty-path {args.beauty_path}"
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    old = args.out.read_text() if args.out.exists() else ""
    notes = old[old.index(NOTES):] if NOTES in old else ""  # hand-written notes survive a rerun
    args.out.write_text(markdown(rows, cmd, meta) + ("\n" + notes if notes else ""))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
