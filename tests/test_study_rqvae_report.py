"""The RQ-VAE report generator: answer first, at most ~2,500 words, the per-cell rest in the appendix."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "docs" / "figures" / "rqvae" / "study.json"
ABLATION = ROOT / "docs" / "results" / "rqvae-ablation" / "ablation.json"
WORD_LIMIT = 2500


def _sections(text: str) -> list[str]:
    return re.findall(r"^## (.+)$", text, flags=re.M)


def _render(tmp_path):
    from semid.studies.rqvae_report import render_report

    if not (STUDY.exists() and ABLATION.exists()):
        pytest.skip("the committed study.json / ablation.json are absent")
    saved = json.loads(STUDY.read_text())
    ablation = json.loads(ABLATION.read_text())
    out = tmp_path / "docs" / "report.md"
    main, appendix = render_report(saved["study"], saved["downstream"], ablation, {}, tmp_path / "fig", out, "cmd")
    return saved, ablation, main, appendix


def test_report_is_answer_first_and_under_the_word_limit(tmp_path):
    _, _, main, _ = _render(tmp_path)
    assert len(main.split()) <= WORD_LIMIT
    sections = _sections(main)
    assert sections[0] == "Answer"
    order = [next(i for i, s in enumerate(sections) if s.startswith(p)) for p in ("Answer", "1.", "2.", "3.", "4.",
                                                                                  "Figures", "Method")]
    assert order == sorted(order)
    # the answer names numbers, not only words
    answer = main.split("## Answer", 1)[1].split("\n## ", 1)[0]
    assert len(re.findall(r"\d\.\d\d", answer)) >= 6


def test_appendix_holds_every_ablation_record_and_the_main_report_does_not(tmp_path):
    _, ablation, main, appendix = _render(tmp_path)
    per_seed = r"\| (naive|robust)[^|]* \| \d+ \| \d+ \| \d+ / \d+ \|"  # arm | seed | epochs | codes per level
    seed_rows = [line for line in appendix.splitlines() if re.match(per_seed, line)]
    assert len(seed_rows) == len(ablation["records"])
    assert not any(re.match(per_seed, line) for line in main.splitlines())
    assert "](report-appendix.md)" in main


def test_committed_report_matches_the_limits():
    report = ROOT / "docs" / "rqvae-vs-rqkmeans.md"
    if not report.exists():
        pytest.skip("no committed report")
    text = report.read_text()
    assert len(text.split()) <= WORD_LIMIT and _sections(text)[0] == "Answer"
    assert "semid study rqvae-report" in text.split("\n## ", 1)[0]  # the command at the top regenerates it
    assert (ROOT / "docs" / "rqvae-vs-rqkmeans-appendix.md").exists()
