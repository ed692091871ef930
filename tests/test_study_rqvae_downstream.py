"""The RQ-VAE report's downstream half (issue 13): runs merged by dataset, one family of paired tests
per dataset (Bonferroni), the naive vs RQ-KMeans gap and the share of it robust RQ-VAE closes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "docs" / "figures" / "rqvae" / "study.json"
ABLATION = ROOT / "docs" / "results" / "rqvae-ablation" / "ablation.json"
ALL = ("rq-kmeans", "rq-vae-naive", "rq-vae-robust", "rlfq", "dict")


def fake_run(root: Path, dataset: str, search_hits: dict[str, int], n: int = 60, seeds=(0, 1, 2),
             written_as: str | None = None) -> Path:
    """A `semid run` directory with known hits. ``search_hits[q]``: quantizer q's model ranks the target
    first for the first that many of the n search examples, every seed, with and without the suffix. On rec
    every model and the popularity list hit the first 30 of n examples; random IDs hit nothing.
    ``written_as``: the run path the records name (a run started from another working directory)."""
    import pandas as pd

    from semid.evaluate.generative import EvalResult
    from semid.io import write_json

    run = root / "run"
    ex = np.arange(n)
    named = Path(written_as) if written_as else run

    def save(name: str, search: int | None, rec: int) -> str:
        tasks = ([("search", search)] if search is not None else []) + [("rec", rec)]
        hits = pd.concat([pd.DataFrame({"task": t, "example": ex, "target": ex, "rank": np.where(ex < h, 0, -1),
                                        "head": ex < 5}) for t, h in tasks], ignore_index=True)
        m = {f"{t}_recall@30": h / n for t, h in tasks}
        EvalResult(m, hits).save(run / dataset / "eval" / name)
        return str(named / dataset / "eval" / name)

    records = [{"kind": "popularity", "dataset": dataset, "rec_recall@30": 0.5, "eval_dir": save("popularity", None, 30)}]
    for s in seeds:
        records.append({"kind": "random", "dataset": dataset, "seed": s, "search_recall@30": 0.0, "rec_recall@30": 0.0,
                        "eval_dir": save(f"random-ids__s{s}", 0, 0)})
    for q, h in search_hits.items():
        for coll in ("none", "suffix"):
            for s in seeds:
                slug = f"multi-task__{q}__{coll}__s{s}"
                records.append({"kind": "generative", "dataset": dataset, "row": "multi-task", "quantizer": q,
                                "collisions": coll, "seed": s, "search_recall@30": h / n, "rec_recall@30": 0.5,
                                "rec_head_recall@30": 1.0, "rec_torso_recall@30": 25 / 55, "eval_dir": save(slug, h, 30)})
    write_json(run / "results.json", {"name": dataset, "records": records})
    write_json(run / "config.resolved.json", {"name": dataset, "ids": {"levels": 2, "codebook_size": 8},
                                              "seeds": list(seeds), "datasets": [{"name": dataset}]})
    return run


def _row(rows, task, collisions):
    return next(r for r in rows if r["task"] == task and r["collisions"] == collisions)


def test_known_gap_share_closed_and_p_values(tmp_path):
    from semid.studies.rqvae_downstream import downstream_runs
    from semid.studies.rqvae_numbers import answer_rows
    from semid.studies.rqvae_paired import find_family_test
    from semid.studies.rqvae_report import downstream_answer

    # RQ-KMeans 0.9, naive 0.1, robust 0.5: robust closes (0.5 - 0.1) / (0.9 - 0.1) = 50% of the gap;
    # rlfq 53/60 differs from RQ-KMeans's 54/60 on one example of 60
    down = downstream_runs([fake_run(tmp_path, "syn", {"rq-kmeans": 54, "rq-vae-naive": 6, "rq-vae-robust": 30,
                                                       "rlfq": 53})])
    fam = down["families"]["syn"]
    # per (collisions, task): 3 quantizers vs RQ-KMeans + robust vs naive; random IDs on search and rec; popularity on rec
    assert fam["n_tests"] == 2 * 2 * 4 + 2 + 1 and not fam["untested"]
    assert all(t["p_bonferroni"] == pytest.approx(min(1.0, t["p"] * fam["n_tests"])) for t in fam["tests"])
    for coll in ("none", "suffix"):
        r = _row(answer_rows(down, "syn"), "search", coll)
        assert (r["reference"], r["naive"], r["robust"]) == pytest.approx((0.9, 0.1, 0.5))
        assert r["closed"] == pytest.approx(0.5)
        assert r["gap_test"]["significant"] and r["gap_test"]["p_bonferroni"] < 1e-10
        assert r["gap_test"]["mean_a"] == pytest.approx(0.1) and r["gap_test"]["n"] == 60  # a is naive, paired by example
        assert r["robust_test"]["significant"]
        near = find_family_test(fam, "rlfq", "rq-kmeans", "search_recall@30", coll)
        assert near["p"] > 0.05 and not near["significant"]
        rec = _row(answer_rows(down, "syn"), "rec", coll)  # every model hits the same rec examples: no gap
        assert rec["closed"] is None and rec["gap_test"]["p_bonferroni"] == 1.0 and not rec["gap_test"]["significant"]
    rand = find_family_test(fam, "random-ids", "rq-kmeans", "search_recall@30")
    assert rand["b_collisions"] == "none" and rand["significant"]
    text = " ".join(downstream_answer(down, "syn"))
    assert "syn search: naive 0.100 / 0.100 vs RQ-KMeans 0.900 / 0.900" in text and "closes 50% / 50%" in text
    assert "syn rec: naive 0.500 / 0.500 vs RQ-KMeans 0.500 / 0.500 (p = 1 / 1)" in text and "closes – / –" in text


def _render(down):
    from semid.studies.rqvae_report import render_report

    if not (STUDY.exists() and ABLATION.exists()):
        pytest.skip("the committed study.json / ablation.json are absent")
    study = json.loads(STUDY.read_text())["study"]
    ablation = json.loads(ABLATION.read_text())
    command = ("semid study rqvae-report --run runs/rqvae-study --run runs/rqvae-study-beauty --ablation "
               "docs/results/rqvae-ablation/ablation.json")  # as long as the real one: it is printed twice
    return render_report(study, down, ablation, {}, Path("/tmp/fig"), Path("/tmp/docs/report.md"), command)


def test_two_runs_merge_into_one_report_under_the_word_limit(tmp_path):
    from semid.studies.rqvae_downstream import downstream_runs

    hits = dict(zip(ALL, (54, 6, 30, 20, 50), strict=True))
    ml, beauty = "ml-latest-small", "amazon-beauty"  # the grid of issue 13, with the real names' lengths
    a, b = fake_run(tmp_path / "a", ml, hits), fake_run(tmp_path / "b", beauty, hits)
    down = downstream_runs([a, b])
    assert [r["run"] for r in down["runs"]] == [str(a), str(b)] and sorted(down["families"]) == [beauty, ml]
    main, appendix = _render(down)
    assert len(main.split()) <= 2500  # the full grid on two datasets fits the report
    answer = main.split("## Answer", 1)[1].split("\n## ", 1)[0]
    assert f"significantly below RQ-KMeans's on {ml} (none and suffix) and {beauty} (none and suffix)." in answer
    assert f"Robust RQ-VAE closes 50% ({ml}, none), 50% ({ml}, suffix), 50% ({beauty}, none) and 50%" in answer
    section = main.split("## 4.", 1)[1].split("\n## ", 1)[0]
    for ds in (ml, beauty):
        assert f"**{ds}** (23 tests)" in section  # 2 x 2 x (4 vs RQ-KMeans + robust vs naive) + 3 baselines
        assert f"### {ds}: the table's tests" in appendix
    assert section.count("| *random IDs* | – | 0.000 ± 0.000 | ") == 2
    assert re.search(r"\| rq-vae-naive \| none \| 0\.100 ± 0\.000 \| [0-9.e-]+ \| 0\.500 ± 0\.000 \| 1 \| 1\.000 \| "
                     r"0\.455 \|", section)


def test_a_dataset_in_two_runs_is_an_error_naming_both(tmp_path):
    from semid.studies.rqvae_downstream import downstream_runs

    a, b = fake_run(tmp_path / "a", "syn", {"rq-kmeans": 30}), fake_run(tmp_path / "b", "syn", {"rq-kmeans": 30})
    with pytest.raises(ValueError, match="'syn' is in two runs") as err:
        downstream_runs([a, b])
    assert str(a) in str(err.value) and str(b) in str(err.value)


def test_a_run_without_records_is_an_error(tmp_path):
    from semid.io import write_json
    from semid.studies.rqvae_downstream import downstream_runs

    write_json(tmp_path / "results.json", {"name": "x", "records": []})
    with pytest.raises(ValueError, match="holds no record yet"):
        downstream_runs([tmp_path])


def test_a_missing_quantizer_is_stated_not_guessed(tmp_path):
    from semid.studies.rqvae_downstream import downstream_runs
    from semid.studies.rqvae_report import downstream_answer
    from semid.studies.rqvae_tables import dataset_table

    down = downstream_runs([fake_run(tmp_path / "a", "syn", {"rq-kmeans": 54, "rq-vae-naive": 6})])
    text = " ".join(downstream_answer(down, "syn"))
    assert "syn search: naive 0.100 / 0.100 vs RQ-KMeans 0.900 / 0.900" in text
    assert "no records of rq-vae-robust yet" in text and "closes" not in text
    down = downstream_runs([fake_run(tmp_path / "b", "syn", {"rq-vae-naive": 6, "rq-vae-robust": 30})])
    assert "syn search: no records of rq-kmeans yet." in downstream_answer(down, "syn")
    assert "| rq-kmeans | none | no records yet |" in "\n".join(dataset_table(down, "syn"))


def test_a_quantizer_in_one_collisions_mode_only_shows_a_dash_in_the_other(tmp_path):
    """A run still going: robust has finished without the suffix only."""
    from semid.studies.rqvae_downstream import downstream_runs
    from semid.studies.rqvae_report import downstream_answer

    run = fake_run(tmp_path, "syn", {"rq-kmeans": 54, "rq-vae-naive": 6, "rq-vae-robust": 30})
    res = json.loads((run / "results.json").read_text())
    res["records"] = [r for r in res["records"] if not (r.get("quantizer") == "rq-vae-robust" and r["collisions"] == "suffix")]
    (run / "results.json").write_text(json.dumps(res))
    text = " ".join(downstream_answer(downstream_runs([run]), "syn"))
    assert "robust 0.500 / – closes 50% / –" in text and "no records" not in text


def test_records_written_from_another_working_directory_are_found_in_the_run(tmp_path):
    from semid.studies.rqvae_downstream import downstream_runs

    run = fake_run(tmp_path, "syn", {"rq-kmeans": 54, "rq-vae-naive": 6}, written_as="runs/elsewhere")
    fam = downstream_runs([run])["families"]["syn"]
    assert fam["n_tests"] == 2 * 2 * 1 + 3 and not fam["untested"]


def test_cli_rejects_a_run_without_results_and_a_dataset_in_two_runs(tmp_path, capsys):
    from semid.cli import main

    if not STUDY.exists():
        pytest.skip("the committed study.json is absent")
    base = ["study", "rqvae-report", "--study", str(STUDY), "--out", str(tmp_path / "r.md"),
            "--figures", str(tmp_path / "fig")]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([*base, "--run", str(empty)]) == 2
    err = capsys.readouterr().err
    assert str(empty) in err and "results.json" in err
    a, b = fake_run(tmp_path / "a", "syn", {"rq-kmeans": 30}), fake_run(tmp_path / "b", "syn", {"rq-kmeans": 30})
    assert main([*base, "--run", str(a), "--run", str(b)]) == 2
    assert "'syn' is in two runs" in capsys.readouterr().err
    assert not (tmp_path / "r.md").exists() and not (tmp_path / "fig").exists()


@pytest.mark.slow
def test_cli_writes_the_report_of_two_runs_and_saves_their_numbers(tmp_path, capsys):
    """The command end to end (it redraws the study's figures into --figures: slow)."""
    from semid.cli import main

    if not (STUDY.exists() and ABLATION.exists()):
        pytest.skip("the committed study.json / ablation.json are absent")
    hits = dict(zip(ALL, (54, 6, 30, 20, 50), strict=True))
    a, b = fake_run(tmp_path / "a", "syn", hits), fake_run(tmp_path / "b", "syn2", hits)
    out, fig = tmp_path / "docs" / "r.md", tmp_path / "fig"
    assert main(["study", "rqvae-report", "--study", str(STUDY), "--ablation", str(ABLATION), "--run", str(a),
                 "--run", str(b), "--out", str(out), "--figures", str(fig)]) == 0
    text = out.read_text()
    assert f"Runs: `{a}` (syn); `{b}` (syn2)." in text and "**syn2** (23 tests)" in text
    assert (tmp_path / "docs" / "r-appendix.md").exists()
    saved = json.loads((fig / "study.json").read_text())
    assert [r["run"] for r in saved["downstream"]["runs"]] == [str(a), str(b)]
    assert saved["study"] == json.loads(STUDY.read_text())["study"]
