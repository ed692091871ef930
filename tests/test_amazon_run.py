"""`semid run` on every data source (issue 12): your own files (string ids, your column names) and the
Amazon review files, validated on load; per-quantizer ID sizes (TIGER's 3 x 256 beside 2 x 256); the
benchmark table with the published rows; the LLM prompt's item noun."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semid.cli import main
from semid.config import from_dict
from semid.experiment import ExperimentConfig, load_experiment_config
from semid.experiment.config import DatasetSpec, QuantizerSpec
from semid.experiment.runner import data_stage_spec, prepare_dataset, quantizer_stage_spec

REPO = Path(__file__).resolve().parents[1]

WORDS = ("velvet matte lipstick argan shampoo salt scrub nail polish serum cream mascara gloss toner balm "
         "powder blush liner brush mask lotion").split()


def write_catalogue(d: Path, n_items: int = 60, n_users: int = 40, seed: int = 0) -> Path:
    """A small catalogue as a shop exports it: string ids (ASIN-like, one all-digit with a leading zero)
    and its own column names (asin, name; reviewerID, asin, unixReviewTime)."""
    rng = np.random.default_rng(seed)
    asins = ["0912345678"] + [f"B{i:04d}X" for i in range(1, n_items)]
    names = [" ".join(rng.choice(WORDS, 3, replace=False)).title() + f" No {i}" for i in range(n_items)]
    pd.DataFrame({"asin": asins, "name": names}).to_csv(d / "products.csv", index=False)
    rows = []
    for u in range(n_users):
        start = int(rng.integers(n_items))
        for k in range(int(rng.integers(8, 13))):  # users walk the catalogue: a learnable next item
            rows.append((f"A{u:03d}Z", asins[(start + k) % n_items], 1_400_000_000 + 100 * k))
    pd.DataFrame(rows, columns=["reviewerID", "asin", "unixReviewTime"]).to_csv(d / "reviews.csv", index=False)
    return d


CONFIG = """
name = "shop"
seeds = [0]
collisions = ["suffix"]

[[datasets]]
name = "shop"
source = "files"
items = "{d}/products.csv"
interactions = "{d}/reviews.csv"
columns = {{ item_id = "asin", title = "name", user_id = "reviewerID", timestamp = "unixReviewTime" }}
item_noun = "product"
train_queries_per_item = 2
test_queries_per_item = 1

[embeddings.rec]
method = "rec"
options = {{ epochs = 2, dim = 16, batch_size = 64 }}

[[schemes]]
name = "rec-tuned"
embedding = "rec"
tables = ["table1"]

[[quantizers]]
method = "rq-kmeans"

[[quantizers]]
method = "rq-kmeans"
levels = 3
codebook_size = 4

[ids]
levels = 2
codebook_size = 8

[train]
epochs = 1
batch_size = 16
d_model = 32
d_ff = 64
heads = 2

[evaluate]
k = 30
beam_size = 10
max_examples = 10
"""


@pytest.mark.slow
def test_run_on_your_own_files_with_string_ids_and_your_column_names(tmp_path, one_torch_thread):
    d = write_catalogue(tmp_path)
    cfg = tmp_path / "shop.toml"
    cfg.write_text(CONFIG.format(d=d))
    out = tmp_path / "run"
    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 0
    from semid.data import Dataset

    ds = Dataset.load(out / "shop" / "data")
    assert ds.items["item_id"].iloc[0] == "0912345678"  # the leading zero is kept
    assert set(ds.interactions["user_id"].map(type)) <= {int, np.int64}  # dense user indices inside
    q = ds.queries
    assert (q["split"] == "train").groupby(q["item_id"]).sum().eq(2).all()
    assert (q["split"] == "test").groupby(q["item_id"]).sum().eq(1).all()
    assert not q["text"].str.contains(r"\b(?:movie|film)s?\b").any()
    recs = json.loads((out / "results.json").read_text())["records"]
    gen = {r["quantizer"]: r for r in recs if r["kind"] == "generative"}
    assert set(gen) == {"rq-kmeans", "rq-kmeans-3x4"}
    # TIGER-style 3 levels of 4 codes beside the config's 2 of 8 (a suffix level follows where IDs collide)
    from semid.ids.types import SemanticIDs

    for label, sizes in (("rq-kmeans-3x4", [4, 4, 4]), ("rq-kmeans", [8, 8])):
        ids = SemanticIDs.load(gen[label]["ids_dir"])
        assert ids.level_sizes[:len(sizes)] == sizes
        assert len(ids.diagnostics["levels"]) == len(sizes), ids.diagnostics["levels"]
    for r in gen.values():
        assert {"rec_recall@5", "rec_recall@10", "rec_ndcg@5", "rec_ndcg@10", "rec_recall@30"} <= set(r)
    assert main(["report", str(out)]) == 0
    report = (out / "report" / "report.md").read_text()
    assert "Recommendation at the benchmark's cutoffs" in report
    assert "generative: rec-tuned IDs, rq-kmeans-3x4, suffix" in report and "popularity (no model)" in report
    assert "published, not measured" not in report  # no published figures for this dataset


def test_amazon_source_runs_through_the_experiment_spec(tmp_path):
    from tests.test_amazon import write_2014

    reviews = write_2014(tmp_path)
    spec = from_dict(DatasetSpec, {"name": "beauty", "source": "amazon", "path": str(reviews),
                                   "train_queries_per_item": 3, "test_queries_per_item": 2})
    ds = prepare_dataset(spec, show_progress=False)
    assert ds.meta["source"] == "amazon" and ds.meta["item_noun"] == "product"
    assert "B0001" in set(ds.items["item_id"])
    assert len(ds.queries_for("train")) == 3 * len(ds.items) and len(ds.queries_for("test")) == 2 * len(ds.items)


def test_files_source_reads_items_and_interactions_from_path(tmp_path):
    d = write_catalogue(tmp_path, n_items=20, n_users=10)
    pd.read_csv(d / "products.csv", dtype=str).rename(columns={"asin": "item_id", "name": "title"}).to_csv(
        d / "items.csv", index=False)
    pd.read_csv(d / "reviews.csv", dtype=str).rename(
        columns={"reviewerID": "user_id", "asin": "item_id", "unixReviewTime": "timestamp"}).to_csv(
        d / "interactions.csv", index=False)
    spec = from_dict(DatasetSpec, {"name": "mine", "source": "files", "path": str(d)})
    ds = prepare_dataset(spec, show_progress=False)
    assert ds.meta["item_noun"] == "item" and len(ds.items) == 20
    assert len(ds.queries_for("train")) == 10 * 20  # the paper's 10 + 10 by default


def _load(tmp_path, text: str):
    f = tmp_path / "c.toml"
    f.write_text(text)
    return load_experiment_config(str(f)), f


BASE = """
[[datasets]]
{dataset}

[embeddings.rec]
method = "rec"

[[schemes]]
name = "rec-tuned"
embedding = "rec"
{extra}
"""


@pytest.mark.parametrize("dataset, extra, names", [
    ('name = "d"\nsource = "files"', "", ["'d'", "files source needs `path`", "items"]),
    ('name = "d"\nsource = "file"\npath = "x"', "", ["'file'", "files", "amazon"]),
    ('name = "d"\nsource = "amazon"', "", ["amazon source needs `path`", "reviews_<Category>_5"]),
    ('name = "d"\nsource = "movielens"\npath = "x"\nitems = "a.csv"', "",
     ["`items`", "source = \"files\"", "'movielens'"]),
    ('name = "d"\nsource = "files"\npath = "{tmp}"\ncolumns = {{ itemid = "asin" }}', "", ["['itemid']", "item_id"]),
    ('name = "d"\nsource = "files"\npath = "{tmp}"\ntrain_queries_per_item = 0', "", ["train_queries_per_item", ">= 1"]),
    ('name = "d"\nsource = "files"\npath = "{tmp}"\nitem_noun = ""', "", ["item_noun", "product"]),
    ('name = "d"\nsource = "synthetic"\ntrain_queries_per_item = 2', "", ["n_train_queries", "options"]),
    ('name = "d"\nsource = "synthetic"\nsplit = "random"', "", ["'random'", "leave-last-out"]),
    ('name = "d"\nsource = "files"\npath = "{tmp}"', '[[quantizers]]\nmethod = "rq-kmeans"\nlevels = 3',
     ["levels and codebook_size together"]),
])
def test_bad_dataset_entries_fail_on_load_in_one_line_naming_the_file(tmp_path, capsys, dataset, extra, names):
    write_catalogue(tmp_path, n_items=5, n_users=2)
    (tmp_path / "items.csv").write_text("item_id,title\nB1,x\n")
    (tmp_path / "interactions.csv").write_text("user_id,item_id,timestamp\nu,B1,1\n")
    f = tmp_path / "c.toml"
    f.write_text(BASE.format(dataset=dataset.format(tmp=tmp_path), extra=extra))
    rc = main(["run", str(f), "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and str(f) in err, err
    for n in names:
        assert n in err, (n, err)
    assert not (tmp_path / "run").exists()


def test_a_missing_file_names_the_file_and_the_key_to_set(tmp_path, capsys):
    f = tmp_path / "c.toml"
    f.write_text(BASE.format(dataset=f'name = "d"\nsource = "files"\npath = "{tmp_path}"', extra=""))
    rc = main(["run", str(f), "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "items.csv" in err and "does not exist" in err and "items = " in err, err


def test_earlier_runs_keep_their_stage_keys():
    """Regression: new DatasetSpec / QuantizerSpec fields at their defaults must not change the data
    and IDs stage keys, or every run made before them would rebuild everything."""
    spec = from_dict(DatasetSpec, {"name": "ml", "source": "movielens", "path": "x"})
    assert data_stage_spec(spec) == {"name": "ml", "source": "movielens", "path": "x", "download": None,
                                     "options": {}, "queries": "offline", "min_history": 1, "seed": 0}
    q = from_dict(QuantizerSpec, {"method": "rq-kmeans"})
    assert quantizer_stage_spec(q) == {"method": "rq-kmeans", "preset": None, "options": {}, "only_schemes": []}
    assert q.label == "rq-kmeans"
    big = from_dict(QuantizerSpec, {"method": "rq-kmeans", "levels": 3, "codebook_size": 256})
    assert big.label == "rq-kmeans-3x256" and quantizer_stage_spec(big)["levels"] == 3


def test_the_beauty_config_asks_for_the_benchmark():
    cfg: ExperimentConfig = load_experiment_config(str(REPO / "configs" / "amazon-beauty.toml"))
    (d,) = cfg.datasets
    assert d.source == "files" and d.item_noun == "product" and d.split == "leave-last-out"
    labels = {q.label for q in cfg.quantizers}
    assert labels == {"rq-kmeans", "rq-kmeans-3x256"} and (cfg.ids.levels, cfg.ids.codebook_size) == (2, 256)
    assert {r.name for r in cfg.schemes} == {"content", "rec-tuned", "multi-task"}
    assert cfg.collisions == ["suffix"] and cfg.train["epochs"] == 4


def test_benchmark_table_puts_published_rows_beside_ours():
    from semid.report import benchmark_table

    rec = {"kind": "generative", "dataset": "amazon-beauty", "row": "multi-task", "quantizer": "rq-kmeans",
           "collisions": "suffix", "seed": 0, "n_rec": 5000, "rec_recall@5": 0.03, "rec_recall@10": 0.05,
           "rec_ndcg@5": 0.02, "rec_ndcg@10": 0.025, "rec_recall@30": 0.09}
    pop = {"kind": "popularity", "dataset": "amazon-beauty", "n_rec": 5000, "rec_recall@5": 0.008,
           "rec_recall@10": 0.016, "rec_ndcg@5": 0.005, "rec_ndcg@10": 0.007, "rec_recall@30": 0.03}
    lines = "\n".join(benchmark_table([pop, rec, {**rec, "seed": 1, "rec_recall@5": 0.05}]))
    assert "| amazon-beauty | generative: multi-task IDs, rq-kmeans, suffix | 2 | 5,000 | 0.0400 ± 0.0141 |" in lines
    assert "| amazon-beauty | popularity (no model) | 1 | 5,000 | 0.0080 |" in lines
    assert ("| amazon-beauty | TIGER (Rajput et al., NeurIPS 2023): published, not measured | – | – "
            "| 0.0454 | 0.0648 | 0.0321 | 0.0384 | – |") in lines
    assert "cornac" in lines
    other = "\n".join(benchmark_table([{**pop, "dataset": "shop"}]))
    assert "published" not in other.split("\n", 4)[-1]  # no published rows for another dataset
    assert benchmark_table([{k: v for k, v in pop.items() if "@5" not in k}]) == []  # older runs: no table


@pytest.mark.parametrize("noun, absent", [("product", "movie"), ("movie", None)])
def test_llm_prompt_names_the_item_noun(noun, absent):
    from semid.data.llm_queries import PAPER_PROMPT, build_messages

    msgs = build_messages({"title": "Argan Oil Shampoo"}, item_noun=noun)
    text = msgs[-1]["content"]
    if absent is None:
        assert text == PAPER_PROMPT.replace("[METADATA]", "Title: Argan Oil Shampoo")  # the paper's, word for word
    else:
        assert absent not in text.lower() and "given product (title of the product" in text and "Product: Title:" in text
