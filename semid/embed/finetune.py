"""Bi-encoder fine-tuning with in-batch negatives: the *search* and *multitask* embeddings.

Both use sentence-transformers' own ``SentenceTransformerTrainer`` with
``MultipleNegativesRankingLoss`` and the ``NO_DUPLICATES`` batch sampler: a batch never holds
the same text twice (in any column), so an item can never be its own false negative.

- *search*: (training query, item text) pairs.
- *multitask*: the search pairs plus (item text, next item text) pairs from each user's
  *training* history, trained with the trainer's multi-dataset mode (a dict of datasets and
  a dict of losses). Each batch comes from one dataset and is scored by that dataset's
  loss, so one pass optimises the sum of the two MNRL terms (each batch contributes one term).

Trainer checkpoints go to a temporary directory that is deleted afterwards; nothing is
reported to the hub or to wandb (``report_to="none"``).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from semid.embed.base import Embedder, ItemEmbeddings
from semid.embed.sentence import (
    DEFAULT_MODEL,
    PAPER_MODEL,
    check_texts,
    encode_texts,
    load_sentence_model,
    pick_device,
)

logger = logging.getLogger(__name__)

__all__ = ["SearchConfig", "MultitaskConfig", "SearchEmbedder", "MultitaskEmbedder", "query_pairs", "next_item_pairs"]

MULTI_SAMPLERS = ("proportional", "round_robin")


@dataclass
class SearchConfig:
    """Fine-tuning on (query, item text) pairs; defaults are the paper's (5 epochs, batch 512, lr 2e-5)."""

    model: str = field(default=DEFAULT_MODEL, metadata={"help": f"base model, hub id or local path; the paper uses {PAPER_MODEL}"})
    epochs: float = field(default=5.0, metadata={"help": "training epochs"})
    batch_size: int = field(default=512, metadata={"help": "pairs per batch (in-batch negatives)"})
    lr: float = field(default=2e-5, metadata={"help": "AdamW learning rate"})
    warmup_ratio: float = field(default=0.1, metadata={"help": "linear warm-up fraction (not stated in the paper)"})
    max_seq_length: int | None = field(default=None, metadata={"help": "token limit (None: the model's own)"})
    max_queries_per_item: int | None = field(default=None, metadata={"help": "use at most this many training queries per item (None: all)"})
    encode_batch_size: int = field(default=64, metadata={"help": "batch size for encoding the items afterwards"})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, ...; None picks cuda when available"})

    def __post_init__(self) -> None:
        if self.epochs <= 0:
            raise ValueError(f"epochs must be > 0, got {self.epochs}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (in-batch negatives), got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.max_seq_length is not None and self.max_seq_length < 1:
            raise ValueError(f"max_seq_length must be >= 1, got {self.max_seq_length}")
        if self.max_queries_per_item is not None and self.max_queries_per_item < 1:
            raise ValueError(f"max_queries_per_item must be >= 1, got {self.max_queries_per_item}")


@dataclass
class MultitaskConfig(SearchConfig):
    """Fine-tuning on query pairs and next-item pairs with the sum of two MNRL losses."""

    max_rec_pairs: int | None = field(default=None, metadata={"help": "use at most this many (item, next item) pairs (None: all)"})
    multi_dataset_sampler: str = field(default="proportional", metadata={"help": f"how batches alternate between tasks: {MULTI_SAMPLERS}"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_rec_pairs is not None and self.max_rec_pairs < 1:
            raise ValueError(f"max_rec_pairs must be >= 1, got {self.max_rec_pairs}")
        if self.multi_dataset_sampler not in MULTI_SAMPLERS:
            raise ValueError(f"multi_dataset_sampler {self.multi_dataset_sampler!r} is unknown; choose one of {MULTI_SAMPLERS}")


def query_pairs(dataset: Any, max_per_item: int | None = None, seed: int = 0) -> tuple[list[str], list[str]]:
    """(training query, item text) pairs: two lists of equal length."""
    q = dataset.queries_for("train")
    if len(q) == 0:
        raise ValueError("the dataset has no training queries; search fine-tuning needs (query, item) pairs")
    if max_per_item is not None:
        rng = np.random.default_rng(seed)
        q = q.iloc[rng.permutation(len(q))]
        q = q.groupby("item_index", sort=False).head(max_per_item).sort_index()
    texts = dataset.texts
    return q["text"].tolist(), [texts[i] for i in q["item_index"].to_numpy()]


def next_item_pairs(dataset: Any, max_pairs: int | None = None, seed: int = 0) -> tuple[list[str], list[str]]:
    """(item text, next item text) pairs from consecutive *training* interactions of each user.

    Pairs of an item with itself are skipped.
    """
    a, b = [], []
    for hist in dataset.user_histories(("train",)).values():
        if len(hist) > 1:
            keep = hist[:-1] != hist[1:]
            a.append(hist[:-1][keep])
            b.append(hist[1:][keep])
    if not a:
        raise ValueError("no user has two training interactions; multitask needs (item, next item) pairs")
    a_idx, b_idx = np.concatenate(a), np.concatenate(b)
    if max_pairs is not None and len(a_idx) > max_pairs:
        sel = np.sort(np.random.default_rng(seed).choice(len(a_idx), max_pairs, replace=False))
        a_idx, b_idx = a_idx[sel], b_idx[sel]
    texts = dataset.texts
    return [texts[i] for i in a_idx], [texts[i] for i in b_idx]


def _train(model: Any, cfg: SearchConfig, datasets: dict[str, tuple[list[str], list[str]]], seed: int,
           show_progress: bool, multi_sampler: str = "proportional") -> dict[str, Any]:
    """Run SentenceTransformerTrainer with MNRL per dataset; returns a small training log."""
    import torch
    from datasets import Dataset as HFDataset
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.base.sampler import BatchSamplers, MultiDatasetBatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from semid.threads import avoid_cpu_oversubscription

    if not torch.cuda.is_available():
        # measured here: MNRL steps went from 1.8 to 12.8 s when a second process shared the 2 cores
        avoid_cpu_oversubscription()
    train = {k: HFDataset.from_dict({"anchor": a, "positive": p}) for k, (a, p) in datasets.items()}
    losses = {k: MultipleNegativesRankingLoss(model) for k in train}
    single = len(train) == 1
    out_dir = tempfile.mkdtemp(prefix="semid-st-")
    try:
        args = SentenceTransformerTrainingArguments(
            output_dir=out_dir,
            num_train_epochs=cfg.epochs,
            per_device_train_batch_size=cfg.batch_size,
            learning_rate=cfg.lr,
            warmup_steps=cfg.warmup_ratio,  # a float < 1 is a ratio in transformers v5
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            multi_dataset_batch_sampler=MultiDatasetBatchSamplers(multi_sampler),
            seed=seed,
            data_seed=seed,
            report_to="none",
            save_strategy="no",
            logging_strategy="steps",
            logging_steps=10,
            disable_tqdm=not show_progress,
            use_cpu=pick_device(cfg.device) == "cpu",
            dataloader_num_workers=0,
        )
        trainer = SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=next(iter(train.values())) if single else train,
            loss=next(iter(losses.values())) if single else losses,
        )
        result = trainer.train()
        history = [h for h in trainer.state.log_history if "loss" in h]
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    return {
        "n_pairs": {k: len(v) for k, v in train.items()},
        "steps": int(result.global_step),
        "train_loss": float(result.training_loss),
        "loss_first": float(history[0]["loss"]) if history else None,
        "loss_last": float(history[-1]["loss"]) if history else None,
    }


class SearchEmbedder(Embedder):
    """A sentence embedder fine-tuned on (query, item text) pairs with in-batch negatives.

    MultipleNegativesRankingLoss (Henderson et al., 2017, "Efficient Natural Language Response
    Suggestion for Smart Reply"); the *search-tuned* source of Penha et al. (RecSys 2025).
    """

    name = "search"

    def _pairs(self, dataset: Any) -> dict[str, tuple[list[str], list[str]]]:
        return {"search": query_pairs(dataset, self.config.max_queries_per_item, self.seed)}

    def fit(self, dataset: Any, inputs: list[ItemEmbeddings] | None = None) -> SearchEmbedder:
        import torch
        import transformers

        check_texts(dataset.texts, dataset.items["item_id"].to_numpy())
        torch.manual_seed(self.seed)
        transformers.set_seed(self.seed)
        self._dataset = dataset
        self._model = load_sentence_model(self.config.model, self.config.device, self.config.max_seq_length)
        pairs = self._pairs(dataset)
        logger.info("%s: fine-tuning %s on %s pairs", self.name, self.config.model, {k: len(v[0]) for k, v in pairs.items()})
        sampler = getattr(self.config, "multi_dataset_sampler", "proportional")
        self._log = _train(self._model, self.config, pairs, self.seed, self.show_progress, sampler)
        return self

    def embed(self) -> ItemEmbeddings:
        ds = self._dataset
        x = encode_texts(self._model, ds.texts, self.config.encode_batch_size, self.show_progress, True)
        meta = self._base_meta(ds, self.config.model)
        meta["training"] = self._log
        meta["max_seq_length"] = int(self._model.max_seq_length)
        return ItemEmbeddings(x, meta, None, ds.items["item_id"].to_numpy(), model=self._model)


class MultitaskEmbedder(SearchEmbedder):
    """One bi-encoder trained on (query, item) and (item, next item) pairs, loss = sum of two MNRL terms.

    The *multi-task* source of Penha et al., "Semantic IDs for Joint Generative Search and
    Recommendation" (RecSys 2025); next-item pairs come from training histories only.
    """

    name = "multitask"

    def _pairs(self, dataset: Any) -> dict[str, tuple[list[str], list[str]]]:
        return {
            "search": query_pairs(dataset, self.config.max_queries_per_item, self.seed),
            "rec": next_item_pairs(dataset, self.config.max_rec_pairs, self.seed),
        }
