"""The report states the training budget of a run (issue 17: it never did)."""

from __future__ import annotations

from semid.report import budget_table


def _gen(dataset: str, seed: int, **kw) -> dict:
    return {"kind": "generative", "dataset": dataset, "row": "r", "quantizer": "q", "collisions": "suffix",
            "seed": seed, **kw}


def test_the_budget_table_states_epochs_steps_examples_and_time_per_dataset():
    records = [_gen("a", 0, epochs=2, steps=100, n_train_examples=6400, train_time_s=30.0),
               _gen("a", 1, epochs=2, steps=100, n_train_examples=6400, train_time_s=90.0),
               _gen("b", 0, epochs=8, steps=40, n_train_examples=1200, train_time_s=12.0),
               {"kind": "popularity", "dataset": "a"}]
    rows = [line for line in budget_table(records) if line.startswith("| a ") or line.startswith("| b ")]
    assert rows == ["| a | 2 | 2 | 100 | 6,400 | 60 s (mean) | 2.0 min |",
                    "| b | 1 | 8 | 40 | 1,200 | 12 s (mean) | 0.2 min |"]


def test_runs_recorded_before_the_budget_fields_take_epochs_from_the_resolved_config():
    records = [_gen("a", 0, train_time_s=10.0), _gen("b", 0, train_time_s=10.0)]
    config = {"train": {"epochs": 3}, "datasets": [{"name": "a"}, {"name": "b", "train": {"epochs": 5}}]}
    rows = [line for line in budget_table(records, config) if line.startswith("| a ") or line.startswith("| b ")]
    assert [r.split(" | ")[2] for r in rows] == ["3", "5"]
    assert budget_table([{"kind": "popularity", "dataset": "a"}]) == []  # no models, no table


def test_the_report_names_the_planned_variants_that_have_no_results(tmp_path):
    """Regression (issue 17): a partial results.json was rendered as if complete."""
    from semid.io import write_json
    from semid.report import write_report

    config = {"datasets": [{"name": "s"}], "seeds": [0, 1], "embeddings": {"a": {"method": "rec"}},
              "schemes": [{"name": "x", "embedding": "a", "tables": ["table1"]}]}
    write_json(tmp_path / "config.resolved.json", config)
    done = _gen("s", 0, row="x", quantizer="rq-kmeans", tables=["table1"], **{"search_recall@30": 0.1})
    write_json(tmp_path / "results.json", {"name": "t", "records": [done]})
    report = write_report(tmp_path).read_text()
    assert "Incomplete run: 1 planned variant(s)" in report and "`s/x__rq-kmeans__suffix__s1`" in report
    write_json(tmp_path / "results.json", {"name": "t", "records": [done, {**done, "seed": 1}]})
    assert "Incomplete run" not in write_report(tmp_path).read_text()


def test_table1_shows_the_paper_figures_the_summary_shows():
    """Regression (issue 17): Table 1 printed "–" in its paper column where the summary had the figures."""
    from semid.report import aggregate, paper_table, summary_table

    recs = [_gen("d", 0, row="search-tuned", quantizer="rq-kmeans", tables=["table1"], **{"search_recall@30": 0.5}),
            _gen("d", 0, row="rec-tuned", quantizer="rq-kmeans", tables=["table1"], **{"rec_recall@30": 0.4}),
            _gen("d", 0, row="search-tuned", quantizer="dict", tables=["table1"])]
    table = [line for line in paper_table("table1", aggregate(recs), {}, None) if line.startswith("| d ")]
    summary = [line for line in summary_table(recs) if line.startswith("| d | ")]
    assert [line.rsplit("|", 2)[1].strip() for line in table] == ["0.072 / 0.026", "0.004 / 0.062", "–"]
    assert [line.rsplit("|", 2)[1].strip() for line in summary] == ["0.072 / 0.026", "0.004 / 0.062", "–"]
