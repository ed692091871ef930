"""Build RQ-KMeans Semantic IDs for a prepared dataset from MiniLM content embeddings.

Used for the generative model's done-when check on ml-latest-small:
    python benchmarks/mls_build_ids.py --data RUN/data --out RUN/ids/rqk --codebook 64 --levels 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--codebook", type=int, default=64)
    ap.add_argument("--levels", type=int, default=2)
    args = ap.parse_args()
    from semid.data import Dataset
    from semid.embed.sentence import encode_texts, load_sentence_model
    from semid.ids.base import make_quantizer
    from semid.ids.types import SemanticIDs

    ds = Dataset.load(args.data)
    t = time.time()
    model = load_sentence_model("all-MiniLM-L6-v2", device="cpu")
    X = np.asarray(encode_texts(model, ds.texts, batch_size=128, show_progress=False), dtype=np.float32)
    print(f"embedded {X.shape} in {time.time() - t:.1f}s")
    t = time.time()
    q = make_quantizer("rq-kmeans", codebook_size=args.codebook, levels=args.levels, seed=0)
    codes = q.fit(X).encode(X)
    names = [f"c{j}" for j in range(args.levels)]
    ids = SemanticIDs(codes, names, [args.codebook] * args.levels, {"search": list(range(args.levels)), "rec": list(range(args.levels))},
                      scheme="shared", config={"quantizer": "rq-kmeans", "embedding": "minilm-content", "bucket_order": "popularity"})
    ids.save(args.out)
    distinct = len(np.unique(codes, axis=0))
    print(f"quantized in {time.time() - t:.1f}s: {distinct} distinct IDs for {len(codes)} items")


if __name__ == "__main__":
    main()
