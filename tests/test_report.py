"""`semid report`: the paper-layout tables, the README summary table and its splice."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from semid.report import splice_readme, summary_table, write_report


def _rec(row, quant, seed, s, r, tables):
    return {"kind": "generative", "dataset": "ml", "row": row, "quantizer": quant, "collisions": "suffix", "seed": seed,
            "embedding": "multitask", "tables": tables, "search_recall@30": s, "rec_recall@30": r,
            "codes_used": [4, 4, 2], "collision_rate": 0.0}


@pytest.fixture
def run_dir(tmp_path):
    recs = [_rec("multi-task", "rq-kmeans", 0, 0.10, 0.20, ["table2", "table3"]),
            _rec("multi-task", "rq-kmeans", 1, 0.30, 0.40, ["table2", "table3"]),
            _rec("multi-task", "rq-vae-naive", 0, 0.01, 0.15, ["table3"]),
            {"kind": "popularity", "dataset": "ml", "rec_recall@30": 0.05},
            {"kind": "random", "dataset": "ml", "seed": 0, "search_recall@30": 0.002, "rec_recall@30": 0.003},
            {"kind": "random", "dataset": "ml", "seed": 1, "search_recall@30": 0.004, "rec_recall@30": 0.005}]
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps({"name": "demo", "records": recs}))
    return run


def test_summary_table_has_mean_std_paper_figures_and_baselines(run_dir):
    lines = summary_table(json.loads((run_dir / "results.json").read_text())["records"])
    text = "\n".join(lines)
    # mean ± sample std of 0.10, 0.30 and of 0.20, 0.40
    assert "| ml | multi-task | rq-kmeans | suffix | 2 | 0.200 ± 0.141 | 0.300 ± 0.141 | 0.046 / 0.049 |" in text
    # regression: a Table 3 quantizer on the multi-task row got the multi-task row's figure (0.046 / 0.049)
    assert "| ml | multi-task | rq-vae-naive | suffix | 1 | 0.010 | 0.150 | 0.002 / 0.024 |" in text
    assert "| ml | popularity (no model) | – | – | 1 | – | 0.050 | – |" in text
    assert "| ml | random valid IDs (untrained) | – | – | 2 | 0.003 ± 0.001 | 0.004 ± 0.001 | – |" in text


def test_report_writes_tables_and_summary(run_dir):
    path = write_report(run_dir)
    text = path.read_text()
    assert "Table 3: quantizers on multi-task embeddings" in text and "rq-vae-naive" in text
    assert (run_dir / "report" / "summary.md").read_text().startswith("| dataset | IDs |")


def test_readme_block_is_replaced_and_the_rest_kept(run_dir, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- semid:results demo -->\nold table\n<!-- /semid:results -->\noutro\n")
    splice_readme(readme, run_dir)
    text = readme.read_text()
    assert text.startswith("intro\n<!-- semid:results demo -->\n| dataset | IDs |")
    assert "old table" not in text and text.endswith("<!-- /semid:results -->\noutro\n")
    splice_readme(readme, run_dir)  # idempotent
    assert readme.read_text() == text


def test_readme_without_markers_is_a_clear_error(run_dir, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("no markers here\n")
    with pytest.raises(ValueError, match="semid:results demo"):
        splice_readme(readme, run_dir)
    assert readme.read_text() == "no markers here\n"


def test_report_cli_with_readme(run_dir, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("<!-- semid:results demo -->\n<!-- /semid:results -->\n")
    out = subprocess.run([sys.executable, "-m", "semid.cli", "report", str(run_dir), "--readme", str(readme)],
                         capture_output=True, text=True, check=True).stdout
    assert "results table" in out and "rq-vae-naive" in readme.read_text()
