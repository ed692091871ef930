"""The trainable part of the ``encoder-decoder`` backend: a small transformer that emits an ID
level by level, cross-attending to a memory.

- **Search memory**: the frozen encoder's token states (d_enc), projected to ``d_model``: by their
  fixed principal components (``search_projection = "pca"``, :mod:`.projection`) or a trained layer.
- **Rec memory**: the history's ID tokens through the *same* embedding table as the decoder's
  input and output (tied), summed per item (one memory slot per history item, a third of the
  tokens and of the cost with 3-level IDs), plus learned positions, through ``rec_layers``
  self-attention blocks, so that both tasks share one ID vocabulary, as the paper's joint
  model does.
- **Decoder**: ``layers`` pre-norm blocks (causal self-attention, cross-attention with
  ``cross_kv_heads`` key/value heads, MLP; without self-attention each position's input is the sum
  of the codes so far). The
  first input is a per-task start token; the logits of level ``t`` are the dot products with
  the embeddings of level ``t``'s tokens only (a softmax over that level's codes).

Token ids: level ``j``'s code ``c`` is ``sum(level_sizes[:j]) + c``; then the start tokens of
search and rec, then padding. Incremental decoding keeps per-layer caches: the cross-attention
keys and values (computed once per batch) and the self-attention keys and values so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from semid.generative.backends.projection import PCAProjection
from semid.generative.config import SEARCH_MEMORY, SEARCH_PROJECTIONS

__all__ = ["IDDecoder", "DecoderCache", "TASK_INDEX", "SEARCH_MEMORY", "pool_states", "init_id_vocabulary", "search_parts", "packed"]

TASK_INDEX = {"search": 0, "rec": 1}


def pool_states(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """float (B, d): the L2-normalised mean of each row's unmasked states (a sentence embedding)."""
    m = mask.to(states.dtype)[..., None]
    mean = (states * m).sum(1) / m.sum(1).clamp_min(1.0)
    return F.normalize(mean, dim=-1)


def init_id_vocabulary(module: nn.Module, level_sizes: list[int], task_levels: dict[str, list[int]], enc_dim: int,
                       d_model: int, heads: int, max_history: int, search_memory: str,
                       search_projection: str = "learned") -> None:
    """What every ID decoder has, set on ``module`` (the token layout of the module docstring):
    the tied ID-token embeddings and output bias, target and history positions, and the projection
    of the search text's encoder states (``learned``, or the fixed ``pca`` of
    :mod:`~semid.generative.backends.projection`); settings checked."""
    if d_model % heads:
        raise ValueError(f"d_model ({d_model}) must be divisible by heads ({heads})")
    if search_memory not in SEARCH_MEMORY:
        raise ValueError(f"search_memory {search_memory!r} is unknown; choose one of {list(SEARCH_MEMORY)}")
    if search_projection not in SEARCH_PROJECTIONS:
        raise ValueError(f"search_projection {search_projection!r} is unknown; choose one of {list(SEARCH_PROJECTIONS)}")
    module.search_memory_kind = search_memory
    module.heads = heads
    module.level_sizes = [int(s) for s in level_sizes]
    module.V = sum(module.level_sizes)
    module.bos = {"search": module.V, "rec": module.V + 1}
    module.pad = module.V + 2
    starts = [sum(module.level_sizes[:j]) for j in range(len(module.level_sizes))]
    module.task_offsets = {t: [starts[j] for j in cols] for t, cols in task_levels.items()}
    module.task_sizes = {t: [module.level_sizes[j] for j in cols] for t, cols in task_levels.items()}
    L = max(len(c) for c in task_levels.values())
    module.tok = nn.Embedding(module.V + 3, d_model)
    nn.init.normal_(module.tok.weight, std=0.02)
    module.out_bias = nn.Parameter(torch.zeros(module.V))
    module.dec_pos = nn.Embedding(L, d_model)
    module.hist_pos = nn.Embedding(max_history, d_model)
    nn.init.normal_(module.dec_pos.weight, std=0.02)
    nn.init.normal_(module.hist_pos.weight, std=0.02)
    module.q_proj = (PCAProjection(enc_dim, d_model) if search_projection == "pca"
                     else nn.Sequential(nn.Linear(enc_dim, d_model), nn.LayerNorm(d_model)))


def search_parts(module, q_states, q_mask, i_states, i_mask, q_memory, i_memory) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The (memory, mask) of a batch's search parts, queries then item texts: from the encoder's
    states (projected here), or from ``*_memory``, token states the backend projected already (the
    fixed ``pca`` projection, ``tokens`` memory)."""
    parts = []
    for states, memory, mask in ((q_states, q_memory, q_mask), (i_states, i_memory, i_mask)):
        if states is not None:
            parts.append(module.search_memory(states, mask))
        elif memory is not None:
            parts.append((module.drop(memory), mask))
    return parts


def packed(layer: nn.Module, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``layer`` applied to the rows of ``x`` (B, S, d_in) where ``mask`` (bool (B, S)) is True,
    zeros elsewhere. The same values as ``layer(x)`` at the masked-in rows. (On ml-latest-small,
    whose queries average 6 tokens padded to a batch's longest, a training step measured no faster
    with it: the decoder's positions dominate the step. Long item texts pad more.)"""
    if mask is None or bool(mask.all()):
        return layer(x)
    y = layer(x[mask])
    out = y.new_zeros(*mask.shape, y.shape[-1])
    out[mask] = y
    return out


class _Attention(nn.Module):
    """Multi-head attention; with ``kv_heads < heads``, grouped-query attention (each key/value
    head serves ``heads / kv_heads`` query heads; 1: multi-query), whose key/value projection
    costs ``kv_heads / heads`` as much (Ainslie et al. 2023, GQA)."""

    def __init__(self, d: int, heads: int, dropout: float, kv_heads: int | None = None) -> None:
        super().__init__()
        self.h = heads
        self.kv_h = kv_heads or heads
        if heads % self.kv_h:
            raise ValueError(f"cross_kv_heads ({self.kv_h}) must divide heads ({heads})")
        self.q = nn.Linear(d, d)
        self.kv = nn.Linear(d, 2 * d * self.kv_h // heads)
        self.o = nn.Linear(d, d)
        self.dropout = dropout

    def split(self, x: torch.Tensor, heads: int | None = None) -> torch.Tensor:  # (B, T, h*dh) -> (B, h, T, dh)
        B, T, d = x.shape
        h = heads or self.h
        return x.view(B, T, h, d // h).transpose(1, 2)

    def keys_values(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, S, d); mask: bool (B, S), True = a real position: only those are projected
        (:func:`packed`), the others' keys and values are zeros that attention masks out."""
        k, v = packed(self.kv, x, mask).chunk(2, dim=-1)
        return self.split(k, self.kv_h), self.split(v, self.kv_h)

    def attend(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
               causal: bool = False) -> torch.Tensor:
        """mask: bool broadcastable to (B, h, Tq, Tk), True = may attend."""
        q = self.split(self.q(x))
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal,
                                           enable_gqa=self.kv_h != self.h)
        B, _, T, _ = y.shape
        return self.o(y.transpose(1, 2).reshape(B, T, -1))


class _Block(nn.Module):
    def __init__(self, d: int, heads: int, d_ff: int, dropout: float, cross: bool, cross_kv_heads: int | None = None,
                 self_attention: bool = True) -> None:
        super().__init__()
        self.has_self = self_attention
        if self_attention:
            self.n1 = nn.LayerNorm(d)
            self.self_attn = _Attention(d, heads, dropout)
        self.cross = cross
        if cross:
            self.n2 = nn.LayerNorm(d)
            self.cross_attn = _Attention(d, heads, dropout, cross_kv_heads)
        self.n3 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, d_ff), nn.GELU(), nn.Linear(d_ff, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, self_mask=None, causal=False, cross_kv=None, cross_mask=None, self_kv=None):
        """self_kv: cached (k, v) of earlier positions, or None; returns (x, (k, v) of this call)
        (None without self-attention)."""
        k = v = None
        if self.has_self:
            h = self.n1(x)
            k, v = self.self_attn.keys_values(h)
            if self_kv is not None:
                k, v = torch.cat([self_kv[0], k], 2), torch.cat([self_kv[1], v], 2)
            x = x + self.drop(self.self_attn.attend(h, k, v, self_mask, causal))
        if self.cross:
            x = x + self.drop(self.cross_attn.attend(self.n2(x), *cross_kv, cross_mask))
        x = x + self.drop(self.ff(self.n3(x)))
        return x, (k, v)


@dataclass
class DecoderCache:
    """Incremental decoding state: cross (k, v) and self (k, v) per layer, the memory mask
    (bool (N, 1, 1, S)), the next input tokens (int64 (N,)) and the position."""

    cross: list[tuple[torch.Tensor, torch.Tensor]]
    mask: torch.Tensor
    tokens: torch.Tensor
    task: str
    self_kv: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)
    pos: int = 0
    expanded: bool = False
    #: without self-attention: the sum of the input tokens' embeddings so far (N, d)
    prefix: torch.Tensor | None = None


class IDDecoder(nn.Module):
    """See the module docstring. level_sizes: codes per level of the IDs (all tasks' levels);
    task_levels: per task, the level columns of its ID."""

    def __init__(self, level_sizes: list[int], task_levels: dict[str, list[int]], enc_dim: int, d_model: int = 128,
                 heads: int = 4, d_ff: int = 512, layers: int = 2, rec_layers: int = 1, dropout: float = 0.1,
                 max_history: int = 64, search_memory: str = "tokens", search_projection: str = "learned",
                 cross_kv_heads: int | None = None, self_attention: bool = True) -> None:
        super().__init__()
        init_id_vocabulary(self, level_sizes, task_levels, enc_dim, d_model, heads, max_history, search_memory,
                           search_projection)
        self.self_attention = self_attention
        self.rec_blocks = nn.ModuleList([_Block(d_model, heads, d_ff, dropout, cross=False) for _ in range(rec_layers)])
        self.rec_norm = nn.LayerNorm(d_model)
        self.blocks = nn.ModuleList([_Block(d_model, heads, d_ff, dropout, cross=True, cross_kv_heads=cross_kv_heads,
                                            self_attention=self_attention) for _ in range(layers)])
        self.out_norm = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)

    # ------------------------------------------------------------------ memory
    def search_memory(self, states: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """states: float (B, S, enc_dim); mask: bool (B, S) -> memory (B, S', d), mask (B, S').

        ``tokens``: every token state, projected (S' = S). ``pooled``: one slot, the text's
        sentence embedding (the L2-normalised mean of its token states, as sentence-transformers
        pools all-MiniLM-L6-v2), projected (S' = 1; callers may pass the pooled vector itself as
        a single state: pooling it again returns it). ``both``: the pooled slot, then the tokens."""
        if self.search_memory_kind == "tokens":
            return self.drop(packed(self.q_proj, states, mask)), mask
        pooled = self.drop(self.q_proj(pool_states(states, mask)))[:, None]
        one = torch.ones(mask.shape[0], 1, dtype=torch.bool, device=mask.device)
        if self.search_memory_kind == "pooled":
            return pooled, one
        return torch.cat([pooled, self.drop(packed(self.q_proj, states, mask))], 1), torch.cat([one, mask], 1)

    def rec_memory(self, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens: int64 (B, H, L) the rec-ID tokens of each history item (``pad`` where mask is
        False); mask: bool (B, H) -> memory (B, H, d), mask. An item's vector is the sum of its ID
        tokens' embeddings (the decoder's own, tied), plus its position in the history."""
        H = tokens.shape[1]
        if H > self.hist_pos.num_embeddings:
            raise ValueError(f"history of {H} items exceeds the model's max_history {self.hist_pos.num_embeddings}")
        x = self.tok(tokens).sum(2) + self.hist_pos(torch.arange(H, device=tokens.device))[None]
        x = self.drop(x)
        am = mask[:, None, None, :]
        for blk in self.rec_blocks:
            x, _ = blk(x, self_mask=am)
        return self.rec_norm(x), mask

    # ----------------------------------------------------------------- decoder
    def forward(self, dec_in: torch.Tensor, labels: torch.Tensor, task_idx: torch.Tensor,
                q_states: torch.Tensor | None = None, q_mask: torch.Tensor | None = None,
                r_tokens: torch.Tensor | None = None, r_mask: torch.Tensor | None = None,
                i_states: torch.Tensor | None = None, i_mask: torch.Tensor | None = None,
                q_memory: torch.Tensor | None = None, i_memory: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced mean cross-entropy of a batch whose rows come in parts: query rows
        (``q_states``: float (Bq, S, enc_dim), ``q_mask``), then item-text rows (``i_states``,
        ``i_mask``), then rec rows (``r_tokens``: int64 (Br, H, L), ``r_mask``). dec_in, labels:
        int64 (B, L) (labels -100 = ignore); task_idx: int64 (B,). Each part is decoded with its own
        memory, so short queries are not padded to the length of item texts. ``q_memory`` /
        ``i_memory`` (float (B, S, d_model)) replace ``q_states`` / ``i_states`` already projected."""
        parts = search_parts(self, q_states, q_mask, i_states, i_mask, q_memory, i_memory)
        if r_tokens is not None:
            parts.append(self.rec_memory(r_tokens, r_mask))
        hidden, start = [], 0
        for memory, memory_mask in parts:
            n = memory.shape[0]
            hidden.append(self.teacher_forced_hidden(memory, memory_mask, dec_in[start:start + n]))
            start += n
        return self.level_loss(torch.cat(hidden), labels, task_idx)

    def level_loss(self, hidden: torch.Tensor, labels: torch.Tensor, task_idx: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over the labelled positions, each a softmax over its own level's codes
        only. Equal to a full-vocabulary softmax with the other levels masked to -inf, at a
        fraction of the cost (each position scores one level's codes, not all of them)."""
        total, count = hidden.new_zeros(()), 0
        for t, ti in TASK_INDEX.items():
            rows = torch.nonzero(task_idx == ti).squeeze(1)
            if not len(rows):
                continue
            for pos, (off, size) in enumerate(zip(self.task_offsets[t], self.task_sizes[t], strict=True)):
                if pos >= labels.shape[1]:
                    break
                lab = labels[rows, pos]
                keep = lab != -100
                if not bool(keep.any()):
                    continue
                h = hidden[rows[keep], pos]
                logits = h @ self.tok.weight[off:off + size].T + self.out_bias[off:off + size]
                total = total + F.cross_entropy(logits, lab[keep] - off, reduction="sum")
                count += int(keep.sum())
        return total / max(count, 1)

    def teacher_forced_hidden(self, memory, memory_mask, dec_in) -> torch.Tensor:
        """float (B, L, d): the normalised decoder states of every position, no cache."""
        L = dec_in.shape[1]
        x = self.tok(dec_in)
        if not self.self_attention:  # each position reads the whole prefix from its input
            x = x.cumsum(1)
        x = self.drop(x + self.dec_pos(torch.arange(L, device=dec_in.device))[None])
        cm = memory_mask[:, None, None, :]
        for blk in self.blocks:
            x, _ = blk(x, causal=True, cross_kv=blk.cross_attn.keys_values(memory, memory_mask), cross_mask=cm)
        return self.out_norm(x)

    def teacher_forced_logits(self, memory, memory_mask, dec_in, task: str = "search") -> torch.Tensor:
        """float (B, L, V): logits of every position over the whole ID vocabulary, no cache (the
        decoder reads the task from the start token; ``task`` is for decoders that pool by task)."""
        return self.teacher_forced_hidden(memory, memory_mask, dec_in) @ self.tok.weight[:self.V].T + self.out_bias

    def start(self, task: str, memory: torch.Tensor, memory_mask: torch.Tensor) -> DecoderCache:
        cross = [blk.cross_attn.keys_values(memory, memory_mask) for blk in self.blocks]
        tokens = torch.full((memory.shape[0],), self.bos[task], dtype=torch.long, device=memory.device)
        return DecoderCache(cross, memory_mask[:, None, None, :], tokens, task)

    def step(self, cache: DecoderCache, size: int) -> torch.Tensor:
        """float32 (N, size): log-probabilities of the codes at position ``cache.pos``."""
        pos = cache.pos
        x = self.tok(cache.tokens)
        if not self.self_attention:
            cache.prefix = x if cache.prefix is None else cache.prefix + x
            x = cache.prefix
        x = x[:, None] + self.dec_pos.weight[pos][None, None]
        new_kv = []
        for i, blk in enumerate(self.blocks):
            prev = cache.self_kv[i] if cache.self_kv else None
            x, kv = blk(x, cross_kv=cache.cross[i], cross_mask=cache.mask, self_kv=prev)
            new_kv.append(kv)
        cache.self_kv = new_kv if self.self_attention else []
        off = self.task_offsets[cache.task][pos]
        h = self.out_norm(x[:, 0])
        logits = h @ self.tok.weight[off:off + size].T + self.out_bias[off:off + size]
        return torch.log_softmax(logits.float(), dim=-1)

    def advance(self, cache: DecoderCache, src: torch.Tensor, codes: torch.Tensor) -> DecoderCache:
        cache.self_kv = [(k.index_select(0, src), v.index_select(0, src)) for k, v in cache.self_kv]
        if cache.prefix is not None:
            cache.prefix = cache.prefix.index_select(0, src)
        if not cache.expanded:  # first expansion: memory keys/values follow the beams once
            cache.cross = [(k.index_select(0, src), v.index_select(0, src)) for k, v in cache.cross]
            cache.mask = cache.mask.index_select(0, src)
            cache.expanded = True
        cache.tokens = codes + self.task_offsets[cache.task][cache.pos]
        cache.pos += 1
        return cache
