"""The fixed ``pca`` projection of a frozen encoder's token states into the ID decoder's width.

With ``search_projection = "learned"`` the decoder projects every token state of every query
through a trained linear layer at every step (its forward and its weight gradient over every
token, and the gradient back through the keys and values that read it). ``pca`` replaces
it by the states' top ``d_model`` principal components, fitted once on the training states, then
a LayerNorm without parameters. Nothing in it trains, so the backend projects every cached state
once (:meth:`PCAProjection.project_states`) and training reads the projected states directly:
1.14x the training examples/s on ml-latest-small (benchmarks/results/backends.md).
What the learned layer could add is only its choice of subspace: its affine LayerNorm and any
linear map after it are absorbed by the cross-attention's key and value layers, which read the
memory next.

The components come from a deterministic sample of the states (evenly spaced token rows), a
float64 covariance and ``numpy.linalg.eigh`` (scikit-learn's PCA would do the same on a sample;
this keeps each component's sign fixed, so the same states give the same model).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits
from torch import nn

__all__ = ["PCAProjection", "FIT_SAMPLE_TOKENS", "evenly_spaced"]

#: token states the principal components are fitted on (evenly spaced over all of them)
FIT_SAMPLE_TOKENS = 200_000


def evenly_spaced(n: int, k: int) -> np.ndarray:
    """int64: at most ``k`` distinct evenly spaced indices of ``range(n)``, first and last included."""
    return np.unique(np.linspace(0, n - 1, min(n, k)).astype(np.int64))


def _project(x: torch.Tensor, mean: torch.Tensor, components: torch.Tensor) -> torch.Tensor:
    return F.layer_norm((x - mean.to(x.dtype)) @ components.to(x.dtype), (components.shape[1],))


class PCAProjection(nn.Module):
    """x (..., enc_dim) -> LayerNorm((x - mean) @ components) (..., d_model); buffers only."""

    def __init__(self, enc_dim: int, d_model: int) -> None:
        super().__init__()
        if d_model > enc_dim:
            raise ValueError(f"search_projection 'pca' keeps d_model principal components of the encoder's "
                             f"{enc_dim}-dim states, but d_model is {d_model}; set d_model <= {enc_dim} or "
                             f"search_projection = 'learned'")
        self.d_model = d_model
        self.register_buffer("mean", torch.zeros(enc_dim))
        self.register_buffer("components", torch.zeros(enc_dim, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _project(x, self.mean, self.components)

    @property
    def fitted(self) -> bool:
        return bool(self.components.abs().sum() > 0)

    def fit(self, states: np.ndarray | list[np.ndarray], max_tokens: int = FIT_SAMPLE_TOKENS) -> PCAProjection:
        """Fit on ``states`` (n_tokens, enc_dim), or on ``max_tokens`` evenly spaced rows of it; a
        list of such arrays (query and item-text states) gives each an equal share of the rows."""
        parts = [p for p in (states if isinstance(states, list) else [states]) if len(p)]
        if sum(len(p) for p in parts) < 2:
            raise ValueError(f"search_projection 'pca' needs encoder states to fit on; got "
                             f"{sum(len(p) for p in parts)} token rows")
        share = max(1, max_tokens // len(parts))
        x = np.concatenate([np.asarray(p[evenly_spaced(len(p), share)], dtype=np.float64) for p in parts])
        # one BLAS thread: the covariance's sums in one order, so the same states give the same
        # components (and model) however many threads the process has (threadpoolctl: scikit-learn's)
        with threadpool_limits(1):
            mean = x.mean(0)
            x -= mean
            vals, vecs = np.linalg.eigh(x.T @ x / max(len(x) - 1, 1))
        top = vecs[:, np.argsort(vals)[::-1][:self.d_model]]
        top *= np.where(top[np.abs(top).argmax(0), np.arange(top.shape[1])] < 0, -1.0, 1.0)  # fixed signs
        self.mean.copy_(torch.from_numpy(mean).float())
        self.components.copy_(torch.from_numpy(top).float())
        return self

    @torch.inference_mode()
    def project_states(self, states: np.ndarray, chunk: int = 65_536) -> np.ndarray:
        """float32 (n_tokens, d_model): every row of ``states`` projected on the CPU, in chunks."""
        mean, components = self.mean.cpu(), self.components.cpu()
        out = np.empty((len(states), self.d_model), dtype=np.float32)
        for s in range(0, len(states), chunk):
            x = torch.from_numpy(np.asarray(states[s:s + chunk], dtype=np.float32))
            out[s:s + chunk] = _project(x, mean, components).numpy()
        return out
