"""Trie-constrained (diverse) beam search over a seq2seq model's forward pass.

transformers 5 moved group beam search out of its core library, so semid decodes with its
own loop: the encoder runs once per batch, the decoder runs one token per step with its
KV cache (``EncoderDecoderCache``), and the self-attention cache is reordered by the
chosen beams after each step. Every step only considers the codes that the
:class:`~semid.generative.trie.IDTrie` allows after the beam's prefix, so only existing IDs
come out. A beam's score is the sum of the model's log-probabilities of its tokens
(log-softmax over the whole vocabulary), which is also what exhaustive scoring computes.

Diverse beam search follows Vijayakumar et al., "Diverse Beam Search: Decoding Diverse
Solutions from Neural Sequence Models" (AAAI 2018, arXiv 1610.02424), with Hamming
diversity as in the paper's setting (beam 60, 30 groups, penalty 0.25; Penha et al. 2025):
the beams are split into ``num_groups`` groups decoded in turn at each step, and group
``g``'s candidate scores are lowered by ``diversity_penalty`` times the number of beams of
groups ``< g`` that chose the same code at this step. The penalised sums steer which beams
each group keeps; the final IDs are ranked by their unpenalised log-probability, and an
ID reached by two groups is kept once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from semid.generative.trie import IDTrie

logger = logging.getLogger(__name__)

__all__ = ["BeamResult", "constrained_beam_search", "score_all_ids"]


@dataclass
class BeamResult:
    """leaves: int64 (B, K) trie leaves best first, -1 where fewer IDs were found;
    scores: float32 (B, K) their log-probabilities (-inf where leaf is -1)."""

    leaves: np.ndarray
    scores: np.ndarray


def _start_id(model) -> int:
    sid = getattr(model.config, "decoder_start_token_id", None)
    if sid is None:
        sid = getattr(getattr(model, "generation_config", None), "decoder_start_token_id", None)
    if sid is None:
        sid = model.config.pad_token_id
    return int(sid)


@torch.inference_mode()
def constrained_beam_search(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, trie: IDTrie,
                            level_offsets: list[int] | np.ndarray, beam_size: int = 30, num_groups: int = 1,
                            diversity_penalty: float = 0.0) -> BeamResult:
    """Beam search restricted to the IDs in ``trie``.

    input_ids, attention_mask: int64 (B, S) encoder inputs (right-padded).
    level_offsets: the token id of code 0 at each depth of the trie (codes are consecutive).
    beam_size: beams per query (``K``), split into ``num_groups`` groups of ``K / num_groups``.
    """
    from transformers import DynamicCache, EncoderDecoderCache

    if beam_size < 1 or num_groups < 1 or beam_size % num_groups:
        raise ValueError(f"beam_size ({beam_size}) must be a positive multiple of num_groups ({num_groups})")
    if diversity_penalty < 0:
        raise ValueError(f"diversity_penalty must be >= 0, got {diversity_penalty}")
    device = input_ids.device
    B, K, G = input_ids.shape[0], beam_size, num_groups
    Kg = K // G
    enc = model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask)
    hidden = enc.last_hidden_state
    cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
    dec_in = torch.full((B, 1), _start_id(model), dtype=torch.long, device=device)
    children = trie.children_tensors(device)
    n_prev = 1  # beams per query before this step
    sel = torch.zeros(B, 1, device=device)  # penalised sums (drive selection)
    lp = torch.zeros(B, 1, device=device)  # true log-probabilities
    node = torch.zeros(B, 1, dtype=torch.long, device=device)
    am = attention_mask
    for t, size in enumerate(trie.level_sizes):
        out = model(encoder_outputs=(hidden,), attention_mask=am, decoder_input_ids=dec_in,
                    past_key_values=cache, use_cache=True)
        cache = out.past_key_values
        logp = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)
        off = int(level_offsets[t])
        logp = logp[:, off:off + size].view(B, n_prev, size)
        alive = node >= 0
        child = children[t][node.clamp(min=0)]  # (B, n_prev, size)
        valid = (child >= 0) & alive[..., None]
        cand_lp = torch.where(valid, lp[..., None] + logp, float("-inf"))
        cand_sel = torch.where(valid, sel[..., None] + logp, float("-inf"))
        new_sel, new_lp, new_src, new_code = [], [], [], []
        counts = torch.zeros(B, size, device=device) if G > 1 and diversity_penalty > 0 else None
        for g in range(G):
            lo, hi = (0, 1) if n_prev == 1 else (g * Kg, (g + 1) * Kg)
            s = cand_sel[:, lo:hi, :]
            if counts is not None and g > 0:
                s = s - diversity_penalty * counts[:, None, :]
            s = s.reshape(B, -1)
            kk = min(Kg, s.shape[1])
            top, idx = torch.topk(s, kk, dim=1)
            if kk < Kg:  # fewer candidates than beams: pad with dead beams
                top = torch.cat([top, torch.full((B, Kg - kk), float("-inf"), device=device)], 1)
                idx = torch.cat([idx, torch.zeros((B, Kg - kk), dtype=idx.dtype, device=device)], 1)
            src = lo + idx // size
            code = idx % size
            new_sel.append(top)
            g_lp = torch.gather(cand_lp[:, lo:hi, :].reshape(B, -1), 1, idx)
            new_lp.append(torch.where(torch.isfinite(top), g_lp, float("-inf")))
            new_src.append(src)
            new_code.append(code)
            if counts is not None:
                counts.scatter_add_(1, code, torch.isfinite(top).float())
        sel = torch.cat(new_sel, 1)
        lp = torch.cat(new_lp, 1)
        src = torch.cat(new_src, 1)
        code = torch.cat(new_code, 1)
        n_new = sel.shape[1]
        node = torch.gather(child.reshape(B, -1), 1, src * size + code)
        node = torch.where(torch.isfinite(lp), node, torch.full_like(node, -1))
        if t + 1 == trie.depth:
            break
        flat = (torch.arange(B, device=device)[:, None] * n_prev + src).reshape(-1)
        if n_prev == 1:  # first expansion: every cache (self and cross) and the encoder states
            cache.reorder_cache(flat)
            hidden = hidden.index_select(0, flat)
            am = am.index_select(0, flat)
        else:  # cross-attention states are equal across a query's beams: only self-attention moves
            cache.self_attention_cache.reorder_cache(flat)
        dec_in = (code + off).reshape(-1, 1)
        n_prev = n_new
    # rank by the true log-probability; keep each leaf once
    lp_np = lp.cpu().numpy()
    node_np = node.cpu().numpy()
    if G == 1:  # plain beam search: beams are distinct paths, already sorted by log-probability
        leaves = np.where(np.isfinite(lp_np), node_np, -1).astype(np.int64)
        scores = np.where(leaves >= 0, lp_np, -np.inf).astype(np.float32)
        if leaves.shape[1] < K:
            pad = K - leaves.shape[1]
            leaves = np.pad(leaves, ((0, 0), (0, pad)), constant_values=-1)
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        return BeamResult(leaves, scores)
    leaves = np.full((B, K), -1, dtype=np.int64)
    scores = np.full((B, K), -np.inf, dtype=np.float32)
    for b in range(B):
        order = np.argsort(-lp_np[b], kind="stable")
        seen: set[int] = set()
        j = 0
        for i in order:
            leaf = int(node_np[b, i])
            if leaf < 0 or not np.isfinite(lp_np[b, i]) or leaf in seen:
                continue
            seen.add(leaf)
            leaves[b, j] = leaf
            scores[b, j] = lp_np[b, i]
            j += 1
    return BeamResult(leaves, scores)


@torch.inference_mode()
def score_all_ids(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, trie: IDTrie,
                  level_offsets: list[int] | np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Exhaustive reference: float32 (B, n_leaves) log-probability of every valid ID.

    Teacher-forced, no cache; used by tests and to check the beam search.
    """
    B = input_ids.shape[0]
    labels_all = torch.as_tensor(trie.leaf_codes + np.asarray(level_offsets)[None, :], dtype=torch.long)
    out = np.zeros((B, trie.n_leaves), dtype=np.float32)
    start = _start_id(model)
    enc = model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    for b in range(B):
        for s in range(0, trie.n_leaves, chunk):
            lab = labels_all[s:s + chunk].to(input_ids.device)
            n = lab.shape[0]
            dec = torch.cat([torch.full((n, 1), start, dtype=torch.long, device=lab.device), lab[:, :-1]], 1)
            h = enc[b:b + 1].expand(n, -1, -1)
            m = attention_mask[b:b + 1].expand(n, -1)
            logits = model(encoder_outputs=(h,), attention_mask=m, decoder_input_ids=dec).logits.float()
            logp = torch.log_softmax(logits, -1).gather(2, lab[..., None]).squeeze(-1).sum(1)
            out[b, s:s + n] = logp.cpu().numpy()
    return out
