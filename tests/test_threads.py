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


def test_busy_cpu_drops_to_one_thread(monkeypatch, two_threads):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (3.0, 3.0, 3.0))
    avoid_cpu_oversubscription()
    assert torch.get_num_threads() == 1


def test_idle_cpu_keeps_its_threads(monkeypatch, two_threads):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.1, 0.1, 0.1))
    avoid_cpu_oversubscription()
    assert torch.get_num_threads() == 2


def test_explicit_omp_num_threads_is_respected_with_a_warning(monkeypatch, two_threads, caplog):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (3.0, 3.0, 3.0))
    with caplog.at_level("WARNING"):
        avoid_cpu_oversubscription()
    assert torch.get_num_threads() == 2 and "OMP_NUM_THREADS=1" in caplog.text
