"""The T5 backend: a seq2seq model from Hugging Face with one new token per (level, code).

``TrainConfig.model`` names it: a hub name or local path (``google/flan-t5-base``, the
paper's model) or ``small``, a T5 built from a config with a BPE tokenizer trained on the
dataset (:mod:`semid.generative.model`). Inputs are text: ``search: <query>`` and
``recommend: <history ID tokens>`` (:mod:`semid.generative.examples`).

Decoding runs the encoder once per batch and the decoder one token per step with its KV
cache (``EncoderDecoderCache``); after the first expansion only the self-attention cache is
reordered, since the cross-attention states are equal across a query's beams. ``step``
takes the log-softmax over the whole vocabulary and returns the current level's slice, so a
beam's score is the model's log-probability of its tokens.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semid.generative.backends.base import Backend, TrainExamples
from semid.generative.examples import TaskEncoder, build_examples
from semid.ids.types import SemanticIDs

logger = logging.getLogger(__name__)

__all__ = ["T5Backend", "T5Memory", "collate"]


def collate(inputs: list[list[int]], labels: list[list[int]] | None, pad_id: int):
    """Right-pad a batch: input_ids/attention_mask int64 (B, S); labels int64 (B, T) with -100 padding."""
    S = max(len(x) for x in inputs)
    ids = torch.full((len(inputs), S), pad_id, dtype=torch.long)
    mask = torch.zeros((len(inputs), S), dtype=torch.long)
    for i, x in enumerate(inputs):
        ids[i, :len(x)] = torch.as_tensor(x)
        mask[i, :len(x)] = 1
    if labels is None:
        return ids, mask, None
    T = max(len(y) for y in labels)
    lab = torch.full((len(labels), T), -100, dtype=torch.long)
    for i, y in enumerate(labels):
        lab[i, :len(y)] = torch.as_tensor(y)
    return ids, mask, lab


def _start_id(model) -> int:
    sid = getattr(model.config, "decoder_start_token_id", None)
    if sid is None:
        sid = getattr(getattr(model, "generation_config", None), "decoder_start_token_id", None)
    if sid is None:
        sid = model.config.pad_token_id
    return int(sid)


@dataclass
class T5Memory:
    """hidden: float (B, S, d) encoder states; mask: int64 (B, S); task: the task."""

    hidden: torch.Tensor
    mask: torch.Tensor
    task: str


@dataclass
class _State:
    hidden: torch.Tensor
    mask: torch.Tensor
    cache: Any
    dec_in: torch.Tensor
    offsets: np.ndarray
    expanded: bool = False


class T5Backend(Backend):
    """A Hugging Face seq2seq model (T5 family) with Semantic-ID tokens.

    offsets: per task, the token id of code 0 at each of the task's levels; taken from the
    tokenizer and IDs when not given (tests pass them for a bare model).
    """

    name = "t5"

    def __init__(self, model, tokenizer=None, ids: SemanticIDs | None = None, max_history: int = 20,
                 max_query_tokens: int = 64, rec_targets: str = "all", tasks: tuple[str, ...] = ("search", "rec"),
                 offsets: dict[str, list[int]] | None = None, source: str = "small") -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.ids = ids
        self.rec_targets = rec_targets
        self.tasks = tuple(tasks)
        self.source = source
        self.encoder = (TaskEncoder(tokenizer, ids, max_history=max_history, max_query_tokens=max_query_tokens)
                        if tokenizer is not None and ids is not None else None)
        if offsets is not None:
            self.offsets = {t: np.asarray(o, dtype=np.int64) for t, o in offsets.items()}
        elif self.encoder is not None:
            self.offsets = {t: self.encoder.level_offset[cols] for t, cols in ids.tasks.items()}
        else:
            raise ValueError("T5Backend needs a tokenizer and IDs, or explicit offsets")
        self.pad_id = int(tokenizer.pad_token_id) if tokenizer is not None else int(model.config.pad_token_id or 0)

    # ------------------------------------------------------------------ model
    @property
    def module(self):
        return self.model

    @property
    def device(self):
        return next(self.model.parameters()).device

    def to(self, device) -> T5Backend:
        self.model = self.model.to(device)
        return self

    # --------------------------------------------------------------- decoding
    def memory_from_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, task: str = "search") -> T5Memory:
        """Encode right-padded token ids: input_ids, attention_mask int64 (B, S)."""
        with torch.inference_mode():
            hidden = self.model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return T5Memory(hidden, attention_mask, task)

    def encode(self, task: str, inputs: list) -> T5Memory:
        if self.encoder is None:
            raise ValueError("this T5Backend has no tokenizer; use memory_from_tokens")
        ids, mask, _ = collate(self.encoder.inputs(task, inputs), None, self.pad_id)
        return self.memory_from_tokens(ids.to(self.device), mask.to(self.device), task)

    def batch_size_of(self, memory: T5Memory) -> int:
        return int(memory.hidden.shape[0])

    def select(self, memory: T5Memory, b: int) -> T5Memory:
        n = int(memory.mask[b].sum())
        return T5Memory(memory.hidden[b:b + 1, :n], memory.mask[b:b + 1, :n], memory.task)

    def start(self, task: str, memory: T5Memory) -> _State:
        from transformers import DynamicCache, EncoderDecoderCache

        B = memory.hidden.shape[0]
        dec_in = torch.full((B, 1), _start_id(self.model), dtype=torch.long, device=memory.hidden.device)
        return _State(memory.hidden, memory.mask, EncoderDecoderCache(DynamicCache(), DynamicCache()), dec_in,
                      self.offsets[task])

    @torch.inference_mode()
    def step(self, state: _State, level: int, size: int) -> torch.Tensor:
        out = self.model(encoder_outputs=(state.hidden,), attention_mask=state.mask, decoder_input_ids=state.dec_in,
                         past_key_values=state.cache, use_cache=True)
        state.cache = out.past_key_values
        logp = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)
        off = int(state.offsets[level])
        return logp[:, off:off + size]

    @torch.inference_mode()
    def advance(self, state: _State, level: int, src: torch.Tensor, codes: torch.Tensor) -> _State:
        if not state.expanded:  # first expansion: every cache (self and cross) and the encoder states
            state.cache.reorder_cache(src)
            state.hidden = state.hidden.index_select(0, src)
            state.mask = state.mask.index_select(0, src)
            state.expanded = True
        else:  # cross-attention states are equal across a query's beams: only self-attention moves
            state.cache.self_attention_cache.reorder_cache(src)
        state.dec_in = (codes + int(state.offsets[level])).reshape(-1, 1)
        return state

    @torch.inference_mode()
    def score_codes(self, task: str, memory: T5Memory, codes: np.ndarray, sizes: list[int],
                    chunk: int = 4096) -> np.ndarray:
        """Teacher-forced, no cache (the reference for the beam search)."""
        B = memory.hidden.shape[0]
        labels_all = torch.as_tensor(codes + self.offsets[task][None, :], dtype=torch.long)
        out = np.zeros((B, len(codes)), dtype=np.float32)
        start = _start_id(self.model)
        dev = memory.hidden.device
        for b in range(B):
            for s in range(0, len(codes), chunk):
                lab = labels_all[s:s + chunk].to(dev)
                n = lab.shape[0]
                dec = torch.cat([torch.full((n, 1), start, dtype=torch.long, device=dev), lab[:, :-1]], 1)
                h = memory.hidden[b:b + 1].expand(n, -1, -1)
                m = memory.mask[b:b + 1].expand(n, -1)
                logits = self.model(encoder_outputs=(h,), attention_mask=m, decoder_input_ids=dec).logits.float()
                logp = torch.log_softmax(logits, -1).gather(2, lab[..., None]).squeeze(-1).sum(1)
                out[b, s:s + n] = logp.cpu().numpy()
        return out

    # --------------------------------------------------------------- training
    def training_examples(self, dataset) -> TrainExamples:
        ex = build_examples(dataset, self.encoder, rec_targets=self.rec_targets, tasks=self.tasks)
        return TrainExamples(ex.input_ids, ex.labels, ex.task)

    def collate(self, examples: TrainExamples, idx: np.ndarray) -> dict[str, Any]:
        ids, mask, lab = collate([examples.inputs[i] for i in idx], [examples.labels[i] for i in idx], self.pad_id)
        return {"input_ids": ids, "attention_mask": mask, "labels": lab}

    def loss(self, module, batch: dict[str, Any]):
        return module(**batch).loss

    # -------------------------------------------------------------------- I/O
    def save(self, path: str | os.PathLike) -> None:
        path = Path(path)
        self.model.save_pretrained(path / "model")
        self.tokenizer.save_pretrained(path / "tokenizer")

    def describe(self) -> dict[str, Any]:
        return {"model": self.source, "max_history": self.encoder.max_history if self.encoder else None,
                "max_query_tokens": self.encoder.max_query_tokens if self.encoder else None}

    @classmethod
    def load(cls, path: Path, config: dict[str, Any], ids: SemanticIDs, device: str | None = None) -> T5Backend:
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        from semid.generative.fingerprint import check_model_ids

        check_model_ids(config, ids, path)
        tc = config.get("train_config", {})
        # check the files first: a missing tokenizer.json makes transformers ask for sentencepiece, and a
        # truncated safetensors file raises a SafetensorError traceback; name the file instead
        weights = [path / "model" / w for w in ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                                                "pytorch_model.bin.index.json")]
        for need in (path / "model" / "config.json", path / "tokenizer" / "tokenizer.json"):
            if not need.is_file():
                raise FileNotFoundError(f"{need} is missing; the model directory is incomplete: retrain it with `semid train`")
        if not any(w.is_file() for w in weights):
            raise FileNotFoundError(f"{weights[0]} is missing; the model directory is incomplete: retrain it with `semid train`")
        try:
            model = AutoModelForSeq2SeqLM.from_pretrained(path / "model")
            tok = AutoTokenizer.from_pretrained(path / "tokenizer")
        except Exception as exc:
            raise ValueError(f"{path} holds a damaged T5 model ({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); "
                             "retrain it with `semid train`") from None
        be = cls(model, tok, ids, max_history=int(tc.get("max_history", 20)),
                 max_query_tokens=int(tc.get("max_query_tokens", 64)), source=config.get("model_source", "small"))
        return be.to(device) if device else be

    @property
    def model_source(self) -> str:
        return self.source

    @classmethod
    def for_training(cls, dataset, ids: SemanticIDs, cfg, work_dir: Path, query_states=None, item_states=None,
                     show_progress: bool = True) -> T5Backend:
        """:meth:`create` with its tokenizer and initial weights kept in ``work_dir/init``."""
        return cls.create(dataset, ids, cfg, Path(work_dir) / "init")

    @classmethod
    def create(cls, dataset, ids: SemanticIDs, cfg, init_dir: Path) -> T5Backend:
        """Build (or, on resume, reload) the starting model and tokenizer; the first run saves
        them to ``init_dir`` so that a resumed run has the same tokenizer."""
        from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer

        from semid.generative.model import add_id_tokens, build_model
        from semid.io import atomic_dir

        if (init_dir / "done").exists():
            tok = AutoTokenizer.from_pretrained(init_dir / "tokenizer")
            model = AutoModelForSeq2SeqLM.from_config(AutoConfig.from_pretrained(init_dir / "model"))
            model.load_state_dict(torch.load(init_dir / "model" / "weights.pt", map_location="cpu", weights_only=True))
        else:
            texts = dataset.texts + dataset.queries_for("train")["text"].tolist()
            model, tok = build_model(cfg.model, texts, seed=cfg.seed, **cfg.small_sizes())
            add_id_tokens(model, tok, ids, dataset.texts, seed=cfg.seed)
            with atomic_dir(init_dir) as tmp:
                tok.save_pretrained(tmp / "tokenizer")
                model.config.save_pretrained(tmp / "model")
                torch.save(model.state_dict(), tmp / "model" / "weights.pt")
                (tmp / "done").write_text("ok\n")
        return cls(model, tok, ids, max_history=cfg.max_history, max_query_tokens=cfg.max_query_tokens,
                   rec_targets=cfg.rec_targets, tasks=tuple(cfg.tasks), source=cfg.model)
