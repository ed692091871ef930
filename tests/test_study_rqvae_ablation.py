"""RQ-VAE reconstruction-loss reduction and the one-factor-at-a-time ablation grid (issue 13)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from semid.ids.autoencoder import reconstruction_loss
from semid.studies.rqvae_ablation import (
    FACTORS,
    ablation_arms,
    arm_spec,
    deciding_factors,
    factor_settings,
    summarize_ablation,
)


def test_sum_reduction_is_d_times_mean_on_a_known_input():
    import torch

    x = torch.zeros(2, 4)
    x_hat = torch.tensor([[1.0, 1.0, 1.0, 1.0], [2.0, 0.0, 0.0, 0.0]])  # squared errors: 4 and 4 per row
    assert reconstruction_loss(x_hat, x, "mean").item() == pytest.approx(8 / 8)
    assert reconstruction_loss(x_hat, x, "sum").item() == pytest.approx(8 / 2)  # per row summed, batch mean


def test_training_records_the_summed_loss_scale():
    from semid.ids import make_quantizer

    X = np.random.default_rng(0).standard_normal((64, 12)).astype(np.float32)
    recon = {}
    for red in ("mean", "sum"):
        q = make_quantizer("rq-vae", levels=2, codebook_size=4, seed=0, preset="naive", epochs=1, batch_size=64,
                          recon_reduction=red, show_progress=False)
        q.fit(X)
        recon[red] = q.fit_info["training_curve"]["recon_loss"][0]  # one step: the loss before any update
    assert recon["sum"] == pytest.approx(12 * recon["mean"], rel=1e-4)


def test_default_reduction_unchanged_and_bad_value_rejected():
    from semid.ids import make_quantizer

    assert make_quantizer("rq-vae", levels=2, codebook_size=4).options["recon_reduction"] == "mean"
    with pytest.raises(ValueError, match="recon_reduction must be one of"):
        make_quantizer("rq-vae", levels=2, codebook_size=4, recon_reduction="median")


def test_each_arm_differs_from_its_base_in_exactly_one_factor():
    arms = ablation_arms()
    bases = {a.base: a for a in arms if a.factor is None}
    assert set(bases) == {"naive", "robust"}
    assert len(arms) == 2 * (len(FACTORS) + 1)
    for arm in arms:
        base = bases[arm.base]
        spec, base_spec = arm_spec(arm).options, arm_spec(base).options
        changed_factors = [f for f in FACTORS if arm.remedies[f] != base.remedies[f]]
        changed_options = {key for key in spec if spec[key] != base_spec[key]}
        if arm.factor is None:
            assert changed_factors == [] and changed_options == set()
        else:
            assert changed_factors == [arm.factor]
            assert changed_options and changed_options <= set(FACTORS[arm.factor])


def test_bases_reproduce_the_presets():
    from semid.ids.rq_vae import RQVAE

    for base in ("naive", "robust"):
        arm = next(a for a in ablation_arms() if a.label == base)
        preset = {**RQVAE.DEFAULTS, **RQVAE.PRESETS[base]}
        assert {key: preset[key] for key in arm_spec(arm).options} == arm_spec(arm).options


def test_epoch_scale_and_bad_factor():
    robust = next(a for a in ablation_arms() if a.label == "robust")
    assert arm_spec(robust, 0.25).options["epochs"] == 15
    assert factor_settings("recon_sum", True) == {"recon_reduction": "sum"}
    with pytest.raises(ValueError, match="unknown ablation factor"):
        ablation_arms(["warp_drive"])
    with pytest.raises(ValueError, match="epoch_scale"):
        arm_spec(robust, 0)


def _result(codes_by_label: dict[str, int]) -> dict:
    """An ablation result whose records have the given first-level codes (search ceiling = codes / 256)."""
    arms = ablation_arms()
    recs = [{"set": "s", "label": a.label, "seed": seed, "codes_used": [codes_by_label.get(a.label, 256), 256],
             "distinct_ids": 1000, "max_bucket": 10,
             "ceiling": {"search": codes_by_label.get(a.label, 256) / 256, "rec": 1.0}}
            for a in arms for seed in (0, 1)]
    return {"codebook_size": 256, "k": 30, "sets": [{"name": "s"}], "arms": [vars(a) for a in arms], "records": recs}


def test_deciding_factors_known_answer():
    # naive collapses unless k-means init is added; robust collapses when k-means init is removed
    codes = {a.label: 1 for a in ablation_arms() if a.base == "naive"}
    codes["naive + kmeans_init"] = 256
    codes["robust - kmeans_init"] = 2
    rows = summarize_ablation(_result(codes))
    d = deciding_factors(rows, "s")
    assert d["sufficient"] == ["kmeans_init"] and d["necessary"] == ["kmeans_init"] and d["harmful"] == []
    row = next(r for r in rows if r["label"] == "naive + kmeans_init")
    assert row["search_delta"] == pytest.approx(1 - 1 / 256)


def test_ablation_cli_on_tiny_vectors(tmp_path):
    from semid.cli import main

    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((200, 8)).astype(np.float32))
    out = tmp_path / "abl"
    rc = main(["-q", "study", "rqvae-ablation", "--embeddings", f"tiny={tmp_path / 'x.npy'}", "--seeds", "0",
               "--codebook-size", "4", "--factors", "kmeans_init", "recon_sum", "--epoch-scale", "0.05",
               "--cache", str(tmp_path / "cache"), "--out", str(out), "--no-progress", "--threads", "1"])
    assert rc == 0
    result = json.loads((out / "ablation.json").read_text())
    assert {r["label"] for r in result["records"]} == {a.label for a in ablation_arms(["kmeans_init", "recon_sum"])}
    assert all(r["options"]["epochs"] in (1, 3) for r in result["records"])
    text = (out / "README.md").read_text()
    assert "naive + recon_sum" in text and "## Deciding factors" in text
