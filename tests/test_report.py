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


def test_report_of_a_folder_without_results_is_a_one_line_error(tmp_path, capsys):
    from semid.cli import main

    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "results.json does not exist" in err and "semid run" in err and "Traceback" not in err


def test_report_of_a_results_file_with_a_bad_record_names_the_file(tmp_path, capsys):
    from semid.cli import main

    (tmp_path / "results.json").write_text(json.dumps({"name": "x", "records": [{"kind": "nope", "dataset": "d"}]}))
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "results.json" in err and "unknown kind 'nope'" in err


def _eval(path, ranks_search, ranks_rec):
    """An eval directory with hits: example i of each task hit at the given rank (-1 = miss)."""
    import pandas as pd

    from semid.evaluate.generative import EvalResult

    rows = [("search", i, i, r, False) for i, r in enumerate(ranks_search)]
    rows += [("rec", i, i, r, False) for i, r in enumerate(ranks_rec)]
    hits = pd.DataFrame(rows, columns=["task", "example", "target", "rank", "head"])
    EvalResult({}, hits).save(path)
    return str(path)


def test_baseline_table_marks_what_beats_random_and_popularity(tmp_path):
    from semid.report import aggregate
    from semid.report.baselines import baseline_table

    n = 60
    good = [0] * 40 + [-1] * 20           # 40 of 60 hits
    bad = [-1] * n
    some = [3] * 10 + [-1] * 50            # 10 of 60
    recs = []
    for seed in (0, 1):
        recs.append({**_rec("learned", "rq-kmeans", seed, 40 / n, 40 / n, ["table1"]),
                     "eval_dir": _eval(tmp_path / f"g{seed}", good, good)})
        recs.append({**_rec("useless", "rq-kmeans", seed, 0.0, 0.0, ["table1"]),
                     "eval_dir": _eval(tmp_path / f"u{seed}", bad, bad)})
        recs.append({"kind": "random", "dataset": "ml", "seed": seed, "eval_dir": _eval(tmp_path / f"r{seed}", some, some)})
    recs.append({"kind": "popularity", "dataset": "ml", "eval_dir": _eval(tmp_path / "p", [], some)})
    recs.append({"kind": "dense", "dataset": "ml", "embedding": "multitask", "search_recall@30": 0.5})
    text = "\n".join(baseline_table(aggregate(recs), recs))
    learned = next(line for line in text.splitlines() if "| learned |" in line)
    useless = next(line for line in text.splitlines() if "| useless |" in line)
    assert learned.count("▲") == 3 and "1.33x" in learned and "4.00x" in learned   # 0.667 / 0.5 dense, / 0.167 pop
    assert useless.count("▼") == 3 and "0.00x" in useless
    assert "random search R@30 0.167" in text and "popularity rec R@30 0.167" in text
