"""The torch thread guard used by generative training and MiniLM fine-tuning."""

from __future__ import annotations

import os

import pytest
import torch

from semid.threads import avoid_cpu_oversubscription


@pytest.fixture
def two_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)


@pytest.mark.parametrize("load, expected", [(3.0, 1), (0.1, 2)], ids=["busy-cpu-drops-to-1", "idle-cpu-keeps-2"])
def test_thread_count_follows_the_load(monkeypatch, two_threads, load, expected):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    avoid_cpu_oversubscription()
    assert torch.get_num_threads() == expected


def test_explicit_omp_num_threads_is_respected_with_a_warning(monkeypatch, two_threads, caplog):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (3.0, 3.0, 3.0))
    with caplog.at_level("WARNING"):
        avoid_cpu_oversubscription()
    assert torch.get_num_threads() == 2 and "OMP_NUM_THREADS=1" in caplog.text
