"""An experiment config is validated completely when it is loaded (issue 16): a typo in any table fails
in load_experiment_config, naming the key, the file and the valid keys, before any stage runs; and
`semid study rqvae --config` reads the config through that typed loader."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from test_run_config import TINY  # the tiny grid of tests/test_experiment.py

from semid.cli import main
from semid.experiment import load_experiment_config


@pytest.fixture
def tiny(tmp_path) -> Path:
    (tmp_path / "tiny.toml").write_text(TINY)
    return tmp_path / "tiny.toml"


@pytest.mark.parametrize("override, names", [
    # a typo'd key in each table: the key, and the valid keys
    ("train.epoch=1", ["'epoch'", "epochs"]),
    ("ids.levls=3", ["'levls'", "codebook_size", "levels"]),
    ("evaluate.beam=5", ["'beam'", "beam_size"]),
    ("embeddings.rec.options.dimm=8", ["[embeddings.rec]", "'dimm'", "'dim'"]),
    ('quantizers=[{"method": "rq-kmeans", "options": {"nitter": 3}}]', ["'nitter'", "niter"]),
    ('datasets=[{"name": "syn", "sourc": "synthetic"}]', ["'sourc'", "source"]),
    ('datasets=[{"name": "syn", "options": {"n_itemz": 9}}]', ["datasets.syn.options", "'n_itemz'", "n_items"]),
    ('datasets=[{"name": "syn", "ids": {"levls": 3}}]', ["datasets.syn.ids", "'levls'", "levels"]),
    ("scale_test.kk=3", ["scale_test", "'kk'", "paper_n_items"]),
    ("sed=[1]", ["'sed'", "seeds"]),
    # values the later stages would have choked on
    ('evaluate.k="x"', ["evaluate.k", "expected an integer", "'x'"]),
    ('quantizers=[{"method": "rq-kmeans", "options": {"bucket_order": "sizee"}}]', ["'sizee'", "centroid"]),
    ('quantizers=[{"method": "rq-kmeans", "options": {"collisions": "none"}}]', ["['collisions']", "set by the config"]),
    ('datasets=[{"name": "ml", "source": "movielens", "download": "ml-latest-small", "options": {"n_items": 9}}]',
     ["datasets.ml.options", "'movielens' takes no options", "['n_items']"]),
    ('schemes=[{"name": "p", "scheme": "prefix-share", "search": "rec", "rec": "rec"}]', None),  # fine at 2 levels
    ('scale_test.options={"rq-vae-robust": {"epochs": 2}}', ["scale_test.options.rq-vae-robust", "rq-kmeans"]),
    ('scale_test.options={"rq-kmeans": {"nitter": 2}}', ["[scale_test.options] 'rq-kmeans'", "'nitter'", "niter"]),
    ("scale_test.seeds=[]", ["scale_test.seeds"]),
])
def test_a_typo_in_any_table_fails_at_load_naming_the_key_the_file_and_the_valid_keys(tiny, override, names):
    if names is None:
        load_experiment_config(str(tiny), [override])
        return
    with pytest.raises((ValueError, TypeError)) as exc:
        load_experiment_config(str(tiny), [override])
    msg = str(exc.value)
    assert str(tiny) in msg and "\n" not in msg, msg
    for n in names:
        assert n in msg, (n, msg)


def test_a_scheme_with_too_few_levels_fails_at_load(tiny):
    rows = 'schemes=[{"name": "p", "scheme": "prefix-share", "search": "rec", "rec": "rec"}]'
    with pytest.raises(ValueError, match=r"scheme row 'p'.*'syn'.*'prefix-share' needs levels >= 2, got 1"):
        load_experiment_config(str(tiny), [rows, "ids.levels=1"])
    load_experiment_config(str(tiny), ["ids.levels=1"])  # the shared row takes one level


def test_semid_run_reports_a_config_typo_in_one_line_before_any_stage(tiny, tmp_path, capsys):
    rc = main(["run", str(tiny), "--out", str(tmp_path / "run"), "--set", "ids.levls=3"])
    err = capsys.readouterr().err
    assert rc == 2 and "'levls'" in err and str(tiny) in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------ semid study rqvae --config
def _args(config, **kw):
    base = dict(config=str(config), levels=2, codebook_size=256, seeds=None, k=30, zipf_exponent=1.0, methods=None)
    return argparse.Namespace(**{**base, **kw})


def test_the_study_reads_the_typed_config(tiny):
    from semid.studies.cli import _study_settings

    text = TINY.replace("[[quantizers]]\nmethod = \"rq-kmeans\"", "[[quantizers]]\nmethod = \"rq-kmeans\"\n"
                        "options = { niter = 5 }\n\n[[quantizers]]\nmethod = \"rq-vae\"\npreset = \"naive\"")
    tiny.write_text(text + '\n[scale_test]\nk = 7\nzipf_exponent = 0.5\n[scale_test.options]\n'
                           '"rq-kmeans" = { niter = 9 }\n')
    s = _study_settings(_args(tiny, k=30, levels=3))
    assert [(m.label, m.method, m.preset, m.options) for m in s.methods] == [
        ("rq-kmeans", "rq-kmeans", None, {"niter": 9}), ("rq-vae-naive", "rq-vae", "naive", {})]
    assert (s.levels, s.codebook, s.k, s.zipf, s.seeds) == (2, 8, 7, 0.5, [0, 1, 2])
    assert _study_settings(_args(tiny, seeds=[4])).seeds == [4]  # an explicit --seeds wins
    assert [m.label for m in _study_settings(_args(tiny, methods=["rq-vae-naive"])).methods] == ["rq-vae-naive"]


def test_the_study_rejects_a_config_typo_in_one_line(tiny, tmp_path, capsys):
    tiny.write_text(TINY + "\n[scale_test]\nzipf = 1.0\n")
    rc = main(["study", "rqvae", "--config", str(tiny), "--embeddings", "x=missing.npy",
               "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "r.md")])
    err = capsys.readouterr().err
    assert rc == 2 and "'zipf'" in err and "zipf_exponent" in err and str(tiny) in err, err
    assert not (tmp_path / "cache").exists()
