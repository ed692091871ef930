"""Decoding and training throughput of the generative retriever.

Decoding: queries per second at beams 20 and 60 for semid's trie-constrained beam search
(`semid.generative.decode.constrained_beam_search`, encoder once + KV cache) against
transformers' `generate(num_beams=K, prefix_allowed_tokens_fn=...)` on the same model and
the same queries, checking that both return the same IDs. Training: examples per second of
the default `small` model on batches shaped like the joint examples.

    python benchmarks/bench_decoding.py [--queries 64] [--batch 16] [--threads 1]

Writes benchmarks/results/decoding.json and decoding.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"


def build(n_items: int, levels: int, codebook: int, seed: int = 0):
    from transformers import T5Config, T5ForConditionalGeneration

    from semid.generative.trie import IDTrie
    from semid.ids.types import SemanticIDs

    rng = np.random.default_rng(seed)
    codes = rng.integers(0, codebook, (n_items, levels))
    ids = SemanticIDs(codes, [f"l{j}" for j in range(levels)], [codebook] * levels,
                      {"search": list(range(levels)), "rec": list(range(levels))})
    base = 4000
    torch.manual_seed(seed)
    cfg = T5Config(vocab_size=base + levels * codebook, d_model=128, d_kv=32, d_ff=512, num_layers=2,
                   num_decoder_layers=2, num_heads=4, dropout_rate=0.0, decoder_start_token_id=0,
                   pad_token_id=0, eos_token_id=1)
    model = T5ForConditionalGeneration(cfg).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(4.0)  # a peaked distribution like a trained model's
    trie = IDTrie.build(ids, "search", popularity=rng.integers(0, 100, n_items))
    offsets = [base + j * codebook for j in range(levels)]
    return model, trie, offsets


def ours(model, trie, offsets, inp, mask, beam, batch):
    from semid.generative.backends.t5 import T5Backend
    from semid.generative.decode import constrained_beam_search

    backend = T5Backend(model, offsets={"search": offsets})
    leaves = []
    for s in range(0, len(inp), batch):
        memory = backend.memory_from_tokens(inp[s:s + batch], mask[s:s + batch])
        r = constrained_beam_search(backend, memory, trie, beam_size=beam)
        leaves.append(r.leaves)
    return np.concatenate(leaves)


def hf(model, trie, offsets, inp, mask, beam, batch):
    offs = np.asarray(offsets)

    def allowed(batch_id, ids):
        prefix = ids[1:].tolist()
        t = len(prefix)
        if t >= trie.depth:
            return [int(model.config.eos_token_id)]
        codes = [p - int(offs[j]) for j, p in enumerate(prefix)]
        return (trie.allowed_codes(codes) + int(offs[t])).tolist()

    out = []
    with torch.inference_mode():
        for s in range(0, len(inp), batch):
            g = model.generate(input_ids=inp[s:s + batch], attention_mask=mask[s:s + batch], num_beams=beam,
                               num_return_sequences=beam, max_new_tokens=trie.depth, min_new_tokens=trie.depth,
                               prefix_allowed_tokens_fn=allowed, do_sample=False, length_penalty=0.0,
                               early_stopping=True, output_scores=False)
            seqs = g[:, 1:1 + trie.depth].cpu().numpy() - offs[None, :]
            leaves = np.array([trie.leaf_of(c) for c in seqs]).reshape(-1, beam)
            out.append(leaves)
    return np.concatenate(out)


def timed(fn, *a):
    t = time.perf_counter()
    r = fn(*a)
    return r, time.perf_counter() - t


def training_throughput(steps: int = 6, batch: int = 128, seq: int = 43, label_len: int = 2) -> float:
    from transformers import T5Config, T5ForConditionalGeneration

    cfg = T5Config(vocab_size=4512, d_model=128, d_kv=32, d_ff=512, num_layers=2, num_decoder_layers=2,
                   num_heads=4, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    model = T5ForConditionalGeneration(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    x = torch.randint(2, 4512, (batch, seq))
    y = torch.randint(4000, 4512, (batch, label_len))
    model(input_ids=x, labels=y).loss.backward()  # warm-up
    opt.zero_grad()
    t = time.perf_counter()
    for _ in range(steps):
        model(input_ids=x, labels=y).loss.backward()
        opt.step()
        opt.zero_grad()
    return steps * batch / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--codebook", type=int, default=64)
    ap.add_argument("--levels", type=int, default=2)
    ap.add_argument("--beams", type=int, nargs="+", default=[20, 60])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, trie, offsets = build(args.items, args.levels, args.codebook)
    g = torch.Generator().manual_seed(1)
    inp = torch.randint(2, 4000, (args.queries, 16), generator=g)
    inp[:, -1] = 1
    mask = torch.ones_like(inp)
    rows = []
    for beam in args.beams:
        ours(model, trie, offsets, inp[:args.batch], mask[:args.batch], beam, args.batch)  # warm-up
        a, ta = timed(ours, model, trie, offsets, inp, mask, beam, args.batch)
        b, tb = timed(hf, model, trie, offsets, inp, mask, beam, args.batch)
        same_sets = float(np.mean([set(x.tolist()) == set(y.tolist()) for x, y in zip(a, b, strict=True)]))
        same_order = float(np.mean([np.array_equal(x, y) for x, y in zip(a, b, strict=True)]))
        rows.append({"beam": beam, "semid_qps": args.queries / ta, "generate_qps": args.queries / tb,
                     "speedup": tb / ta, "same_items": same_sets, "same_order": same_order})
        print(rows[-1], flush=True)
    train_eps = training_throughput()
    print({"train_examples_per_s": train_eps})
    res = {"setup": {**vars(args), "n_leaves": trie.n_leaves, "model": "T5 d_model 128, 2+2 layers, 4 heads (random)",
                     "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
                     "device": "cpu", "note": "shared 2-core machine; other jobs were running"},
           "decoding": rows, "train_examples_per_s_small_default": train_eps}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "decoding.json").write_text(json.dumps(res, indent=2) + "\n")
    lines = ["# Decoding throughput: semid constrained beam search vs transformers generate", "",
             f"{args.queries} queries, batch {args.batch}, {trie.n_leaves} valid IDs ({args.levels} levels x "
             f"{args.codebook} codes), {res['setup']['model']}, CPU, {args.threads} thread(s).", "",
             "| beam | semid q/s | generate q/s | speedup | same items | same order |", "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['beam']} | {r['semid_qps']:.1f} | {r['generate_qps']:.1f} | {r['speedup']:.1f}x | "
                     f"{r['same_items']:.0%} | {r['same_order']:.0%} |")
    lines += ["", f"Training throughput of the default `small` model (batch 128, input 43 tokens): "
                  f"{train_eps:.0f} examples/s.", ""]
    (RESULTS / "decoding.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
