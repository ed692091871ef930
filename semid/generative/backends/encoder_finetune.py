"""Fine-tuning the top layers of the encoder-decoder backend's text encoder
(``TrainConfig.encoder_train_layers > 0``).

With a frozen encoder the training queries' states are cached once; with its top ``N``
transformer layers trainable, every training step runs the encoder on the batch's texts and
back-propagates into those layers (and the decoder). That costs far more per step (a GPU
budget); the result is saved beside the decoder (``model/encoder/``, a sentence-transformers
directory) and used for every later query.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)

__all__ = ["JointModule", "unfreeze_top_layers", "tokenize", "fit_sample"]


def fit_sample(texts: list[str], encoder, max_texts: int = 2000) -> list[np.ndarray]:
    """The token states of up to ``max_texts`` evenly spaced ``texts`` from ``encoder`` as it
    starts: what the fixed ``pca`` projection is fitted on when no states are cached."""
    from semid.generative.backends.projection import evenly_spaced
    from semid.generative.query_states import token_states

    return [np.concatenate(token_states(encoder, [texts[i] for i in evenly_spaced(len(texts), max_texts)]))]


def _layer_list(model: nn.Module) -> nn.ModuleList:
    """The encoder's stack of transformer layers: its longest ``ModuleList`` named ``layer``/``layers``."""
    best = None
    for name, mod in model.named_modules():
        if isinstance(mod, nn.ModuleList) and name.split(".")[-1] in ("layer", "layers"):
            if best is None or len(mod) > len(best):
                best = mod
    if best is None:
        raise ValueError("cannot find the encoder's transformer layers (no ModuleList named 'layer' or 'layers'); "
                         "use encoder_train_layers = 0 with this encoder")
    return best


def unfreeze_top_layers(st_model: nn.Module, n: int) -> int:
    """Freeze every encoder weight except the top ``n`` layers; returns the trainable count."""
    layers = _layer_list(st_model)
    if n > len(layers):
        raise ValueError(f"encoder_train_layers = {n}, but the encoder has {len(layers)} layers")
    for p in st_model.parameters():
        p.requires_grad_(False)
    for layer in list(layers)[len(layers) - n:]:
        for p in layer.parameters():
            p.requires_grad_(True)
    trainable = sum(p.numel() for p in st_model.parameters() if p.requires_grad)
    logger.info("fine-tuning the top %d of %d encoder layers (%d parameters)", n, len(layers), trainable)
    return trainable


def tokenize(st_model, texts: list[str]) -> dict[str, torch.Tensor]:
    """The encoder's input features for ``texts``, with keys prefixed ``q_`` for a training batch."""
    prep = getattr(st_model, "preprocess", None) or st_model.tokenize  # sentence-transformers >= 6 renamed it
    feats = prep(list(texts))
    return {f"q_{k}": v for k, v in feats.items() if isinstance(v, torch.Tensor)}


class JointModule(nn.Module):
    """The trainable whole when the encoder is fine-tuned: encoder (a SentenceTransformer) + decoder."""

    def __init__(self, decoder: nn.Module, encoder: nn.Module) -> None:
        super().__init__()
        self.decoder = decoder
        self.encoder = encoder

    def forward(self, dec_in, labels, task_idx, r_tokens=None, r_mask=None, **q_features):
        q_states = q_mask = None
        if q_features:
            feats = {k[2:]: v for k, v in q_features.items()}
            q_states = self.encoder(feats)["token_embeddings"]
            q_mask = feats["attention_mask"].bool()
        return self.decoder(dec_in, labels, task_idx, q_states=q_states, q_mask=q_mask, r_tokens=r_tokens, r_mask=r_mask)
