"""Typed result records and the run directory layout (issue 16): one module owns the folders,
one dataclass the records that the runner writes and the report and studies read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from semid.config import from_dict
from semid.experiment import ExperimentConfig
from semid.experiment.layout import RunLayout, keyed, variant_slug
from semid.experiment.pipeline import Pipeline, plan_variants
from semid.experiment.records import ResultRecord
from semid.experiment.results import load_results
from semid.io import write_json

REPO = Path(__file__).resolve().parents[1]
COMMITTED = sorted((REPO / "docs" / "results").glob("*/results.json"))


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.parent.name)
def test_committed_results_of_older_runs_load_and_write_back_unchanged(path):
    raw = json.loads(path.read_text())
    results = load_results(path.parent)
    assert len(results.records) == len(raw["records"]) > 0
    # same keys, same order, same values: a results.json rebuilt from them is byte-identical
    assert json.dumps(results.to_dict(), indent=2) == json.dumps(raw, indent=2)


def test_committed_results_exist():
    assert len(COMMITTED) >= 3


def test_a_new_record_keeps_the_runners_key_order_and_drops_list_metrics():
    rec = ResultRecord.from_parts(
        {"kind": "generative", "dataset": "d", "row": "r", "tables": ["table1"], "scheme": "shared",
         "embedding": "e", "quantizer": "q", "collisions": "none", "seed": 3},
        {"search_recall@30": 0.5, "per_level": [1, 2], "seed": 3, "by_task": {"a": 1}},
        {"eval_dir": "RUN/d/eval/x", "steps": None})
    d = rec.to_dict()
    keys = list(d)
    # identity, then metrics (a metric named "seed" keeps the identity's place), then every fact
    assert keys[:9] == ["kind", "dataset", "row", "tables", "scheme", "embedding", "quantizer", "collisions", "seed"]
    assert keys[9] == "search_recall@30" and "per_level" not in d and "by_task" not in d
    assert keys[10:] == ["collision_rate", "quantizer_collision_rate", "codes_used", "distinct_ids", "max_bucket",
                         "eval_dir", "ids_dir", "model_dir", "epochs", "steps", "n_train_examples"]
    assert d["steps"] is None and d["eval_dir"] == "RUN/d/eval/x"
    assert ResultRecord.from_dict(d) == rec and list(ResultRecord.from_dict(d).to_dict()) == keys


def test_get_reads_metrics_and_fields_and_names_follow_the_layout():
    pop = ResultRecord.from_dict({"kind": "popularity", "dataset": "d", "rec_recall@30": 0.1, "seed": 0})
    assert pop.get("rec_recall@30") == 0.1 and pop.get("seed") == 0 and pop.get("search_recall@30") is None
    assert pop.get("dataset") == "d" and pop.get("eval_dir", "none") == "none"
    assert pop.name() == "popularity"
    assert ResultRecord("dense", "d", embedding="e").name() == "dense-e"
    assert ResultRecord("random", "d", seed=2).name() == "random-ids__s2"
    gen = ResultRecord("generative", "d", row="r", quantizer="q", collisions="suffix", seed=1)
    assert gen.name() == gen.slug == variant_slug("r", "q", "suffix", 1) == "r__q__suffix__s1"
    assert gen.variant == ("d", "r", "q", "suffix")


@pytest.mark.parametrize("bad, match", [
    ({"kind": "mystery", "dataset": "d"}, "unknown kind 'mystery'"),
    ({"kind": "dense"}, "without 'dataset'"),
    ({"dataset": "d"}, "without 'kind'"),
])
def test_bad_records_name_the_file_and_the_problem(tmp_path, bad, match):
    write_json(tmp_path / "results.json", {"name": "x", "records": [bad]})
    with pytest.raises(ValueError, match=match) as exc:
        load_results(tmp_path)
    assert str(tmp_path / "results.json") in str(exc.value)


def test_a_record_that_is_not_an_object_and_a_missing_results_file_are_clear_errors(tmp_path):
    with pytest.raises(TypeError, match="must be a JSON object"):
        ResultRecord.from_dict(["kind"])
    with pytest.raises(FileNotFoundError, match="semid run"):
        load_results(tmp_path)


def test_the_layout_names_every_folder_relative_to_the_run():
    lay = RunLayout("runs/x")
    assert lay.results == Path("runs/x/results.json") and lay.config == Path("runs/x/config.resolved.json")
    assert lay.timings == Path("runs/x/timings.json") and lay.report == Path("runs/x/report")
    assert lay.record("d", "popularity") == Path("runs/x/records/d/popularity.json")
    assert lay.rel(lay.data("d")) == "d/data"
    assert lay.rel(lay.embeddings("d", "e")) == "d/embeddings/e"
    assert lay.rel(lay.states("d", "query", "/models/all-MiniLM-L6-v2", 32)) == "d/query-states/all-MiniLM-L6-v2-32"
    assert lay.rel(lay.ids("d", "s")) == "d/ids/s" and lay.rel(lay.model("d", "s")) == "d/model/s"
    assert lay.rel(lay.eval("d", "s")) == "d/eval/s" and lay.rel(lay.popularity_eval("d")) == "d/eval/popularity"
    assert lay.rel(lay.dense_eval("d", "e")) == "d/eval/dense-e"
    assert lay.rel(lay.random_eval("d", 4)) == "d/eval/random-ids__s4"
    assert RunLayout.ids_beside("runs/x/d/eval/r__q__none__s0") == Path("runs/x/d/ids/r__q__none__s0")
    assert keyed(lay.ids("d", "s"), "0123456789abcdef") == Path("runs/x/d/ids/s@01234567")


def test_the_generative_record_reads_the_ids_diagnostics_and_the_training_budget(tmp_path):
    cfg = from_dict(ExperimentConfig, {"datasets": [{"name": "s"}], "embeddings": {"a": {"method": "search"}},
                                       "schemes": [{"name": "x", "embedding": "a", "tables": ["table2"]}]})
    v = plan_variants(cfg)[0]
    ids, model = tmp_path / "ids", tmp_path / "model"
    write_json(ids / "diagnostics.json", {"collision_rate": 0.25, "quantizer_collision_rate": 0.5,
                                          "codes_used": {"l0": 4, "l1": 7}, "distinct_ids": 9, "max_bucket": 3})
    write_json(model / "config.json", {"train_config": {"epochs": 2.0}, "steps": 40, "n_train_examples": 300})
    rec = Pipeline.generative_record(v, {"search_recall@30": 0.5, "seed": 0}, tmp_path / "eval", ids, model)
    assert rec.to_dict() == {
        "kind": "generative", "dataset": "s", "row": "x", "tables": ["table2"], "scheme": "shared", "embedding": "a",
        "quantizer": "rq-kmeans", "collisions": "suffix", "seed": 0, "search_recall@30": 0.5,
        "collision_rate": 0.25, "quantizer_collision_rate": 0.5, "codes_used": [4, 7], "distinct_ids": 9,
        "max_bucket": 3, "eval_dir": str(tmp_path / "eval"), "ids_dir": str(ids), "model_dir": str(model),
        "epochs": 2.0, "steps": 40, "n_train_examples": 300}
