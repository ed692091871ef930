"""CPU thread count for torch work on shared machines."""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)

__all__ = ["avoid_cpu_oversubscription"]


def avoid_cpu_oversubscription() -> None:
    """Use one torch thread when torch's intra-op threads would compete with other processes.

    Measured on ml-latest-small (small T5, 2 shared cores, load average ~6): 2 torch threads
    did fewer than 500 steps in 15 minutes; one thread ran 3.9 steps/s. A micro-benchmark of one
    d_model-64 T5 step at batch 128 on the same loaded machine: 0.66 s with 1 thread, 3.7 s with 2.
    An explicit ``OMP_NUM_THREADS`` is respected (then this only warns).
    """
    import torch

    n_threads, n_cpu = torch.get_num_threads(), os.cpu_count() or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if n_threads > 1 and load + n_threads > n_cpu + 0.5:
        if "OMP_NUM_THREADS" in os.environ:
            logger.warning("torch uses %d CPU threads on %d cores with load average %.1f: busy cores make "
                           "multi-threaded training many times slower; consider OMP_NUM_THREADS=1", n_threads, n_cpu, load)
            return
        logger.warning("load average %.1f on %d cores: training with 1 torch thread instead of %d (busy cores make "
                       "multi-threaded training many times slower; set OMP_NUM_THREADS to choose)", load, n_cpu, n_threads)
        torch.set_num_threads(1)
