"""Cold start: items added after training (``semid ids encode`` + ``Retriever.add_items``) against
the same items trained in.

On the synthetic world (``--n-items`` items, default 1,000), per seed:

1. the items' *content* embeddings (frozen all-MiniLM-L6-v2 over each item's metadata text: the
   only embedding a new item has before anyone searched for it or interacted with it);
2. a held-out slice (``--holdout``, default 10%) of the items, drawn at random;
3. **cold**: RQ-KMeans IDs (2 x ``--codebook`` + suffix) fitted on the other 90% only, and the
   encoder-decoder trained on the dataset without the held-out items, their queries and their
   interactions. Then the held-out items get IDs from the saved quantizer (``encode_new_items``)
   and join the model's trie (``Retriever.add_items``), without any training;
4. **trained in**: the same settings on the whole catalogue (IDs fitted on all items, the model
   trained on every query and interaction);
5. search Recall@30 on the held-out items' test queries (``--queries-per-item`` each), each ranked
   over the whole catalogue (both models hold the same items when they are asked); a control
   (the same answers scored against another held-out item: is a new item returned because it
   matches, or because new items are returned at all?); a sample of the other items' test queries
   (the items both models were trained on); random valid IDs (k / n_items: with suffix IDs every
   ID is one item) and dense retrieval with the same frozen encoder (query vector vs content
   vectors, cosine), which needs no training at all. With suffix IDs the cold model is asked
   twice: new items with a free suffix (the default) and in their code tuple's first ID
   (``suffix_policy="share"``).

    nice -n 15 env OMP_NUM_THREADS=1 python benchmarks/cold_start.py --seeds 0 > /tmp/cold_start.log 2>&1

Writes benchmarks/results/cold_start.json and cold_start.md (the command at the top).
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
logger = logging.getLogger("cold_start")


def subset(world, keep_mask: np.ndarray):
    """The world without the items where ``keep_mask`` is False, their queries and interactions
    (histories re-split leave-last-out, as the world itself was)."""
    from semid.data import make_dataset
    from semid.data.schema import ITEM_COLUMNS

    keep_ids = set(world.items["item_id"].to_numpy()[keep_mask].tolist())
    items = world.items.loc[keep_mask, list(ITEM_COLUMNS)].reset_index(drop=True)
    inter = world.interactions[world.interactions["item_id"].isin(keep_ids)].drop(columns=["split"])
    queries = world.queries[world.queries["item_id"].isin(keep_ids)]
    cfg = world.meta["config"]
    return make_dataset(items, inter.reset_index(drop=True), queries.reset_index(drop=True),
                        meta={"source": "synthetic-cold-start", "config": cfg},
                        min_history=cfg["min_history"], head_fraction=cfg["head_fraction"])


def recall(retriever, texts: list[str], targets: list, k: int, cache: dict) -> np.ndarray:
    key = (id(retriever), tuple(texts))
    if key not in cache:  # the control reuses the held-out queries' answers
        cache[key] = [{h.item_id for h in lst} for lst in retriever.search(texts, k=k, beam_size=k)]
    return np.array([float(t in got) for got, t in zip(cache[key], targets, strict=True)])


def dense_recall(encoder, item_vecs: np.ndarray, item_ids: np.ndarray, texts: list[str], targets: list,
                 k: int) -> np.ndarray:
    q = encoder.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    top = np.argsort(-(q @ item_vecs.T), axis=1)[:, :k]
    return np.array([float(t in set(item_ids[row].tolist())) for row, t in zip(top, targets, strict=True)])


def mean_se(x: np.ndarray) -> str:
    return f"{x.mean():.3f} ± {x.std(ddof=1) / np.sqrt(len(x)):.3f}" if len(x) > 1 else f"{x.mean():.3f}"


def run_seed(args, seed: int, work: Path) -> dict:
    from semid import Retriever
    from semid.data.synthetic import SyntheticConfig, make_synthetic_world
    from semid.embed.sentence import load_sentence_model
    from semid.generative import TrainConfig, train_model
    from semid.generative.query_states import encode_states
    from semid.ids import build_ids
    from semid.ids.encode import encode_new_items

    t0 = time.perf_counter()
    world = make_synthetic_world(SyntheticConfig(n_items=args.n_items, n_users=args.n_users, seed=seed))
    encoder = load_sentence_model("all-MiniLM-L6-v2", device="cpu")  # the offline copy
    vecs = encoder.encode(world.texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    vecs = np.ascontiguousarray(vecs, dtype=np.float32)
    rng = np.random.default_rng(1000 + seed)
    n = world.n_items
    held = np.zeros(n, dtype=bool)
    held[rng.choice(n, size=int(round(args.holdout * n)), replace=False)] = True
    warm = subset(world, ~held)
    all_ids = world.items["item_id"].to_numpy()
    logger.info("seed %d: %d items (%d held out); world %d interactions, warm %d", seed, n, held.sum(),
                len(world.interactions), len(warm.interactions))

    test = world.queries_for("test")
    held_ids = set(all_ids[held].tolist())
    qh = test[test["item_id"].isin(held_ids)].groupby("item_id").head(args.queries_per_item)
    qw = test[~test["item_id"].isin(held_ids)].sample(n=min(args.warm_queries, int((~test["item_id"].isin(held_ids)).sum())),
                                                      random_state=seed)
    # control: the same held-out queries scored against ANOTHER held-out item (a fixed derangement):
    # how often a new item is returned just for being new, not for matching the query
    order = sorted(held_ids)
    other = dict(zip(order, order[1:] + order[:1], strict=True))
    sets = {"held-out": (qh["text"].tolist(), qh["item_id"].tolist()),
            "held-out-wrong": (qh["text"].tolist(), [other[i] for i in qh["item_id"]]),
            "trained": (qw["text"].tolist(), qw["item_id"].tolist())}

    cfg = TrainConfig(epochs=args.epochs, lr=5e-3, batch_size=64, max_history=10, seed=seed)
    out: dict = {"seed": seed, "n_items": n, "n_held_out": int(held.sum()),
                 "queries": {s: len(v[0]) for s, v in sets.items()}, "recall": {}, "added": {}, "seconds": {}}
    datasets = {"cold": (warm, ~held), "trained-in": (world, np.ones(n, dtype=bool))}
    states = {}
    for name, (ds, _) in datasets.items():  # encoder states once per dataset, shared by both ID variants
        d = work / f"s{seed}" / "states" / name
        encode_states(ds.queries_for("train")["text"].tolist(), cfg.encoder, cfg.max_query_tokens,
                      show_progress=False).save(d / "queries")
        encode_states(ds.texts, cfg.encoder, cfg.max_query_tokens, show_progress=False).save(d / "items")
        states[name] = d
    for collisions in args.collisions:
        for name, (ds, mask) in datasets.items():
            t = time.perf_counter()
            tag = f"{collisions}/{name}"
            built = build_ids(vecs[mask], scheme="shared", method="rq-kmeans", levels=2, codebook_size=args.codebook,
                              collisions=collisions, seed=seed, popularity=ds.train_counts, show_progress=False)
            ids_dir = built.save(work / f"s{seed}" / collisions / "ids" / name)
            model_dir = train_model(ds, ids_dir, cfg, work / f"s{seed}" / collisions / "model" / name,
                                    show_progress=False, query_states=states[name] / "queries",
                                    item_states=states[name] / "items")
            retrievers = {tag: Retriever.load(model_dir, device="cpu")}
            if name == "cold":
                new = encode_new_items(ids_dir, vecs[held], all_ids[held].tolist(),
                                       world.items["title"].to_numpy()[held].tolist())
                out["added"][collisions] = retrievers[tag].add_items(new)
                if collisions == "suffix":  # the same model, the new items in their bucket's first ID
                    retrievers[f"{tag}-share"] = Retriever.load(model_dir, device="cpu")
                    out["added"]["suffix-share"] = retrievers[f"{tag}-share"].add_items(new, suffix_policy="share")
            cache: dict = {}
            for key, r in retrievers.items():
                assert r.n_items == n
                for s, (texts, targets) in sets.items():
                    x = recall(r, texts, targets, args.k, cache)
                    out["recall"][f"{key}/{s}"] = x.tolist()
                    logger.info("seed %d: %s on %s queries: R@%d %s", seed, key, s, args.k, mean_se(x))
            out["seconds"][tag] = round(time.perf_counter() - t, 1)
            logger.info("seed %d: %s done in %.0fs", seed, tag, out["seconds"][tag])
    for s, (texts, targets) in sets.items():  # (the dense answers are recomputed for the control: cheap)
        out["recall"][f"dense/{s}"] = dense_recall(encoder, vecs, all_ids, texts, targets, args.k).tolist()
    out["random"] = args.k / n
    out["seconds"]["total"] = round(time.perf_counter() - t0, 1)
    return out


# the reading of the committed numbers (written after the run; --from-json keeps it)
NOTES = """The two seeds ran one at a time (the machine was shared, load average about 15) and were joined with
`python benchmarks/cold_start.py --from-json --merge S0.json S1.json`.

Reading:

- **A new item with a free suffix is almost never found** (R@30 0.010, below random valid IDs at 0.060).
  Two reasons, both in the numbers: after a prefix the decoder has only ever produced the suffixes of the
  trained items there and gives an unseen suffix next to no probability; and 68 of the 100 new items land
  on a quantizer code pair that no trained item has (2 x 32 codes for 450 items leave most pairs empty),
  a prefix the model never produced at all.
- **Putting a new item into its code tuple's first ID (`--suffix share`) makes some of them findable**:
  0.088, above random and above its control (0.032: the new item is returned for its own queries more
  often than for another new item's), but under a third of the same items trained in (0.296). It can only
  help the 32 items whose code pair a trained item has; the other 68 get an ID of their own either way.
- The frozen encoder itself is not the bottleneck: dense retrieval with it finds held-out items about as
  well as the others (0.670 vs 0.728), with no training. The cold-start gap is the ID decoder's.
- The cold models answer the trained items' queries slightly better than the trained-in models (0.388 vs
  0.355): 10% fewer items compete.

So on this data the cold-start promise of Semantic IDs holds only partly: new items become retrievable
without retraining only by sharing a trained item's ID, and at under a third of the trained-in recall.
Not tried here: finer first-level codes or fewer levels (fewer empty code pairs), and scoring a new item
by its prefix alone at decoding time (a decoder change)."""


def write_markdown(res: dict, path: Path) -> None:
    a = res["args"]
    seeds = res["seeds"]
    rows = []
    for c in a["collisions"]:
        if c == "suffix":
            rows += [("generative, suffix IDs, items added after training (**cold**) with a free suffix "
                      "(`semid ids encode`, default)", "suffix/cold"),
                     ("generative, suffix IDs, items added after training (**cold**) into their code tuple's "
                      "first ID (`--suffix share`)", "suffix/cold-share")]
        else:
            rows.append(("generative, no suffix, items added after training (**cold**) into their code "
                         "tuple's bucket", f"{c}/cold"))
        rows.append((f"generative, {'suffix IDs' if c == 'suffix' else 'no suffix'}, items trained in",
                     f"{c}/trained-in"))
    rows.append(("dense, the same frozen encoder (no training)", "dense"))
    lines = [
        "# Cold start: new items without retraining",
        "",
        "```",
        res["command"],
        "```",
        "",
        f"Synthetic world, {a['n_items']} items, {a['n_users']} users; {a['holdout']:.0%} of the items held out "
        f"(random, per seed) from ID building and training, with their queries and interactions. IDs: RQ-KMeans "
        f"2 x {a['codebook']} on frozen all-MiniLM-L6-v2 content embeddings (the item's metadata text), "
        + ("with and without the suffix level" if len(a["collisions"]) > 1 else f"collisions `{a['collisions'][0]}`")
        + f". Model: the default encoder-decoder backend, {a['epochs']:g} epochs (lr 5e-3, "
        "batch 64). The cold model gets the held-out items afterwards from the saved quantizer "
        "(`encode_new_items`, what `semid ids encode` runs, then `Retriever.add_items`); the trained-in model was "
        "built and trained on all items. Both rank over the whole catalogue, beam "
        f"{a['k']}. Seeds: {', '.join(str(s['seed']) for s in seeds)} (world, split and model seed together).",
        "",
        f"Search Recall@{a['k']}, mean ± standard error over test queries (all seeds pooled):",
        "",
        f"| | held-out items' test queries (n={sum(s['queries']['held-out'] for s in seeds)}) "
        "| control: the same queries, scored against another held-out item "
        f"| trained items' test queries (sample, n={sum(s['queries']['trained'] for s in seeds)}) |",
        "|---|---|---|---|",
    ]
    for label, key in rows:
        cells = [mean_se(np.concatenate([np.asarray(s["recall"][f"{key}/{q}"]) for s in seeds]))
                 for q in ("held-out", "held-out-wrong", "trained")]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    rnd = np.mean([s["random"] for s in seeds])
    lines.append(f"| random valid IDs (k / n_items with suffix IDs) | {rnd:.3f} | {rnd:.3f} | {rnd:.3f} |")
    lines += ["", "Held-out items' queries per seed: " + "; ".join(
        f"seed {s['seed']}: " + ", ".join(f"{key} {np.mean(s['recall'][key + '/held-out']):.3f}" for _, key in rows)
        for s in seeds) + ".", ""]
    for c in seeds[0]["added"]:
        lines.append(f"Added items, {c} (sum over seeds): " + ", ".join(
            f"{k} {sum(s['added'][c][k] for s in seeds)}" for k in seeds[0]["added"][c]) + ".")
    lines += ["", "`own_id`: the item got an ID no other item has (a free suffix); `shared_id`: it shares an ID "
              "(without suffix: its bucket; with suffix: the suffix level was full); `unseen_quantizer_codes`: no "
              "trained item has its quantizer codes, so the model never produced that prefix in training.", ""]
    lines += ["Time per seed (s): " + "; ".join(f"seed {s['seed']}: {s['seconds']['total']:.0f}" for s in seeds) + ".", ""]
    if NOTES:
        lines += [NOTES, ""]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--n-items", type=int, default=1000)
    p.add_argument("--n-users", type=int, default=300)
    p.add_argument("--collisions", nargs="+", default=["suffix", "none"], help="ID variants (semid ids build --collisions)")
    p.add_argument("--holdout", type=float, default=0.1)
    p.add_argument("--codebook", type=int, default=32)
    p.add_argument("--epochs", type=float, default=4)
    p.add_argument("--k", type=int, default=30)
    p.add_argument("--queries-per-item", type=int, default=5, help="test queries per held-out item")
    p.add_argument("--warm-queries", type=int, default=300, help="sampled test queries of trained items")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(RESULTS / "cold_start"), help="writes OUT.json and OUT.md")
    p.add_argument("--from-json", action="store_true", help="only rewrite OUT.md from OUT.json")
    p.add_argument("--merge", nargs="+", metavar="JSON", help="with --from-json: join the seeds of these runs "
                   "(same settings) into OUT.json first")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    out = Path(args.out)
    if args.from_json:
        if args.merge:
            runs = [json.loads(Path(f).read_text()) for f in args.merge]
            res = {**runs[0], "command": "\n".join(r["command"] for r in runs),
                   "seeds": [s for r in runs for s in r["seeds"]]}
            out.with_suffix(".json").write_text(json.dumps(res))
        write_markdown(json.loads(out.with_suffix(".json").read_text()), out.with_suffix(".md"))
        return 0
    import torch

    torch.set_num_threads(args.threads)
    command = "python benchmarks/cold_start.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    out.parent.mkdir(parents=True, exist_ok=True)
    seeds = []
    for seed in args.seeds:  # results are written after every seed (an interrupted run keeps the seeds done)
        with tempfile.TemporaryDirectory(prefix="semid-cold-") as tmp:
            seeds.append(run_seed(args, seed, Path(tmp)))
        res = {"command": command, "args": vars(args), "seeds": seeds}
        out.with_suffix(".json").write_text(json.dumps(res))
        write_markdown(res, out.with_suffix(".md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
