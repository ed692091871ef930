"""``TrainConfig``: the joint generative model's settings (paper defaults, DESIGN.md step 4)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["TrainConfig", "DEFAULT_K", "DEFAULT_BEAM_SIZE", "DEFAULT_SERVE_K"]

#: Items retrieved per input when none is given: the paper's Recall@30 list (GenerativeRetriever.retrieve,
#: semid.evaluate.evaluate_generative, the experiment config's [evaluate] k).
DEFAULT_K = 30
#: The beam width of constrained decoding when none is given. Three rules read it, on purpose:
#: - fixed: constrained_beam_search and the experiment config's [evaluate] beam_size (a grid decodes every
#:   variant with the same beam, whatever its k);
#: - k: GenerativeRetriever.retrieve, evaluate_generative and `semid evaluate` decode as many beams as items
#:   asked for (DEFAULT_K = DEFAULT_BEAM_SIZE, so both give 30 by default);
#: - max(k, it): the serving API (Retriever.search / recommend, `semid search` / `recommend`), whose k is
#:   short (10 by default), decodes at least the beam the models are evaluated with, so a user's top 10 come
#:   from the same search as the measured Recall@30, not from a narrower one.
DEFAULT_BEAM_SIZE = 30
#: Items the serving API returns when none is asked for (Retriever.search / recommend, `semid search` /
#: `recommend`, POST /search and /recommend): a short list for a person, not the evaluated R@30 list.
DEFAULT_SERVE_K = 10

MIXED_PRECISION = ("no", "fp16", "bf16")
#: encoder-decoder: what the decoder reads of a search text (IDDecoder.search_memory), and its decoders
SEARCH_MEMORY = ("tokens", "pooled", "both")
DECODERS = ("transformer", "mlp")
#: encoder-decoder: how a search text's encoder states become the decoder's memory (IDDecoder.search_memory)
SEARCH_PROJECTIONS = ("learned", "pca")


@dataclass
class TrainConfig:
    """Training settings. The optimiser defaults are the paper's (Penha et al. 2025, Sec. 4:
    3 epochs, lr 2e-3, batch 128, AdamW, weight decay 0.01). The default backend is
    ``encoder-decoder`` (a frozen all-MiniLM-L6-v2 with cached states and a small ID decoder),
    which learns on a CPU; ``backend = "t5"`` with ``model = "google/flan-t5-base"`` is the
    paper's model."""

    backend: str = field(default="encoder-decoder", metadata={"help": "encoder-decoder (frozen text encoder + small ID decoder; the CPU default) or t5 (the paper's seq2seq; see `model`)"})
    model: str = field(default="small", metadata={"help": "t5 backend: 'small' (T5 from a config + own tokenizer), a hub name such as google/flan-t5-base, or a local path"})
    encoder: str = field(default="all-MiniLM-L6-v2", metadata={"help": "encoder-decoder: sentence-transformers encoder by name or local path (all-MiniLM-L6-v2 ships offline), kept frozen"})
    d_model: int = field(default=128, metadata={"help": "encoder-decoder: decoder hidden size"})
    heads: int = field(default=4, metadata={"help": "encoder-decoder: attention heads"})
    cross_kv_heads: int | None = field(default=None, metadata={"help": "encoder-decoder: key/value heads of the cross-attention (must divide heads; 1: multi-query, a quarter of the keys/values' cost at 4 heads; None: one per head)"})
    # measured on ml-latest-small (1 epoch, content IDs): d_ff 256, 1 decoder block and no rec block
    # reach the same search / rec recall as d_ff 512, 2 blocks and 1 rec block (0.049 / 0.098 vs
    # 0.050 / 0.102, at lr 5e-3 / batch 256 against lr 2e-3 / batch 128) in a quarter of the time
    # (single seed: benchmarks/results/ed_settings.md)
    d_ff: int = field(default=256, metadata={"help": "encoder-decoder: feed-forward size"})
    decoder_layers: int = field(default=1, metadata={"help": "encoder-decoder: decoder blocks (self + cross attention)"})
    decoder_self_attention: bool = field(default=True, metadata={"help": "encoder-decoder: causal self-attention over the ID positions in each decoder block; False: each position's input is the sum of the codes so far (level-specific tokens, so the sum tells the prefix), a third cheaper per position"})
    rec_layers: int = field(default=0, metadata={"help": "encoder-decoder: self-attention blocks over the rec history before the decoder reads it (0: the decoder cross-attends to the history's ID embeddings directly)"})
    decoder: str = field(default="transformer", metadata={"help": "encoder-decoder: 'transformer' (causal self-attention + cross-attention blocks) or 'mlp' (the memory pooled once, then a residual MLP per level over the codes so far; several times cheaper per step)"})
    # measured on ml-latest-small, content IDs, seed 0, 2 epochs (benchmarks/results/ed_settings.md):
    # search / rec R@30 0.099 / 0.131 with every token state and no dropout, 0.080 / 0.113 with
    # dropout 0.1, 0.070 / 0.146 and 0.062 / 0.131 for the pooled sentence embedding without and
    # with dropout: the tokens carry what search needs (at 1 epoch the four were within noise)
    search_memory: str = field(default="tokens", metadata={"help": "encoder-decoder: what the decoder reads of a search text: 'tokens' (every encoder token state), 'pooled' (one slot: the sentence embedding, far cheaper) or 'both'"})
    # measured on ml-latest-small, 4 epochs, 3 seeds: pca trains 1.14x the examples/s of learned
    # (benchmarks/results/backends.md: 20.5x the small T5's, against 18.0x) at search / rec R@30 0.119 /
    # 0.147 against 0.127 / 0.152 on content IDs (benchmarks/results/decoder_check.md); over the whole
    # grid a median 0.93x learned's search and 0.99x its rec, 0.60x search on rec-tuned IDs
    # (benchmarks/results/projection_grid.md)
    search_projection: str = field(default="pca", metadata={"help": "encoder-decoder: how the encoder's token states become the decoder's memory: 'pca' (their top d_model principal components, fitted once on the training states, + LayerNorm: fixed, so training projects each cached state once, not every step) or 'learned' (a trained linear layer + LayerNorm)"})
    dropout: float = field(default=0.0, metadata={"help": "encoder-decoder: dropout (0 measured best at CPU budgets of a few epochs; see search_memory)"})
    encoder_train_layers: int = field(default=0, metadata={"help": "encoder-decoder: fine-tune the encoder's top N transformer layers with the decoder (0: frozen, states cached once). Every step then runs the encoder: a GPU budget"})
    item_texts: bool = field(default=True, metadata={"help": "encoder-decoder: also train search on every item's own metadata text -> its ID (one example per item per epoch; the text's encoder states are cached like the queries')"})
    epochs: float = field(default=3.0, metadata={"help": "training epochs over the joint examples"})
    lr: float = field(default=2e-3, metadata={"help": "peak AdamW learning rate"})
    batch_size: int = field(default=128, metadata={"help": "examples per optimizer step (all processes and accumulation steps together)"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    warmup_ratio: float = field(default=0.05, metadata={"help": "fraction of steps with linear warmup; then linear decay to 0"})
    grad_accum: int = field(default=1, metadata={"help": "micro-batches per optimizer step (batch_size must divide by it)"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping norm (0 disables)"})
    max_history: int = field(default=20, metadata={"help": "rec input: the last N history items"})
    rec_targets: str = field(default="all", metadata={"help": "'all': every next item of each training history; 'last': only the last"})
    tasks: list[str] = field(default_factory=lambda: ["search", "rec"], metadata={"help": "tasks in the joint run"})
    max_query_tokens: int = field(default=64, metadata={"help": "search input truncation (tokens)"})
    val_fraction: float = field(default=0.02, metadata={"help": "held-out slice of training examples for validation loss"})
    max_val_examples: int = field(default=2000, metadata={"help": "cap on the validation slice"})
    seed: int = field(default=0, metadata={"help": "seed for initialisation, shuffling and the validation slice"})
    save_steps: int = field(default=500, metadata={"help": "checkpoint every N optimizer steps (and at each epoch end)"})
    max_steps: int | None = field(default=None, metadata={"help": "stop after this many optimizer steps (schedule still spans all epochs); None: no limit"})
    mixed_precision: str = field(default="no", metadata={"help": "accelerate mixed precision: no, fp16, bf16"})
    # the `small` model
    small_vocab_size: int = field(default=4000, metadata={"help": "small: BPE text vocabulary (ID tokens come on top)"})
    small_d_model: int = field(default=128, metadata={"help": "small: hidden size"})
    small_d_ff: int = field(default=512, metadata={"help": "small: feed-forward size"})
    small_layers: int = field(default=2, metadata={"help": "small: encoder layers"})
    small_decoder_layers: int = field(default=2, metadata={"help": "small: decoder layers"})
    small_heads: int = field(default=4, metadata={"help": "small: attention heads"})
    small_dropout: float = field(default=0.1, metadata={"help": "small: dropout"})

    def __post_init__(self) -> None:
        if self.epochs <= 0:
            raise ValueError(f"TrainConfig.epochs must be > 0, got {self.epochs}")
        if self.lr <= 0:
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr}")
        if self.batch_size < 1 or self.grad_accum < 1 or self.batch_size % self.grad_accum:
            raise ValueError(f"TrainConfig.batch_size ({self.batch_size}) must be a positive multiple of grad_accum ({self.grad_accum})")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"TrainConfig.warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if not 0 <= self.val_fraction < 0.5:
            raise ValueError(f"TrainConfig.val_fraction must be in [0, 0.5), got {self.val_fraction}")
        if self.rec_targets not in ("all", "last"):
            raise ValueError(f"TrainConfig.rec_targets must be 'all' or 'last', got {self.rec_targets!r}")
        bad = [t for t in self.tasks if t not in ("search", "rec")] or (["(none)"] if not self.tasks else [])
        if bad:
            raise ValueError(f"TrainConfig.tasks holds {bad}; choose from ['search', 'rec']")
        if self.max_history < 1:
            raise ValueError(f"TrainConfig.max_history must be >= 1, got {self.max_history}")
        if self.save_steps < 1:
            raise ValueError(f"TrainConfig.save_steps must be >= 1, got {self.save_steps}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"TrainConfig.max_steps must be >= 1 or None, got {self.max_steps}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"TrainConfig.mixed_precision must be one of {list(MIXED_PRECISION)}, got {self.mixed_precision!r}")
        from semid.generative.backends import BACKENDS

        if self.backend not in BACKENDS:
            raise ValueError(f"TrainConfig.backend {self.backend!r} is unknown; choose one of {sorted(BACKENDS)}")
        if self.d_model % self.heads:
            raise ValueError(f"TrainConfig.d_model ({self.d_model}) must divide by heads ({self.heads})")
        if self.cross_kv_heads is not None and (self.cross_kv_heads < 1 or self.heads % self.cross_kv_heads):
            raise ValueError(f"TrainConfig.cross_kv_heads ({self.cross_kv_heads}) must be None or a positive divisor of heads ({self.heads})")
        if self.decoder not in DECODERS:
            raise ValueError(f"TrainConfig.decoder must be one of {list(DECODERS)}, got {self.decoder!r}")
        if self.decoder == "mlp" and self.rec_layers:
            raise ValueError(f"TrainConfig.rec_layers must be 0 with decoder = 'mlp' (it pools the history), got {self.rec_layers}")
        if self.search_memory not in SEARCH_MEMORY:
            raise ValueError(f"TrainConfig.search_memory must be one of {list(SEARCH_MEMORY)}, got {self.search_memory!r}")
        if self.search_projection not in SEARCH_PROJECTIONS:
            raise ValueError(f"TrainConfig.search_projection must be one of {list(SEARCH_PROJECTIONS)}, got {self.search_projection!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"TrainConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.encoder_train_layers < 0:
            raise ValueError(f"TrainConfig.encoder_train_layers must be >= 0, got {self.encoder_train_layers}")
        if self.decoder_layers < 1 or self.rec_layers < 0:
            raise ValueError(f"TrainConfig.decoder_layers must be >= 1 and rec_layers >= 0, got {self.decoder_layers}, {self.rec_layers}")
        if self.small_d_model % self.small_heads:
            raise ValueError(f"TrainConfig.small_d_model ({self.small_d_model}) must divide by small_heads ({self.small_heads})")

    @property
    def caches_states(self) -> bool:
        """True when training reads the frozen encoder's cached states (encoder-decoder with a
        frozen encoder and a search task); a fine-tuned encoder reads the texts every step."""
        return self.backend == "encoder-decoder" and "search" in self.tasks and self.encoder_train_layers == 0

    def small_sizes(self) -> dict:
        return dict(vocab_size=self.small_vocab_size, d_model=self.small_d_model, d_ff=self.small_d_ff,
                    num_layers=self.small_layers, num_decoder_layers=self.small_decoder_layers,
                    num_heads=self.small_heads, dropout=self.small_dropout)
