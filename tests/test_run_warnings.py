"""Normal runs print no repeated library warnings (issue 17: `--levels 20 --codebook-size 8` on 300
items printed ten FAISS "please provide at least ... training points" lines and nothing of semid's)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from semid.ids import build_ids
from semid.ids import rq_kmeans as rqk


@pytest.mark.parametrize("backend", ["faiss-rq", "kmeans"])
def test_few_points_per_code_gives_one_semid_warning_and_no_faiss_lines(backend, capfd, caplog, monkeypatch):
    monkeypatch.setattr(rqk, "_warned_few_points", set())
    x = np.random.default_rng(0).normal(size=(300, 16)).astype(np.float32)
    with caplog.at_level(logging.WARNING):
        for seed in (0, 1):  # a grid builds several IDs of the same shape in one process
            build_ids(x, levels=20, codebook_size=8, seed=seed, show_progress=False, backend=backend)
    err = capfd.readouterr().err
    assert "please provide at least" not in err and "clustering 300 points" not in err  # FAISS's C++ lines
    msgs = [r.getMessage() for r in caplog.records]
    few = [m for m in msgs if "training points per code" in m]
    assert len(few) == 1 and "300 items" in few[0] and "39" in few[0]
    # the ID space far larger than the catalogue is said (once per build), with the fix
    space = [m for m in msgs if "far larger than the catalogue" in m]
    assert len(space) == 2 and "--codebook-size" in space[0]


def test_enough_points_per_code_warns_nothing(caplog, capfd, monkeypatch):
    monkeypatch.setattr(rqk, "_warned_few_points", set())
    x = np.random.default_rng(0).normal(size=(400, 8)).astype(np.float32)
    with caplog.at_level(logging.WARNING):
        build_ids(x, levels=2, codebook_size=8, show_progress=False)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert "WARNING" not in capfd.readouterr().err


def test_silencing_faiss_does_not_change_the_codes():
    """min_points_per_centroid only gates FAISS's message: the codes equal FAISS's defaults'."""
    import faiss

    x = np.random.default_rng(1).normal(size=(300, 16)).astype(np.float32)
    ours = build_ids(x, levels=3, codebook_size=8, collisions="none", show_progress=False).ids.codes
    nbits = faiss.UInt64Vector()
    for _ in range(3):
        nbits.push_back(3)
    rq = faiss.ResidualQuantizer(16, nbits)
    rq.cp.seed = 0
    rq.max_beam_size = 5
    rq.verbose = False
    rq.train(x)
    assert np.array_equal(ours, rqk.unpack_faiss_codes(rq.compute_codes(x), [3, 3, 3]))
