"""The experiment runner: grid planning, config validation, stage caching and kill -9 resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from semid.config import from_dict
from semid.experiment import ExperimentConfig, load_experiment_config, plan_variants
from semid.experiment.stages import MARKER, StageCache

REPO = Path(__file__).resolve().parents[1]

TINY = """
name = "tiny"
seeds = [0]
collisions = ["suffix"]

[[datasets]]
name = "syn"
source = "synthetic"
options = { n_items = 80, n_users = 40, n_genres = 4, n_topics = 6, n_tastes = 5, min_interactions = 8, max_interactions = 12, min_history = 3 }

[embeddings.rec]
method = "rec"
options = { epochs = 2, dim = 16, batch_size = 64 }

[[schemes]]
name = "rec-tuned"
embedding = "rec"
tables = ["table1"]

[[quantizers]]
method = "rq-kmeans"

[ids]
levels = 2
codebook_size = 8

[train]
epochs = 2
batch_size = 16
save_steps = 5
d_model = 32
d_ff = 64
heads = 2
decoder_layers = 1

[evaluate]
k = 30
beam_size = 10
max_examples = 10
"""


def _cfg(**kw):
    base = {"datasets": [{"name": "s"}],
            "embeddings": {"a": {"method": "search"}, "b": {"method": "rec"}},
            "schemes": [{"name": "x", "embedding": "a"}, {"name": "y", "scheme": "separate", "search": "a", "rec": "b"}]}
    base.update(kw)
    return from_dict(ExperimentConfig, base)


def test_plan_covers_the_grid_and_respects_only_schemes():
    cfg = _cfg(seeds=[0, 1], collisions=["none", "suffix"],
               quantizers=[{"method": "rq-kmeans"}, {"method": "rq-vae", "preset": "robust", "only_schemes": ["x"]}])
    variants = plan_variants(cfg)
    # 2 rows x rq-kmeans + 1 row x rq-vae, x 2 collisions x 2 seeds
    assert len(variants) == (2 + 1) * 2 * 2
    assert {v.quantizer.label for v in variants if v.row.name == "y"} == {"rq-kmeans"}
    assert len({(v.dataset.name, v.slug) for v in variants}) == len(variants)


@pytest.mark.parametrize(
    "change, match",
    [({"schemes": [{"name": "x", "embedding": "nope"}]}, "nope.*not defined"),
     ({"collisions": ["maybe"]}, "collisions 'maybe'"),
     ({"seeds": []}, "seeds"),
     ({"datasets": [{"name": "s", "source": "web"}]}, "source 'web'"),
     ({"bogus": 1}, r"unknown key\(s\) \['bogus'\]"),
     ({"datasets": [{"name": "s", "ids": {"codebook": 8}}]}, r"datasets.s.ids.*codebook"),
     ({"datasets": [{"name": "s", "ids": {"codebook_size": 1}}]}, "codebook_size")],
)
def test_bad_configs_are_rejected_with_a_clear_message(change, match):
    with pytest.raises((ValueError, TypeError), match=match):
        _cfg(**change)


def test_dataset_overrides_lay_over_the_global_train_and_ids_options():
    cfg = _cfg(datasets=[{"name": "big"}, {"name": "small", "train": {"epochs": 8}, "ids": {"codebook_size": 24}}],
               train={"epochs": 1, "lr": 1e-3}, ids={"levels": 2, "codebook_size": 256})
    big, small = cfg.datasets
    assert cfg.train_for(big) == {"epochs": 1, "lr": 1e-3}
    assert cfg.train_for(small) == {"epochs": 8, "lr": 1e-3}
    assert (cfg.ids_for(big).codebook_size, cfg.ids_for(small).codebook_size) == (256, 24)
    assert cfg.ids_for(small).levels == 2


def test_config_file_overrides(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text(TINY)
    cfg = load_experiment_config(str(f), ["seeds=[3,4]", "train.epochs=5"])
    assert cfg.seeds == [3, 4] and cfg.train["epochs"] == 5


def test_stage_cache_reuses_recomputes_and_distrusts_unmarked_dirs(tmp_path):
    calls = []

    def build(path: Path) -> None:
        calls.append(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "x.txt").write_text("done")

    cache = StageCache(tmp_path)
    p1, k1 = cache.run("s", "a", "a", {"v": 1}, build)
    p2, k2 = cache.run("s", "a", "a", {"v": 1}, build)
    assert (p1, k1) == (p2, k2) and len(calls) == 1
    _, k3 = cache.run("s", "a", "a", {"v": 2}, build)  # config changed -> recomputed
    assert k3 != k1 and len(calls) == 2
    # a half-written directory (no marker) is never trusted
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "partial.bin").write_text("junk")
    cache.run("s", "b", "b", {"v": 1}, build)
    assert len(calls) == 3 and not (tmp_path / "b" / "partial.bin").exists()
    assert (tmp_path / "b" / MARKER).exists()


def test_kill_minus_9_then_rerun_reuses_completed_stages(tmp_path):
    """Regression guard for resumability: kill -9 during model training, rerun, nothing completed is redone."""
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "semid.cli", "-q", "run", str(cfg), "--out", str(run), "--no-progress", "--no-report"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    model_dir = run / "syn" / "model" / "rec-tuned__rq-kmeans__suffix__s0"
    deadline = time.time() + 300
    while not (model_dir / "stage.pending.json").exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() < deadline, "the run never reached model training"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {p.parent: p.stat().st_mtime_ns for p in run.rglob(MARKER)}
    kinds_before = {json.loads(p.read_text())["kind"] for p in run.rglob(MARKER)}
    assert {"data", "embeddings", "ids", "query-states"} <= kinds_before
    assert not (run / "syn" / "eval" / "rec-tuned__rq-kmeans__suffix__s0" / MARKER).exists()

    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    timings = json.loads((run / "timings.json").read_text())["stages"]
    reused = {(s["kind"], s["name"]): s["reused"] for s in timings}
    for kind in ("data", "embeddings", "ids", "query-states"):
        assert all(r for (k, _), r in reused.items() if k == kind), reused
    assert not reused[("model", "syn/rec-tuned__rq-kmeans__suffix__s0")]
    for path, mtime in done_before.items():  # completed stages were not rewritten
        assert (path / MARKER).stat().st_mtime_ns == mtime, path
    records = json.loads((run / "results.json").read_text())["records"]
    assert any(r["kind"] == "generative" and r["search_recall@30"] is not None for r in records)
