"""The experiment runner: grid planning, config validation, stage caching, damaged artifacts, kill -9 resume
and concurrent writers of one run."""

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


SLUG = "rec-tuned__rq-kmeans__suffix__s0"


def _cli_run(cfg: Path, run: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "semid.cli", "-q", "run", str(cfg), "--out", str(run), "--no-progress", "--no-report",
            *extra]


ENV = dict(os.environ, OMP_NUM_THREADS="1")


def _comparable_records(run: Path) -> list[dict]:
    """results.json without timings (``*_s``) and with paths relative to the run."""
    out = []
    for r in json.loads((run / "results.json").read_text())["records"]:
        out.append({k: (Path(v).relative_to(run).as_posix() if k.endswith("_dir") and v else v)
                    for k, v in r.items() if not k.endswith("_s")})
    return out


def _stages(run: Path) -> dict[tuple[str, str], dict]:
    return {(s["kind"], s["name"]): s for s in json.loads((run / "timings.json").read_text())["stages"]}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """The tiny grid run once, uninterrupted (the reference of the resume and damage tests)."""
    root = tmp_path_factory.mktemp("finished")
    (root / "tiny.toml").write_text(TINY)
    # timeouts catch a hang: the run takes ~40 s on 2 quiet cores but 450 s was measured at load 16
    out = subprocess.run(_cli_run(root / "tiny.toml", root / "run"), cwd=REPO, env=ENV, capture_output=True,
                         text=True, timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    return root / "run"


@pytest.mark.slow  # two full runs of the tiny grid and a third, killed one: ~80 s on 2 quiet cores
def test_kill_minus_9_mid_training_then_rerun_resumes_the_model_from_its_checkpoint(tmp_path, finished_run):
    """Regression (issue 17): a rerun after kill -9 in model training trained from step 0. It must
    resume from the newest checkpoint, redo nothing completed, and end with the records of an
    uninterrupted run."""
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    run = tmp_path / "run"
    cmd = _cli_run(cfg, run)
    proc = subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 900
    while not list(run.glob(f"syn/model/{SLUG}@*/checkpoints/step-*.pt")):
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() < deadline, "the run never reached a training checkpoint"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    (model_dir,) = run.glob(f"syn/model/{SLUG}@*")
    assert not (model_dir / MARKER).exists(), "training finished before the kill; the test proves nothing"
    on_disk = max(int(p.stem.split("-")[1]) for p in (model_dir / "checkpoints").glob("step-*.pt"))
    assert on_disk > 0
    done_before = {p.parent: p.stat().st_mtime_ns for p in run.rglob(MARKER)}
    kinds_before = {json.loads(p.read_text())["kind"] for p in run.rglob(MARKER)}
    assert {"data", "embeddings", "ids", "query-states"} <= kinds_before

    out = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    stages = _stages(run)
    for (kind, _), s in stages.items():
        if kind in ("data", "embeddings", "ids", "query-states", "item-states", "dense"):
            assert s["reused"], s
    model = stages[("model", f"syn/{SLUG}")]
    assert not model["reused"]
    assert model["info"]["resumed_from_step"] == on_disk  # resumed, not restarted from step 0
    reference = _stages(finished_run)[("model", f"syn/{SLUG}")]
    assert reference["info"]["resumed_from_step"] == 0
    assert model["info"]["steps"] == reference["info"]["steps"]
    for path, mtime in done_before.items():  # completed stages were not rewritten
        assert (path / MARKER).stat().st_mtime_ns == mtime, path
    assert _comparable_records(run) == _comparable_records(finished_run)


def _damage_delete(p: Path) -> None:
    p.unlink()


def _damage_truncate(p: Path) -> None:
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _damage_flip(p: Path) -> None:  # same size, other bytes: only the hash can tell
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))


@pytest.mark.parametrize("kind, name, folder, file, damage", [
    ("data", "syn", "syn/data", "interactions.parquet", _damage_delete),
    ("embeddings", "syn/rec", "syn/embeddings/rec", "embeddings.npy", _damage_truncate),
    ("ids", f"syn/{SLUG}", f"syn/ids/{SLUG}", "codes.npy", _damage_flip),
    ("model", f"syn/{SLUG}", f"syn/model/{SLUG}", "model/decoder.pt", _damage_truncate),
    ("eval", f"syn/{SLUG}", f"syn/eval/{SLUG}", "hits.parquet", _damage_flip),
    ("query-states", "syn/all-MiniLM-L6-v2-64", "syn/query-states/all-MiniLM-L6-v2-64", "states.npy", _damage_truncate),
    ("item-states", "syn/all-MiniLM-L6-v2-64", "syn/item-states/all-MiniLM-L6-v2-64", "offsets.npy", _damage_flip),
    ("dense", "syn/rec", "syn/eval/dense-rec", "metrics.json", _damage_delete),
    ("baseline", "syn/popularity", "syn/eval/popularity", "hits.parquet", _damage_truncate),
    ("baseline", "syn/random-s0", "syn/eval/random-ids__s0", "metrics.json", _damage_flip),
])
def test_a_deleted_or_damaged_artifact_is_recomputed_not_trusted(tmp_path, finished_run, kind, name, folder, file,
                                                                 damage):
    """Regression (issue 17): with a stage's file deleted or damaged, a rerun said "reuse"."""
    import shutil

    from semid.experiment import load_experiment_config, run_experiment

    run = tmp_path / "run"
    shutil.copytree(finished_run, run, symlinks=True)
    target = run / folder / file
    original = target.read_bytes()
    damage(target)
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    run_experiment(load_experiment_config(str(cfg)), run, show_progress=False)
    stages = _stages(run)
    assert not stages[(kind, name)]["reused"], f"damaged {file} was trusted"
    assert [k for k, s in stages.items() if not s["reused"]] == [(kind, name)]  # nothing else redone
    assert target.read_bytes() == original  # rebuilt identically
    assert _comparable_records(run) == _comparable_records(finished_run)


def test_a_partial_model_from_other_trainconfig_defaults_is_retrained_not_a_failure(tmp_path, finished_run):
    """A partial model whose checkpoints carry another run key (TrainConfig gained a field since) made
    train_model raise "holds checkpoints of a run with other settings", failing the whole run."""
    import shutil

    from semid.experiment import load_experiment_config, run_experiment

    run = tmp_path / "run"
    shutil.copytree(finished_run, run, symlinks=True)
    model = (run / "syn" / "model" / SLUG).resolve()
    for f in (MARKER, "config.json"):
        (model / f).unlink()
    (model / "checkpoints").mkdir()
    (model / "checkpoints" / "run_key").write_text("0123456789ab\n")
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    run_experiment(load_experiment_config(str(cfg)), run, show_progress=False)
    stages = _stages(run)
    assert not stages[("model", f"syn/{SLUG}")]["reused"]
    assert stages[("model", f"syn/{SLUG}")]["info"]["resumed_from_step"] == 0
    assert _comparable_records(run) == _comparable_records(finished_run)


def test_a_truncated_model_given_by_the_user_names_its_file(finished_run, tmp_path, capsys):
    """Regression (issue 17): `semid evaluate --model` on a damaged model gave a library traceback."""
    import shutil

    from semid.cli import main
    from semid.generative.retriever import load_model

    model = tmp_path / "model"
    shutil.copytree(finished_run / "syn" / "model" / SLUG, model)
    load_model(model)  # intact: loads
    weights = model / "model" / "decoder.pt"
    _damage_truncate(weights)
    with pytest.raises(ValueError, match=f"{weights}.*damaged.*semid train"):
        load_model(model)
    rc = main(["evaluate", "--model", str(model), "--data", str(finished_run / "syn" / "data"),
               "--out", str(tmp_path / "eval")])
    err = capsys.readouterr().err
    assert rc == 2 and str(weights) in err and "Traceback" not in err, err
    assert not (tmp_path / "eval").exists()


def test_stage_folders_are_named_by_their_key_so_two_settings_live_side_by_side(tmp_path):
    """Regression (issue 17): --set ids.codebook_size=16 discarded the 32-code IDs of the same run."""
    calls = []

    def build(path: Path) -> None:
        calls.append(path.name)
        path.mkdir(parents=True, exist_ok=True)
        (path / "x.txt").write_text(str(len(calls)))

    cache = StageCache(tmp_path)
    p32, _ = cache.run("ids", "a", "ds/ids/a", {"codebook_size": 32}, build)
    p16, _ = cache.run("ids", "a", "ds/ids/a", {"codebook_size": 16}, build)
    assert p32 != p16 and p32.exists() and p16.exists() and len(calls) == 2
    assert p32.name.startswith("a@") and (tmp_path / "ds/ids/a").resolve() == p16.resolve()  # readable name: latest
    back, _ = cache.run("ids", "a", "ds/ids/a", {"codebook_size": 32}, build)
    assert back == p32 and len(calls) == 2 and (p32 / "x.txt").read_text() == "1"  # reused, not rebuilt
    assert (tmp_path / "ds/ids/a").resolve() == p32.resolve()


def test_a_stage_folder_of_the_old_layout_is_moved_and_reused_not_recomputed(tmp_path):
    from semid.io import write_json

    calls = []

    def build(path: Path) -> None:
        calls.append(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "x.txt").write_text("new")

    cache = StageCache(tmp_path)
    key = cache.run("s", "a", "elsewhere", {"v": 1}, build)[1]  # the key this spec gets
    old = tmp_path / "a"
    old.mkdir()
    (old / "x.txt").write_text("old")
    write_json(old / MARKER, {"key": key, "kind": "s", "name": "a", "seconds": 1.0})  # no file list: old marker
    path, _ = cache.run("s", "a", "a", {"v": 1}, build)
    assert len(calls) == 1 and (path / "x.txt").read_text() == "old" and old.is_symlink()
    assert "x.txt" in json.loads((path / MARKER).read_text())["files"]


def test_records_written_by_concurrent_processes_all_reach_results_json(tmp_path):
    """Regression (issue 17): two runs into one --out left only the last writer's records."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_write_records, args=(str(tmp_path), seed)) for seed in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    records = json.loads((tmp_path / "results.json").read_text())["records"]
    assert sorted((r["seed"], r["row"]) for r in records) == [(s, f"r{i}") for s in range(4) for i in range(5)]


def test_records_of_a_run_made_before_record_files_are_kept(tmp_path):
    from semid.experiment.pipeline import Pipeline
    from semid.experiment.records import ResultRecord
    from semid.io import write_json

    old = {"kind": "generative", "dataset": "s", "row": "x", "quantizer": "rq-kmeans", "collisions": "suffix",
           "seed": 7, "search_recall@30": 0.5}
    write_json(tmp_path / "results.json", {"name": "experiment", "records": [old]})
    r = Pipeline(_cfg(seeds=[0]), tmp_path, show_progress=False)
    r.record(ResultRecord.from_parts({**{k: old[k] for k in ("kind", "dataset", "row", "quantizer", "collisions")},
                                      "seed": 0}, {"search_recall@30": 0.25}))
    records = json.loads((tmp_path / "results.json").read_text())["records"]
    assert [(x["seed"], x["search_recall@30"]) for x in records] == [(0, 0.25), (7, 0.5)]
    assert records[1] == old  # the older record is kept as it was written (no key added)


def _write_records(run_dir: str, seed: int) -> None:
    from semid.experiment.pipeline import Pipeline
    from semid.experiment.records import ResultRecord

    cfg = _cfg(seeds=[seed])
    r = Pipeline(cfg, Path(run_dir), show_progress=False)
    for i in range(5):
        r.record(ResultRecord.from_parts({"kind": "generative", "dataset": "s", "row": f"r{i}", "quantizer": "rq-kmeans",
                                          "collisions": "suffix", "seed": seed}, {"search_recall@30": 0.1 * i}))
