"""The quantizer registry: one line per method (name, class, one-line help).

Classes are ``"module:attribute"`` strings imported on first use, so this module imports no
quantizer and :mod:`semid.ids.base` can use it without an import cycle. Adding a quantizer is
its own module (a :class:`~semid.ids.base.Quantizer` subclass whose ``name`` is its registry
name) plus one line here. Quantizers validate their keyword options in ``_resolve_options``
(no options dataclass yet), so the entries carry no ``options``.
"""

from __future__ import annotations

from semid.registry import Registry, check_name_attribute

__all__ = ["QUANTIZERS", "DEFAULT_QUANTIZER"]

#: The quantizer when none is given (build_ids, `semid ids build --method`, a config's [[quantizers]] method)
DEFAULT_QUANTIZER = "rq-kmeans"

# values are Quantizer subclasses; not annotated as such, since importing semid.ids.base here, even
# for type checking only, would make base <-> quantizers an import cycle
QUANTIZERS: Registry[type] = Registry("quantizer method", check=check_name_attribute)
QUANTIZERS.add("rq-kmeans", "semid.ids.rq_kmeans:RQKMeans", "residual k-means (FAISS ResidualQuantizer), the paper's best")
QUANTIZERS.add("rq-vae", "semid.ids.rq_vae:RQVAE", "RQ-VAE: an MLP autoencoder around ResidualVQ (presets naive, robust)")
QUANTIZERS.add("rlfq", "semid.ids.rlfq:ResidualLFQQuantizer", "residual lookup-free quantization in an autoencoder")
QUANTIZERS.add("dict", "semid.ids.dictionary:DictionaryQuantizer", "sparse dictionary learning (scikit-learn), top atoms as codes")
