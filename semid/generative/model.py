"""Seq2seq model loading and Semantic-ID tokens.

Two sources (DESIGN.md step 4):

- a hub name or local path (``google/flan-t5-base`` is the paper's model), loaded with
  ``AutoTokenizer`` / ``AutoModelForSeq2SeqLM``;
- ``small``: a T5 built from a :class:`~transformers.T5Config` with configurable sizes and a
  BPE tokenizer trained on the dataset's own text (:mod:`semid.generative.tokenizer`). It
  needs no network and no pretrained weights.

Then one new token per (level, code) is added (``SemanticIDs.all_tokens()``; under the
``separate`` scheme each task has its own levels and so its own token set).

**Initialisation of the ID-token embeddings** ("content-mean" init): the embedding of token
``<level_c>`` is the mean, over the items whose code at that level is ``c``, of the mean
input embedding of the item's text tokens, plus Gaussian noise of 1% of the embedding
matrix's standard deviation (to break ties between codes shared by the same items). A code
no item uses gets the mean of all text-token embeddings plus the same noise. With a
pretrained model this places each code near the words of the items it stands for; with the
``small`` model it is a neutral start. T5 ties the output layer to the input embeddings, so
the same rows serve as the output embeddings; an untied ``lm_head`` gets the same init
computed from its own rows.
"""

from __future__ import annotations

import logging

import numpy as np

from semid.ids.types import SemanticIDs

logger = logging.getLogger(__name__)

__all__ = ["build_model", "add_id_tokens", "SMALL"]

SMALL = "small"


def _load_pretrained(name_or_path: str):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(name_or_path)
        model = AutoModelForSeq2SeqLM.from_pretrained(name_or_path)
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"cannot load the seq2seq model {name_or_path!r} ({type(exc).__name__}: {str(exc).splitlines()[0]}). "
            f"Without network access use `--model small` (a T5 built from a config, trained from scratch) "
            f"or pass a local directory that holds a saved model and tokenizer."
        ) from None
    return model, tok


def build_small(texts: list[str], vocab_size: int = 4000, d_model: int = 128, d_ff: int = 512,
                num_layers: int = 2, num_decoder_layers: int = 2, num_heads: int = 4,
                dropout: float = 0.1, seed: int = 0):
    """A randomly initialised T5 and a BPE tokenizer trained on ``texts``."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    from semid.generative.tokenizer import train_tokenizer

    if d_model % num_heads:
        raise ValueError(f"small model: d_model ({d_model}) must be divisible by num_heads ({num_heads})")
    tok = train_tokenizer(texts, vocab_size=vocab_size)
    config = T5Config(
        vocab_size=len(tok), d_model=d_model, d_kv=d_model // num_heads, d_ff=d_ff, num_layers=num_layers,
        num_decoder_layers=num_decoder_layers, num_heads=num_heads, dropout_rate=dropout,
        pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id,
        relative_attention_num_buckets=16, relative_attention_max_distance=64,
    )
    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(config)
    return model, tok


def build_model(spec: str, texts: list[str], seed: int = 0, **small_sizes):
    """Return ``(model, tokenizer)`` for ``spec`` (``"small"``, a hub name or a local path)."""
    if spec == SMALL:
        return build_small(texts, seed=seed, **small_sizes)
    return _load_pretrained(spec)


def _text_token_ids(tokenizer, texts: list[str], n_base: int) -> list[np.ndarray]:
    enc = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [np.asarray([t for t in ids if t < n_base], dtype=np.int64) for ids in enc]


def _content_mean_rows(weight: np.ndarray, item_tokens: list[np.ndarray], ids: SemanticIDs,
                       rng: np.random.Generator) -> np.ndarray:
    """float32 (n_id_tokens, d): the content-mean init for every (level, code) token."""
    d = weight.shape[1]
    global_mean = weight.mean(0)
    item_vec = np.stack([weight[t].mean(0) if len(t) else global_mean for t in item_tokens]) if item_tokens \
        else np.zeros((0, d), dtype=weight.dtype)
    noise_std = 0.01 * float(weight.std())
    rows = []
    for j, size in enumerate(ids.level_sizes):
        sums = np.zeros((size, d), dtype=np.float64)
        counts = np.bincount(ids.codes[:, j], minlength=size).astype(np.float64)
        np.add.at(sums, ids.codes[:, j], item_vec)
        mean = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], global_mean[None, :])
        rows.append(mean + rng.normal(0.0, noise_std, size=mean.shape))
    return np.concatenate(rows).astype(np.float32)


def add_id_tokens(model, tokenizer, ids: SemanticIDs, item_texts: list[str] | None = None,
                  seed: int = 0) -> dict[str, int]:
    """Add every (level, code) token of ``ids`` and initialise its embedding (module docstring).

    Returns the map token -> token id. Tokens already in the vocabulary are an error,
    so that a model is never given the same IDs twice.
    """
    import torch

    tokens = ids.all_tokens()
    vocab = tokenizer.get_vocab()
    clash = [t for t in tokens if t in vocab]
    if clash:
        raise ValueError(f"the tokenizer already holds ID tokens such as {clash[:3]}; load a model without ID tokens")
    n_base = len(tokenizer)
    tokenizer.add_tokens(tokens, special_tokens=True)
    token_ids = tokenizer.convert_tokens_to_ids(tokens)
    if list(token_ids) != list(range(n_base, n_base + len(tokens))):
        raise RuntimeError("ID tokens did not receive consecutive ids; the tokenizer is not a fast tokenizer?")
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    rng = np.random.default_rng(seed)
    item_tokens = _text_token_ids(tokenizer, item_texts, n_base) if item_texts else [np.zeros(0, np.int64)] * ids.n_items
    emb = model.get_input_embeddings().weight
    with torch.no_grad():
        rows = _content_mean_rows(emb[:n_base].detach().float().cpu().numpy(), item_tokens, ids, rng)
        emb[n_base:n_base + len(tokens)] = torch.from_numpy(rows).to(emb.dtype)
        out = model.get_output_embeddings()
        if out is not None and out.weight.data_ptr() != emb.data_ptr():
            w = out.weight
            rows = _content_mean_rows(w[:n_base].detach().float().cpu().numpy(), item_tokens, ids, rng)
            w[n_base:n_base + len(tokens)] = torch.from_numpy(rows).to(w.dtype)
    logger.info("added %d ID tokens (ids %d..%d)", len(tokens), n_base, n_base + len(tokens) - 1)
    return dict(zip(tokens, token_ids, strict=True))
