"""A lighter trainable part for the ``encoder-decoder`` backend (``decoder = "mlp"``): the memory
is pooled once into a context vector, and each ID level is read off a residual MLP of the
context plus the embeddings of the codes emitted so far.

Why: on a CPU the transformer decoder (:mod:`.id_decoder`) spends most of a step in many small
operations (per-head attention matrices, dropout masks) over a 3-token target; the levels of a
Semantic ID form a short prefix, so a bag of the prefix's code embeddings carries what the
next level needs. The issue that introduced this backend measured such a hierarchical
classifier at search 0.084 / rec 0.118 against 0.080 / 0.121 for the transformer, at a third
of the time per epoch; ``benchmarks/results/decoder_choice.md`` has semid's own measurement.

- **Input of level t**: ``u_t = tok(start of task) + sum_{j<t} tok(code_j) + pos_t``: a bag of
  the prefix (teacher forcing is a cumulative sum over the decoder inputs).
- **Memory read**: the memory (the search text's pooled sentence embedding or token states,
  projected; the rec history's tied ID-token embeddings summed per item, plus positions) is
  read by one attention per position whose query is the task's learned query plus a
  projection of ``u_t``, per head, with the memory itself as keys and values (no projections).
- **Level t**: ``u_t + read_t`` through ``layers`` residual MLP blocks; the logits are dot
  products with the embeddings of level t's codes only (tied with the inputs, as in the
  transformer decoder). Incremental decoding keeps the memory and the running sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from semid.generative.backends.id_decoder import (
    TASK_INDEX,
    IDDecoder,
    init_id_vocabulary,
    search_parts,
)

__all__ = ["PrefixMLPDecoder", "MLPCache"]


class _ResidualMLP(nn.Module):
    def __init__(self, d: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, d_ff), nn.GELU(), nn.Linear(d_ff, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop(self.ff(self.norm(x)))


@dataclass
class MLPCache:
    """Incremental decoding state: the memory (N, S, d) and its mask (N, S), the running sum of
    input embeddings (N, d), the next input tokens (int64 (N,)) and the position."""

    memory: torch.Tensor
    mask: torch.Tensor
    prefix: torch.Tensor
    tokens: torch.Tensor
    task: str
    pos: int = 0


class PrefixMLPDecoder(nn.Module):
    """See the module docstring. Same constructor arguments and token layout as
    :class:`~.id_decoder.IDDecoder` (``rec_layers`` must be 0: the history is pooled, not encoded)."""

    def __init__(self, level_sizes: list[int], task_levels: dict[str, list[int]], enc_dim: int, d_model: int = 128,
                 heads: int = 4, d_ff: int = 512, layers: int = 1, rec_layers: int = 0, dropout: float = 0.1,
                 max_history: int = 64, search_memory: str = "pooled", search_projection: str = "learned",
                 cross_kv_heads: int | None = None, self_attention: bool = True) -> None:
        super().__init__()
        if rec_layers:
            raise ValueError(f"the mlp decoder pools the rec history directly; rec_layers must be 0, got {rec_layers}")
        init_id_vocabulary(self, level_sizes, task_levels, enc_dim, d_model, heads, max_history, search_memory,
                           search_projection)
        self.pool_query = nn.Parameter(torch.zeros(len(TASK_INDEX), d_model))  # zeros: a plain mean at first
        self.query_proj = nn.Linear(d_model, d_model)
        self.pool_out = nn.Sequential(nn.Linear(d_model, d_model), nn.LayerNorm(d_model))
        self.blocks = nn.ModuleList([_ResidualMLP(d_model, d_ff, dropout) for _ in range(layers)])
        self.out_norm = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)

    # ------------------------------------------------------------------ memory
    search_memory = IDDecoder.search_memory

    def rec_memory(self, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens: int64 (B, H, L), ``pad`` where mask is False; mask: bool (B, H) -> one slot per
        history item: the sum of its tied ID-token embeddings plus its position."""
        H = tokens.shape[1]
        if H > self.hist_pos.num_embeddings:
            raise ValueError(f"history of {H} items exceeds the model's max_history {self.hist_pos.num_embeddings}")
        x = self.tok(tokens).sum(2) + self.hist_pos(torch.arange(H, device=tokens.device))[None]
        return self.drop(x), mask

    def context(self, task: str, memory: torch.Tensor, mask: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """float (B, L, d): per position, the memory read by attention with a query made from the
        position's input ``u`` (B, L, d: start token, codes so far, position) and the task's
        learned query, per head; keys and values are the memory itself (no projections)."""
        B, S, d = memory.shape
        if S == 1:  # one slot (a pooled search text): nothing to choose
            read = memory.expand(-1, u.shape[1], -1)
        else:
            h, dh = self.heads, d // self.heads
            m = memory.view(B, S, h, dh)
            q = (self.pool_query[TASK_INDEX[task]] + self.query_proj(u)).view(B, u.shape[1], h, dh)
            scores = torch.einsum("blhd,bshd->bhls", q, m) / dh ** 0.5
            scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
            read = torch.einsum("bhls,bshd->blhd", scores.softmax(-1), m).reshape(B, u.shape[1], d)
        return self.pool_out(read)

    def _head(self, u: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            u = blk(u)
        return self.out_norm(u)

    # ----------------------------------------------------------------- training
    def teacher_forced_hidden(self, task: str, memory, memory_mask, dec_in) -> torch.Tensor:
        """float (B, L, d): the normalised states of every position (inputs: start token, then
        the target's codes but the last)."""
        L = dec_in.shape[1]
        u = self.tok(dec_in).cumsum(1) + self.dec_pos(torch.arange(L, device=dec_in.device))[None]
        return self._head(self.drop(u + self.context(task, memory, memory_mask, u)))

    def teacher_forced_logits(self, memory, memory_mask, dec_in, task: str = "search") -> torch.Tensor:
        """float (B, L, V): logits of every position over the whole ID vocabulary, no cache."""
        return self.teacher_forced_hidden(task, memory, memory_mask, dec_in) @ self.tok.weight[:self.V].T + self.out_bias

    def forward(self, dec_in: torch.Tensor, labels: torch.Tensor, task_idx: torch.Tensor,
                q_states: torch.Tensor | None = None, q_mask: torch.Tensor | None = None,
                r_tokens: torch.Tensor | None = None, r_mask: torch.Tensor | None = None,
                i_states: torch.Tensor | None = None, i_mask: torch.Tensor | None = None,
                q_memory: torch.Tensor | None = None, i_memory: torch.Tensor | None = None) -> torch.Tensor:
        """The same batch layout and loss as :meth:`IDDecoder.forward`."""
        parts = [("search", *p) for p in search_parts(self, q_states, q_mask, i_states, i_mask, q_memory, i_memory)]
        if r_tokens is not None:
            parts.append(("rec", *self.rec_memory(r_tokens, r_mask)))
        hidden, start = [], 0
        for task, memory, memory_mask in parts:
            n = memory.shape[0]
            hidden.append(self.teacher_forced_hidden(task, memory, memory_mask, dec_in[start:start + n]))
            start += n
        return IDDecoder.level_loss(self, torch.cat(hidden), labels, task_idx)

    # ----------------------------------------------------------------- decoding
    def start(self, task: str, memory: torch.Tensor, memory_mask: torch.Tensor) -> MLPCache:
        B, _, d = memory.shape
        tokens = torch.full((B,), self.bos[task], dtype=torch.long, device=memory.device)
        return MLPCache(memory, memory_mask, memory.new_zeros(B, d), tokens, task)

    def step(self, cache: MLPCache, size: int) -> torch.Tensor:
        """float32 (N, size): log-probabilities of the codes at position ``cache.pos``."""
        pos = cache.pos
        cache.prefix = cache.prefix + self.tok(cache.tokens)
        u = (cache.prefix + self.dec_pos.weight[pos][None])[:, None]
        h = self._head(u + self.context(cache.task, cache.memory, cache.mask, u))[:, 0]
        off = self.task_offsets[cache.task][pos]
        logits = h @ self.tok.weight[off:off + size].T + self.out_bias[off:off + size]
        return torch.log_softmax(logits.float(), dim=-1)

    def advance(self, cache: MLPCache, src: torch.Tensor, codes: torch.Tensor) -> MLPCache:
        cache.memory = cache.memory.index_select(0, src)
        cache.mask = cache.mask.index_select(0, src)
        cache.prefix = cache.prefix.index_select(0, src)
        cache.tokens = codes + self.task_offsets[cache.task][cache.pos]
        cache.pos += 1
        return cache

