"""Residual lookup-free quantization: an MLP autoencoder around vector-quantize-pytorch's ``ResidualLFQ``.

LFQ quantizes each of ``log2(K)`` latent dimensions to its sign, so a level's codebook
size ``K`` must be a power of two, and ResidualLFQ uses one size for every level.
"""

from __future__ import annotations

import logging
from typing import Any

from semid.ids.autoencoder import AutoencoderQuantizer

logger = logging.getLogger(__name__)

__all__ = ["ResidualLFQQuantizer"]


class ResidualLFQQuantizer(AutoencoderQuantizer):
    """Residual LFQ (lookup-free quantization).

    Yu et al., "Language Model Beats Diffusion — Tokenizer is Key to Visual Generation"
    (MAGVIT-v2), ICLR 2024; compared as ResidualLFQ in Penha et al., RecSys 2025, Table 3.
    The quantizer loss is LFQ's entropy auxiliary loss (``entropy_loss_weight``).
    """

    name = "rlfq"
    DEFAULTS = {**AutoencoderQuantizer.DEFAULTS, "entropy_loss_weight": 0.1, "commitment_loss_weight": 0.25}

    def _check_sizes(self, sizes: list[int]) -> None:
        if any(s & (s - 1) for s in sizes):
            raise ValueError(
                f"rlfq needs power-of-two codebook sizes (LFQ codes are sign patterns of log2(K) bits), "
                f"got {sizes}; use e.g. 256"
            )
        if len(set(sizes)) > 1:
            raise ValueError(f"rlfq uses one codebook size for every level, got {sizes}; pass a single int")

    def _make_rq(self, latent_dim: int) -> Any:
        from vector_quantize_pytorch import ResidualLFQ

        return ResidualLFQ(
            dim=latent_dim,
            num_quantizers=self.levels,
            codebook_size=self.level_sizes[0],
            entropy_loss_weight=float(self.options["entropy_loss_weight"]),
            commitment_loss_weight=float(self.options["commitment_loss_weight"]),
        )
