"""Shared machinery for quantizers that wrap a residual quantizer in an MLP autoencoder.

``RQVAE`` (ResidualVQ) and ``ResidualLFQQuantizer`` (ResidualLFQ) both train
``decoder(quantizer(encoder(x)))`` with a reconstruction loss plus the quantizer's own
loss, and record a per-epoch training curve: total, reconstruction and quantizer
(commitment or entropy) loss, and the number of codes in use per level on the whole
training set.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from abc import abstractmethod
from typing import Any

import numpy as np

from semid.ids.base import Quantizer, QuantizerFitError

logger = logging.getLogger(__name__)

__all__ = ["AutoencoderQuantizer", "RECON_REDUCTIONS", "reconstruction_loss"]

RECON_REDUCTIONS = ("mean", "sum")


def reconstruction_loss(x_hat: Any, x: Any, reduction: str = "mean") -> Any:
    """Squared reconstruction error of float tensors (b, d): ``mean`` over every element, or
    ``sum`` over the d dimensions then mean over the batch (``d`` times ``mean``)."""
    import torch

    if reduction == "mean":
        return torch.nn.functional.mse_loss(x_hat, x)
    if reduction == "sum":
        return ((x_hat - x) ** 2).sum(dim=1).mean()
    raise ValueError(f"recon_reduction must be one of {list(RECON_REDUCTIONS)}, got {reduction!r}")


def _mlp(dims: list[int]) -> Any:
    import torch.nn as nn

    layers: list[Any] = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


@contextlib.contextmanager
def _torch_threads(n: int | None):
    import torch

    if not n:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


class AutoencoderQuantizer(Quantizer):
    """Base for MLP encoder -> residual quantizer -> MLP decoder (not registered itself).

    Subclasses define ``DEFAULTS`` (option -> default), optionally ``PRESETS``
    (preset name -> option overrides), and ``_make_rq(latent_dim)`` returning a module
    whose ``forward(z)`` gives ``(quantized, indices, losses)`` and which has
    ``get_output_from_indices(indices)``.
    """

    DEFAULTS: dict[str, Any] = {
        "hidden": [256, 128],
        "latent_dim": 32,
        "epochs": 20,
        "batch_size": 1024,
        "lr": 1e-3,
        "weight_decay": 0.0,
        "lr_schedule": "constant",
        "warmup_epochs": 0,
        "num_threads": None,
        # "mean": MSE averaged over dimensions (the library default, and ours); "sum": squared
        # error summed over dimensions, averaged over the batch. The quantizer's losses are
        # summed over levels either way, so "mean" weights reconstruction d times less against
        # them: a loss-scale mismatch another TIGER reimplementation found to cause collapse.
        "recon_reduction": "mean",
    }
    PRESETS: dict[str, dict[str, Any]] = {}
    DEFAULT_PRESET: str | None = None

    def _resolve_options(self, options: dict[str, Any]) -> dict[str, Any]:
        preset = options.pop("preset", None) or self.DEFAULT_PRESET
        if self.PRESETS and preset not in self.PRESETS:
            raise ValueError(f"{self.name}: unknown preset {preset!r}; valid presets: {sorted(self.PRESETS)}")
        if not self.PRESETS and preset is not None:
            raise ValueError(f"{self.name} has no presets; got preset={preset!r}")
        out = dict(self.DEFAULTS)
        out.update(self.PRESETS.get(preset, {}) if preset else {})
        unknown = sorted(set(options) - set(out))
        if unknown:
            raise ValueError(f"{self.name}: unknown option(s) {unknown}; valid: {sorted(out)}")
        out.update(options)
        out["hidden"] = [int(h) for h in out["hidden"]]
        if preset is not None:
            out["preset"] = preset
        for key in ("epochs", "batch_size", "latent_dim"):
            if int(out[key]) < 1:
                raise ValueError(f"{self.name}: {key} must be >= 1, got {out[key]}")
        if out["recon_reduction"] not in RECON_REDUCTIONS:
            raise ValueError(f"{self.name}: recon_reduction must be one of {list(RECON_REDUCTIONS)}, "
                             f"got {out['recon_reduction']!r}")
        if out["lr_schedule"] not in ("constant", "cosine"):
            raise ValueError(f"{self.name}: lr_schedule must be 'constant' or 'cosine', got {out['lr_schedule']!r}")
        return out

    @abstractmethod
    def _make_rq(self, latent_dim: int) -> Any:
        """The vector-quantize-pytorch residual quantizer module over ``latent_dim``."""

    def _build(self, d: int) -> None:
        import torch.nn as nn

        o = self.options
        self.model = nn.ModuleDict(
            {
                "encoder": _mlp([d, *o["hidden"], int(o["latent_dim"])]),
                "rq": self._make_rq(int(o["latent_dim"])),
                "decoder": _mlp([int(o["latent_dim"]), *reversed(o["hidden"]), d]),
            }
        )

    def _forward(self, x: Any) -> tuple[Any, Any, Any]:
        z = self.model["encoder"](x)[:, None, :]  # (b, 1, latent): LFQ needs a sequence axis
        q, idx, losses = self.model["rq"](z)
        return self.model["decoder"](q[:, 0, :]), idx, losses

    def _fit(self, X: np.ndarray) -> None:
        import torch
        from tqdm.auto import tqdm

        o = self.options
        n, d = X.shape
        with torch.random.fork_rng(devices=[]), _torch_threads(o["num_threads"]):
            torch.manual_seed(self.seed)
            self._build(d)
            opt = torch.optim.AdamW(self.model.parameters(), lr=float(o["lr"]), weight_decay=float(o["weight_decay"]))
            epochs, bs = int(o["epochs"]), min(int(o["batch_size"]), n)
            steps_per_epoch = math.ceil(n / bs)
            total_steps = epochs * steps_per_epoch
            warmup = int(o["warmup_epochs"]) * steps_per_epoch

            def lr_factor(step: int) -> float:
                if step < warmup:
                    return (step + 1) / warmup
                if o["lr_schedule"] == "cosine":
                    t = (step - warmup) / max(1, total_steps - warmup)
                    return 0.5 * (1 + math.cos(math.pi * t))
                return 1.0

            sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
            Xt = torch.from_numpy(X)
            gen = torch.Generator().manual_seed(self.seed)
            curve: dict[str, list[Any]] = {"epoch": [], "loss": [], "recon_loss": [], "quant_loss": [], "codes_in_use": [], "lr": []}
            bar = tqdm(range(epochs), desc=f"{self.name} fit", disable=not self.show_progress)
            t0 = time.perf_counter()
            for epoch in bar:
                self.model.train()
                perm = torch.randperm(n, generator=gen)
                tot = rec_tot = q_tot = 0.0
                for start in range(0, n, bs):
                    xb = Xt[perm[start : start + bs]]
                    x_hat, _, losses = self._forward(xb)
                    recon = reconstruction_loss(x_hat, xb, o["recon_reduction"])
                    qloss = losses.sum()
                    loss = recon + qloss
                    if not torch.isfinite(loss):
                        raise QuantizerFitError(
                            f"{self.name}: loss became {loss.item()} at epoch {epoch}; lower lr (now {o['lr']})"
                        )
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    w = len(xb) / n
                    tot += loss.item() * w
                    rec_tot += recon.item() * w
                    q_tot += qloss.item() * w
                codes = self._encode(X)
                in_use = [int(len(np.unique(codes[:, j]))) for j in range(self.levels)]
                for k, v in (("epoch", epoch + 1), ("loss", tot), ("recon_loss", rec_tot), ("quant_loss", q_tot),
                             ("codes_in_use", in_use), ("lr", sched.get_last_lr()[0])):
                    curve[k].append(v)
                bar.set_postfix(loss=f"{tot:.4g}", codes=in_use)
                logger.debug("%s epoch %d loss %.4g recon %.4g codes %s", self.name, epoch + 1, tot, rec_tot, in_use)
        self.fit_info = {"training_curve": curve, "train_seconds": time.perf_counter() - t0}

    def _encode(self, X: np.ndarray) -> np.ndarray:
        import torch

        self.model.eval()
        out = []
        with torch.no_grad(), _torch_threads(self.options["num_threads"]):
            for start in range(0, len(X), 8192):
                z = self.model["encoder"](torch.from_numpy(X[start : start + 8192]))[:, None, :]
                _, idx, _ = self.model["rq"](z)
                out.append(idx.reshape(len(z), self.levels).numpy())
        return np.concatenate(out).astype(np.int64)

    def _decode(self, codes: np.ndarray) -> np.ndarray:
        import torch

        self.model.eval()
        with torch.no_grad():
            q = self.model["rq"].get_output_from_indices(torch.from_numpy(codes)[:, None, :])
            return self.model["decoder"](q.reshape(len(codes), -1)).numpy()

    def _state(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in self.model.state_dict().items()}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        import torch

        d = int(state["encoder.0.weight"].shape[1])
        torch.manual_seed(self.seed)
        self._build(d)
        self.model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
        self.model.eval()
