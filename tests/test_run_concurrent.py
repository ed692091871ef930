"""Two `semid run` processes into one --out (issue 17: results.json kept only the last writer's records)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = re.search(r'TINY = """(.*?)"""', (REPO / "tests" / "test_experiment.py").read_text(), re.S).group(1)


@pytest.mark.slow
def test_two_concurrent_runs_on_different_seeds_end_with_every_record_of_both(tmp_path):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    run = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-m", "semid.cli", "-q", "run", str(cfg), "--out", str(run),
                               "--no-progress", "--set", f"seeds=[{seed}]"], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    for p in procs:
        _, err = p.communicate(timeout=900)
        assert p.returncode == 0, err[-3000:]
    records = json.loads((run / "results.json").read_text())["records"]
    assert sorted(r["seed"] for r in records if r["kind"] == "generative") == [1, 2]
    assert sorted(r["seed"] for r in records if r["kind"] == "random") == [1, 2]
    assert [r["kind"] for r in records].count("popularity") == 1
    # the stages both runs share were built once (one run waited for the other's lock)
    assert len([p for p in run.glob("syn/query-states/*@*") if p.is_dir()]) == 1
    assert len([p for p in run.glob("syn/data@*") if p.is_dir()]) == 1
    # the report reads the merged results: both seeds in one row
    report = (run / "report" / "report.md").read_text()
    assert "| syn | rec-tuned | rq-kmeans | suffix | 2 |" in report
