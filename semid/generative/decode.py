"""Trie-constrained (diverse) beam search over any model backend.

transformers 5 moved group beam search out of its core library, so semid decodes with its
own loop over the :class:`~semid.generative.backends.Backend` interface: the backend encodes
the batch once (``encode``), then scores one level at a time (``step``) and carries its
cache to the chosen beams (``advance``). Every step only considers the codes that the
:class:`~semid.generative.trie.IDTrie` allows after the beam's prefix, so only existing IDs
come out. A beam's score is the sum of the backend's log-probabilities of its codes, which
is also what exhaustive scoring (``Backend.score_codes``) computes.

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
from typing import Any

import numpy as np
import torch

from semid.generative.config import DEFAULT_BEAM_SIZE
from semid.generative.trie import IDTrie

logger = logging.getLogger(__name__)

__all__ = ["BeamResult", "constrained_beam_search", "score_all_ids"]


@dataclass
class BeamResult:
    """leaves: int64 (B, K) trie leaves best first, -1 where fewer IDs were found;
    scores: float32 (B, K) their log-probabilities (-inf where leaf is -1)."""

    leaves: np.ndarray
    scores: np.ndarray


def _check(beam_size: int, num_groups: int, diversity_penalty: float) -> None:
    if beam_size < 1 or num_groups < 1 or beam_size % num_groups:
        raise ValueError(f"beam_size ({beam_size}) must be a positive multiple of num_groups ({num_groups})")
    if diversity_penalty < 0:
        raise ValueError(f"diversity_penalty must be >= 0, got {diversity_penalty}")


@torch.inference_mode()
def constrained_beam_search(backend, memory: Any, trie: IDTrie, beam_size: int = DEFAULT_BEAM_SIZE, num_groups: int = 1,
                            diversity_penalty: float = 0.0) -> BeamResult:
    """Beam search restricted to the IDs in ``trie`` (of task ``trie.task``).

    memory: ``backend.encode(trie.task, inputs)`` for a batch of B inputs.
    beam_size: beams per input (``K``), split into ``num_groups`` groups of ``K / num_groups``.
    """
    _check(beam_size, num_groups, diversity_penalty)
    device = backend.device
    B, K, G = backend.batch_size_of(memory), beam_size, num_groups
    Kg = K // G
    state = backend.start(trie.task, memory)
    children = trie.children_tensors(device)
    n_prev = 1  # beams per query before this step
    sel = torch.zeros(B, 1, device=device)  # penalised sums (drive selection)
    lp = torch.zeros(B, 1, device=device)  # true log-probabilities
    node = torch.zeros(B, 1, dtype=torch.long, device=device)
    for t, size in enumerate(trie.level_sizes):
        logp = backend.step(state, t, size).float().view(B, n_prev, size)
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
            new_sel.append(top)
            g_lp = torch.gather(cand_lp[:, lo:hi, :].reshape(B, -1), 1, idx)
            new_lp.append(torch.where(torch.isfinite(top), g_lp, float("-inf")))
            new_src.append(lo + idx // size)
            new_code.append(idx % size)
            if counts is not None:
                counts.scatter_add_(1, idx % size, torch.isfinite(top).float())
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
        state = backend.advance(state, t, flat, code.reshape(-1))
        n_prev = n_new
    return _rank(lp.cpu().numpy(), node.cpu().numpy(), K, G)


def _rank(lp_np: np.ndarray, node_np: np.ndarray, K: int, G: int) -> BeamResult:
    """Rank the final beams by their true log-probability; keep each leaf once."""
    B = lp_np.shape[0]
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


def score_all_ids(backend, memory: Any, trie: IDTrie) -> np.ndarray:
    """Exhaustive reference: float32 (B, n_leaves) log-probability of every valid ID of
    ``trie`` (teacher-forced by the backend; used by tests to check the beam search)."""
    return backend.score_codes(trie.task, memory, trie.leaf_codes, trie.level_sizes)
