"""Quality of the offline query generators, measured the same way for every generator and dataset.

For each (dataset, generator): generate 10 train + 10 test queries per item, then

- **dense R@30**: the content retriever (all-MiniLM-L6-v2 item-text embeddings, cosine) ranks
  the whole catalogue for test queries of a fixed, seeded sample of items (the same items for
  every generator of a dataset); recall@30 of the query's own item;
- **checks over every generated query**: title leaks (:func:`semid.data.text.contains_title`),
  queries with a movie word, train/test phrasings shared by an item, distinct share;
- generation time per 1000 items (this machine, one process).

Generators: ``movie`` is the MovieLens generator (``--item-noun movie``); on ml-latest-small it
is run from the commit before the domain-neutral change too (``movie @<commit>``), and the two
outputs are compared query for query. ``neutral/yake`` is the domain-neutral generator with YAKE
keywords (the default for ``--item-noun`` other than movie); ``neutral/keybert`` swaps YAKE for
KeyBERT over the same MiniLM (only on the first ``--keybert-items`` sampled items of Amazon Beauty: it
embeds every candidate phrase), beside YAKE's queries for the same items.

Run (on 2 busy CPU cores: about 25 minutes, plus about 20 a catalogue without ``--reuse``, which
takes an earlier run's content embeddings after checking them):
    OMP_NUM_THREADS=2 python benchmarks/bench_queries.py \
        --reuse ml-latest-small,RUN/ml-latest-small/embeddings/content,RUN/ml-latest-small/data
writes benchmarks/results/queries.md and queries.json.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from semid.data.files import read_items
from semid.data.movielens import read_movielens
from semid.data.queries import generate_offline_queries
from semid.data.text import contains_title
from semid.embed.sentence import DEFAULT_MODEL, encode_texts, load_sentence_model
from semid.evaluate.dense import topk_ranks

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
BEFORE = "d69d546"  # the last commit before the domain-neutral generator
MOVIE_WORDS = re.compile(r"\b(?:movies?|films?|flicks?|pictures?|cinema|watch(?:ing)?)\b")


def load_before_generator(commit: str):
    """generate_offline_queries as it was at ``commit`` (read with git show), or None."""
    try:
        src = subprocess.run(["git", "show", f"{commit}:semid/data/queries.py"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "queries_before.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("queries_before", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.generate_offline_queries


def reused_vectors(model, texts: list[str], emb_dir: Path, data_dir: Path) -> np.ndarray | None:
    """Content vectors of an earlier run (a semid embeddings dir and the dataset it embedded), or None.

    Used only when the earlier dataset lists the same number of items with the same texts in
    the same order, except for under 1% (re-encoded here), and 32 random rows re-encoded here
    agree (cosine > 0.999): the 2-core machine takes about 20 minutes per catalogue otherwise.
    """
    if not (emb_dir / "embeddings.npy").is_file() or not (data_dir / "items.parquet").is_file():
        return None
    v = np.load(emb_dir / "embeddings.npy").astype(np.float32)
    ref = pd.read_parquet(data_dir / "items.parquet")["text"].astype(str).to_numpy()
    if len(v) != len(texts) or len(ref) != len(texts):
        return None
    mine = np.asarray(texts, dtype=object)
    differ = np.flatnonzero(ref != mine)
    if len(differ) > 0.01 * len(texts):
        return None
    same = np.setdiff1d(np.arange(len(texts)), differ)
    check = np.random.default_rng(0).choice(same, min(32, len(same)), replace=False)
    fresh = encode_texts(model, [texts[i] for i in check], 64, False, normalize=True)
    cos = (fresh * v[check]).sum(axis=1)
    if cos.min() < 0.999:
        print(f"not reusing {emb_dir}: spot check cosine {cos.min():.4f}", flush=True)
        return None
    if len(differ):
        v[differ] = encode_texts(model, [texts[i] for i in differ], 64, False, normalize=True)
    print(f"reusing {emb_dir} ({len(differ)} rows re-encoded, spot check cosine >= {cos.min():.4f})", flush=True)
    return v


def item_vectors(model, items: pd.DataFrame, name: str, cache: Path, reuse: dict[str, tuple[Path, Path]]
                 ) -> tuple[np.ndarray, str]:
    texts = items["text"].astype(str).tolist()
    key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:12]
    f = cache / f"{name}-{key}.npy"
    if f.exists():
        return np.load(f), f"cache {f}"
    v, how = None, "encoded here"
    if name in reuse:
        v = reused_vectors(model, texts, *reuse[name])
        how = f"reused from {reuse[name][0]} (checked)"
    if v is None:
        v, how = encode_texts(model, texts, 64, True, normalize=True), "encoded here"
    cache.mkdir(parents=True, exist_ok=True)
    np.save(f, v)
    return v, how


def keybert_keywords(model, items: pd.DataFrame) -> dict[str, list[str]]:
    """KeyBERT keywords (1-2 grams, English stop words) of each item's title + description."""
    from keybert import KeyBERT

    from semid.data.text import strip_year

    docs = [". ".join(p for p in (strip_year(str(t)), str(d or "")) if p)
            for t, d in zip(items["title"], items.get("description", [""] * len(items)), strict=True)]
    kb = KeyBERT(model=model)
    out = kb.extract_keywords(docs, keyphrase_ngram_range=(1, 2), stop_words="english", top_n=18)
    if docs and out and isinstance(out[0], tuple):  # one document: a flat list
        out = [out]
    return {doc: [k for k, _ in kws] for doc, kws in zip(docs, out, strict=True)}


def checks(items: pd.DataFrame, q: pd.DataFrame) -> dict:
    titles = dict(zip(items["item_id"], items["title"].fillna("").astype(str), strict=True))
    leaks = sum(bool(titles[i]) and contains_title(t, titles[i]) for i, t in zip(q["item_id"], q["text"], strict=True))
    has = q["text"].str.lower().str.contains(MOVIE_WORDS).to_numpy()
    movie = int(has.sum())
    # a movie word the item's own text holds ("Inspired by the Movie Dark Shadows") is the item's, not the phrasing's
    texts = dict(zip(items["item_id"], items["text"].fillna("").astype(str).str.lower(), strict=True))
    phrasing = sum(any(w not in MOVIE_WORDS.findall(texts[i]) for w in MOVIE_WORDS.findall(t.lower()))
                   for i, t in zip(q["item_id"].to_numpy()[has], q["text"].to_numpy()[has], strict=True))
    shared = 0
    for _, g in q.groupby("item_id", sort=False):
        shared += len(set(g.loc[g["split"] == "train", "text"]) & set(g.loc[g["split"] == "test", "text"]))
    return {"n_queries": len(q), "title_leaks": int(leaks), "movie_word_queries": movie,
            "movie_words_not_from_item": int(phrasing),
            "train_test_shared": shared, "distinct_share": round(q["text"].nunique() / max(len(q), 1), 3)}


def recall30(model, vectors: np.ndarray, items: pd.DataFrame, q: pd.DataFrame, sample: np.ndarray,
             per_item: int, seed: int) -> tuple[float, int]:
    test = q[q["split"] == "test"]
    pos = pd.Index(items["item_id"]).get_indexer(test["item_id"])
    test = test.assign(item_index=pos)
    test = test[test["item_index"].isin(sample)]
    test = test.groupby("item_index", sort=True).sample(n=per_item, random_state=seed, replace=False)
    qv = encode_texts(model, test["text"].tolist(), 128, False, normalize=True)
    ranks = topk_ranks(qv, vectors, test["item_index"].to_numpy(), 30, show_progress=False, desc="search")
    return float((ranks >= 0).mean()), len(test)


def run(args: argparse.Namespace) -> dict:
    model = load_sentence_model(DEFAULT_MODEL)
    cache = Path(args.cache)
    datasets = {}
    ml = SHARED / "ml-latest-small"
    if ml.is_dir():
        datasets["ml-latest-small"] = (read_movielens(ml).items, "movie")
    beauty = SHARED / "amazon-beauty" / "items.csv"
    if beauty.is_file():
        datasets["amazon-beauty"] = (read_items(beauty, noun="product"), "product")
    if not datasets:
        sys.exit(f"no dataset under {SHARED}; see ../shared/data/README.md")
    before = load_before_generator(BEFORE)
    rows = []
    vector_source: dict[str, str] = {}
    for name, (items, noun) in datasets.items():
        reuse = dict((k, (Path(e), Path(d))) for k, e, d in (r.split(",") for r in args.reuse))
        vectors, how = item_vectors(model, items, name, cache, reuse)
        vector_source[name] = how
        rng = np.random.default_rng(args.seed)
        sample = np.sort(rng.choice(len(items), min(args.sample, len(items)), replace=False))
        gens = [("movie", "description words", dict(item_noun="movie", style="movie"), "all")]
        if name == "ml-latest-small" and before is not None:
            gens.append((f"movie @{BEFORE}", "description words", None, "all"))
        gens.append(("neutral/yake", "YAKE", dict(item_noun=noun, style="neutral"), "all"))
        small = sample[: args.keybert_items]
        if args.keybert_items and name in args.keybert_datasets.split(","):
            gens.append(("neutral/keybert", "KeyBERT (MiniLM)", dict(item_noun=noun, style="neutral"), "small"))
            gens.append(("neutral/yake", "YAKE", dict(item_noun=noun, style="neutral"), "rescore-small"))
        outputs: dict[str, pd.DataFrame] = {}
        for gen, kw, kwargs, scope in gens:
            if scope == "rescore-small":  # YAKE's queries of the KeyBERT items, scored the same way
                q = outputs[gen]
                q = q[q["item_id"].isin(items["item_id"].iloc[small])]
                r30, n_scored = recall30(model, vectors, items, q, small, args.per_item, args.seed)
                rows.append({**next(r for r in rows if r["dataset"] == name and r["generator"] == gen),
                             "generator": f"{gen} (KeyBERT's items)", "items": len(small), "dense_r30": round(r30, 4),
                             "test_queries_scored": n_scored, **checks(items.iloc[small], q)})
                print(json.dumps({k: v for k, v in rows[-1].items() if k != "examples"}), flush=True)
                continue
            sub = items if scope == "all" else items.iloc[small].reset_index(drop=True)
            scored_on = sample if scope == "all" else small
            t0 = time.perf_counter()
            if kwargs is None:
                q = before(sub, seed=args.seed, show_progress=False)
            elif gen == "neutral/keybert":
                import semid.data.queries_neutral as qn

                kws = keybert_keywords(model, sub)
                saved = qn.keywords_of
                qn.keywords_of = lambda text, title="", stop=qn.NEUTRAL_STOP, kws=kws: qn.clean_keywords(
                    kws.get(text, []), title, stop)
                try:
                    q = generate_offline_queries(sub, seed=args.seed, show_progress=False, **kwargs)
                finally:
                    qn.keywords_of = saved
            else:
                q = generate_offline_queries(sub, seed=args.seed, show_progress=False, **kwargs)
            secs = time.perf_counter() - t0
            outputs[gen] = q
            t1 = time.perf_counter()
            if kwargs is None and q.equals(outputs["movie"]):  # identical queries: identical score
                prev = next(r for r in rows if r["dataset"] == name and r["generator"] == "movie")
                r30, n_scored = prev["dense_r30"], prev["test_queries_scored"]
            else:
                r30, n_scored = recall30(model, vectors, items, q, scored_on, args.per_item, args.seed)
            print(f"{name} {gen}: generated in {secs:.0f}s, scored in {time.perf_counter() - t1:.0f}s", flush=True)
            row = {"dataset": name, "generator": gen, "keywords": kw, "noun": (kwargs or {}).get("item_noun", "movie"),
                   "items": len(sub), "s_per_1000_items": round(1000 * secs / len(sub), 2),
                   "test_queries_scored": n_scored, "dense_r30": round(r30, 4), **checks(sub, q)}
            ex_id = items["item_id"].iloc[sample[0]]  # a sampled item: every generator ran on it
            row["example_item"] = str(items.set_index("item_id").loc[ex_id, "title"])
            row["examples"] = q.loc[q["item_id"] == ex_id, "text"].tolist()[::4]
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "examples"}), flush=True)
        if f"movie @{BEFORE}" in outputs:
            same = outputs[f"movie @{BEFORE}"].equals(outputs["movie"])
            for r in rows:
                if r["dataset"] == name and r["generator"] == "movie":
                    r["identical_to_before"] = bool(same)
    return {"model": DEFAULT_MODEL, "item_vectors": vector_source, "sample_items": args.sample, "test_queries_per_item": args.per_item,
            "seed": args.seed, "rows": rows}


def write_markdown(res: dict, path: Path) -> None:
    lines = [
        "# Offline query generators: dense R@30 and checks",
        "",
        f"Regenerate: `{res.get('command', 'OMP_NUM_THREADS=2 python benchmarks/bench_queries.py')}` (writes this "
        f"file and `queries.json`; `--reuse` is optional, see the script).",
        "",
        f"Dense R@30: the content retriever ({res['model']} embeddings of each item's text, cosine) ranks the whole "
        f"catalogue for {res['test_queries_per_item']} test queries of each of {res['sample_items']:,} items "
        f"(seeded sample, the same items for every generator of a dataset). The checks run over every generated "
        f"query (train and test) of the items the generator ran on. Movie words: movie(s), film(s), flick(s), "
        f"picture(s), cinema, watch(ing).",
        "",
        "| dataset | generator | keywords | noun | items | s / 1000 items | test queries scored | dense R@30 | "
        "title leaks | queries with a movie word (not from the item's own text) | train = test phrasings | "
        "distinct share |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in res["rows"]:
        lines.append(f"| {r['dataset']} | {r['generator']} | {r['keywords']} | {r['noun']} | {r['items']:,} | "
                     f"{r['s_per_1000_items']} | {r['test_queries_scored']:,} | {r['dense_r30']:.3f} | "
                     f"{r['title_leaks']} | {r['movie_word_queries']:,} ({r['movie_words_not_from_item']:,}) | "
                     f"{r['train_test_shared']} | "
                     f"{r['distinct_share']} |")
    lines += ["", "Item vectors: " + "; ".join(f"{k}: {v}" for k, v in res.get("item_vectors", {}).items()) + "."]
    lines += ["", "Standard error of each R@30 is about sqrt(p(1-p)/n) with n the queries scored "
              "(up to 0.013 at 1,500 queries, 0.03 at 200); the generators of one dataset are scored on the same items.", ""]
    for r in res["rows"]:
        if "identical_to_before" in r:
            lines.append(f"- {r['dataset']}: the `movie` generator's {r['n_queries']:,} queries are "
                         f"{'identical' if r['identical_to_before'] else 'NOT identical'} to those of commit "
                         f"{BEFORE} (before the domain-neutral generator), query for query.")
    lines += ["", "## Examples (every 4th query of one sampled item)", ""]
    for r in res["rows"]:
        lines.append(f"- {r['dataset']}, {r['generator']}, item \"{r['example_item']}\": "
                     + "; ".join(f"\"{x}\"" for x in r["examples"]))
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sample", type=int, default=1500, help="items whose test queries are scored (default 1500)")
    ap.add_argument("--per-item", type=int, default=1, help="test queries scored per sampled item (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keybert-items", type=int, default=200,
                    help="items of the sample KeyBERT runs on (0: skip KeyBERT; default 200: it embeds every "
                         "candidate phrase, minutes per 100 items on a busy 2-core machine)")
    ap.add_argument("--keybert-datasets", default="amazon-beauty", help="comma-separated datasets for KeyBERT")
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "semid-bench-queries"),
                    help="item-embedding cache directory")
    ap.add_argument("--reuse", action="append", default=[], metavar="DATASET,EMB_DIR,DATA_DIR",
                    help="reuse an earlier run's content embeddings of DATASET after checking them (see reused_vectors)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "queries.md"))
    args = ap.parse_args()
    res = run(args)
    res["command"] = "OMP_NUM_THREADS=2 python benchmarks/bench_queries.py " + " ".join(sys.argv[1:])
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    write_markdown(res, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
