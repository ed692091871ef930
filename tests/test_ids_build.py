"""Schemes, collision handling, diagnostics and the CLI of the ids stage."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from semid.cli import main
from semid.ids import (
    BuiltIDs,
    SemanticIDs,
    add_suffix,
    bucket_members,
    bucket_rank,
    build_ids,
    load_quantizers,
)
from semid.ids.collisions import collision_stats, group_ids
from semid.ids.diagnostics import level_usage, neighbour_preservation

REQUIRED = ("n_items", "levels", "codebook_size", "utilization", "perplexity", "distinct_ids", "collision_rate",
            "quantizer_collision_rate", "max_bucket", "mean_bucket", "rel_sq_error", "neighbour_preservation",
            "fit_seconds", "encode_seconds")


def _clustered(n=800, d=16, k=10, seed=0):
    rng = np.random.default_rng(seed)
    c = 3 * rng.normal(size=(k, d))
    return (c[rng.integers(0, k, n)] + 0.3 * rng.normal(size=(n, d))).astype(np.float32)


@pytest.fixture(scope="module")
def XS():
    return _clustered(seed=1)


@pytest.fixture(scope="module")
def XR():
    return _clustered(d=8, seed=2)


# ------------------------------------------------------------------ collisions
def test_suffix_makes_every_id_unique_and_numbers_buckets_from_zero():
    codes = np.array([[1, 2], [0, 0], [1, 2], [1, 2], [3, 3]])
    out, size = add_suffix(codes)
    assert size == 3
    np.testing.assert_array_equal(out[:, 2], [0, 0, 1, 2, 0])
    assert collision_stats(out)["collision_rate"] == 0.0


def test_bucket_rank_follows_scores_then_item_index():
    codes = np.array([[1], [1], [1], [2]])
    rank, size = bucket_rank(codes, np.array([0.1, 0.9, 0.9, 5.0]))
    np.testing.assert_array_equal(rank, [2, 0, 1, 0])
    np.testing.assert_array_equal(size, [3, 3, 3, 1])


def test_group_ids_falls_back_to_lexsort_for_huge_code_ranges():
    codes = np.array([[2**40, 2**40, 1], [2**40, 2**40, 1], [0, 2**40, 1]])
    gid, g = group_ids(codes)
    assert g == 2 and gid[0] == gid[1] != gid[2]


def test_collision_stats_brute_force():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, size=(300, 2))
    rows = [tuple(r) for r in codes]
    counts = {r: rows.count(r) for r in set(rows)}
    s = collision_stats(codes)
    assert s["distinct_ids"] == len(counts)
    assert s["max_bucket"] == max(counts.values())
    assert s["collision_rate"] == pytest.approx(np.mean([counts[r] > 1 for r in rows]))


def test_suffix_at_a_million_items_is_unique_and_fast():
    codes = np.random.default_rng(0).integers(0, 256, size=(1_000_000, 2))
    t0 = time.perf_counter()
    out, size = add_suffix(codes)
    elapsed = time.perf_counter() - t0
    assert collision_stats(out)["distinct_ids"] == 1_000_000
    assert size == collision_stats(codes)["max_bucket"]
    assert elapsed < 10, f"suffix assignment took {elapsed:.1f}s"


# ------------------------------------------------------------------ diagnostics
def test_level_usage_and_perplexity_known_answers():
    codes = np.array([[0, 1], [1, 1], [2, 1], [3, 1]])
    used, perp = level_usage(codes, [8, 8])
    assert used == [4, 1]
    assert perp == pytest.approx([4.0, 1.0])


def test_neighbour_preservation_brute_force():
    X = _clustered(n=200, d=8)
    first = np.random.default_rng(1).integers(0, 3, 200)
    got, nq = neighbour_preservation(X, first, k=5, max_queries=200)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    S = Xn @ Xn.T
    np.fill_diagonal(S, -np.inf)
    nn = np.argsort(-S, axis=1)[:, :5]
    assert nq == 200
    assert got == pytest.approx((first[nn] == first[:, None]).mean(), abs=0.01)


# ------------------------------------------------------------------ schemes
@pytest.mark.parametrize("collisions", ["none", "suffix"])
def test_shared_layout_and_diagnostics(XS, collisions, tmp_path):
    pop = np.arange(len(XS), dtype=float)
    built = build_ids(XS, codebook_size=8, collisions=collisions, popularity=pop, show_progress=False)
    assert isinstance(built, BuiltIDs) and set(built.quantizers) == {"shared"}
    built.save(tmp_path / "ids")
    ids = SemanticIDs.load(tmp_path / "ids")
    d = json.loads((tmp_path / "ids" / "diagnostics.json").read_text())
    assert all(k in d for k in REQUIRED)
    assert d["quantizer_collision_rate"] > 0.5  # 800 items, 64 possible IDs
    if collisions == "suffix":
        assert ids.level_names == ["a", "b", "c"] and ids.tasks == {"search": [0, 1, 2], "rec": [0, 1, 2]}
        assert ids.level_sizes[2] == d["max_bucket"]
        assert d["collision_rate"] == 0.0 and d["distinct_ids"] == len(XS)
    else:
        assert ids.level_names == ["a", "b"] and d["collision_rate"] == d["quantizer_collision_rate"]
    assert ids.config["bucket_order"] == "popularity"
    members = bucket_members(ids, "search")
    assert sum(len(v) for v in members.values()) == len(XS)
    for v in members.values():  # most popular (highest index here) first
        assert list(v) == sorted(v, reverse=True)
    np.testing.assert_array_equal(load_quantizers(tmp_path / "ids")["shared"].encode(XS), built.ids.codes[:, :2])


def test_separate_has_disjoint_vocabularies_and_per_task_suffix(XS, XR):
    ids = build_ids({"search": XS, "rec": XR}, scheme="separate", codebook_size=8, show_progress=False).ids
    assert ids.level_names == ["s0", "s1", "r0", "r1", "s2", "r2"]
    assert ids.tasks == {"search": [0, 1, 4], "rec": [2, 3, 5]}
    assert not set(ids.tasks["search"]) & set(ids.tasks["rec"])
    for t in ("search", "rec"):
        assert collision_stats(ids.task_codes(t))["collision_rate"] == 0.0
        assert ids.diagnostics["per_task"][t]["quantizer_collision_rate"] > 0
    assert ids.diagnostics["collision_rate"] == 0.0


def test_prefix_share_layout_and_shared_first_code(XS, XR):
    built = build_ids({"search": XS, "rec": XR}, scheme="prefix-share", codebook_size=8, collisions="none",
                      show_progress=False)
    ids = built.ids
    assert ids.level_names == ["p0", "s1", "r1"] and ids.tasks == {"search": [0, 1], "rec": [0, 2]}
    assert set(built.quantizers) == {"prefix", "search", "rec"}
    # the prefix code is the 1-level quantizer's code of the concatenation
    Z = np.concatenate([XS, XR], axis=1)
    np.testing.assert_array_equal(built.quantizers["prefix"].encode(Z)[:, 0], ids.codes[:, 0])
    per = ids.diagnostics["per_task"]
    # task levels refine the shared prefix: error lower than with the prefix alone
    assert per["search"]["rel_sq_error"] < 0.9 and per["rec"]["rel_sq_error"] < 0.9
    suffixed = build_ids({"search": XS, "rec": XR}, scheme="prefix-share", codebook_size=8, show_progress=False).ids
    assert suffixed.level_names == ["p0", "s1", "r1", "s2", "r2"]
    assert suffixed.tasks == {"search": [0, 1, 3], "rec": [0, 2, 4]}


def test_build_bad_inputs(XS, XR):
    with pytest.raises(ValueError, match=r"'joint'; valid schemes: \['prefix-share', 'separate', 'shared'\]"):
        build_ids(XS, scheme="joint")
    with pytest.raises(ValueError, match="'search' and 'rec'"):
        build_ids(XS, scheme="separate")
    with pytest.raises(ValueError, match="same items"):
        build_ids({"search": XS, "rec": XR[:100]}, scheme="separate", codebook_size=8)
    with pytest.raises(ValueError, match=r"collision mode 'dedup'; valid modes: \['none', 'suffix'\]"):
        build_ids(XS, codebook_size=8, collisions="dedup")
    with pytest.raises(ValueError, match=r"bucket_order='size' is not valid; choose one of \['auto', 'popularity'"):
        build_ids(XS, codebook_size=8, bucket_order="size")
    with pytest.raises(ValueError, match="'prefix-share' needs levels >= 2, got 1"):
        build_ids({"search": XS, "rec": XR}, scheme="prefix-share", levels=1, codebook_size=8)
    with pytest.raises(ValueError, match="needs popularity"):
        build_ids(XS, codebook_size=8, bucket_order="popularity")
    with pytest.raises(ValueError, match="has no presets"):
        build_ids(XS, method="rq-kmeans", codebook_size=8, preset="robust")
    with pytest.raises(ValueError, match="at least 256"):
        build_ids(XS[:100], codebook_size=256)


def test_rq_vae_training_curve_lands_in_diagnostics(XS):
    ids = build_ids(XS, method="rq-vae", codebook_size=8, epochs=2, batch_size=256, num_threads=1,
                    show_progress=False).ids
    curve = ids.diagnostics["training_curve"]["shared"]
    assert curve["epoch"] == [1, 2] and len(curve["codes_in_use"][0]) == 2


# ------------------------------------------------------------------ CLI
def test_cli_build_and_inspect_with_plain_npy(XS, XR, tmp_path, capsys):
    np.save(tmp_path / "s.npy", XS)
    emb_dir = tmp_path / "rec_emb"
    emb_dir.mkdir()
    np.save(emb_dir / "embeddings.npy", XR)
    rc = main(["-q", "ids", "build", "--embeddings", str(tmp_path / "s.npy"), "--codebook-size", "8",
               "--no-progress", "--out", str(tmp_path / "a")])
    assert rc == 0
    for f in ("codes.npy", "config.json", "diagnostics.json", "quantizer/shared/quantizer.json"):
        assert (tmp_path / "a" / f).exists()
    rc = main(["-q", "ids", "build", "--scheme", "separate", "--embeddings", str(tmp_path / "s.npy"), str(emb_dir),
               "--codebook-size", "8", "--collisions", "none", "--no-progress", "--out", str(tmp_path / "b")])
    assert rc == 0
    assert SemanticIDs.load(tmp_path / "b").tasks == {"search": [0, 1], "rec": [2, 3]}
    capsys.readouterr()
    assert main(["ids", "inspect", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "quantizer_collision_rate" in out and "neighbour_preservation" in out


def test_cli_reports_bad_input_in_one_line(XS, tmp_path, capsys):
    bad = XS.copy()
    bad[3, 0] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    rc = main(["-q", "ids", "build", "--embeddings", str(tmp_path / "bad.npy"), "--codebook-size", "8",
               "--out", str(tmp_path / "x")])
    assert rc == 2
    assert "NaN" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
@pytest.mark.parametrize("method", ["rq-kmeans", "rq-vae", "rlfq", "dict"])
@pytest.mark.parametrize("scheme", ["shared", "separate", "prefix-share"])
@pytest.mark.parametrize("collisions", ["none", "suffix"])
def test_cli_every_method_scheme_and_collision_mode(method, scheme, collisions, XS, XR, tmp_path):
    np.save(tmp_path / "s.npy", XS)
    np.save(tmp_path / "r.npy", XR)
    inputs = [str(tmp_path / "s.npy")] if scheme == "shared" else [str(tmp_path / "s.npy"), str(tmp_path / "r.npy")]
    opts = ["--opt", "epochs=1", "--opt", "batch_size=256"] if method in ("rq-vae", "rlfq") else []
    rc = main(["-q", "ids", "build", "--embeddings", *inputs, "--method", method, "--scheme", scheme,
               "--collisions", collisions, "--codebook-size", "8", "--no-progress", *opts, "--out", str(tmp_path / "o")])
    assert rc == 0
    ids = SemanticIDs.load(tmp_path / "o")
    d = ids.diagnostics
    assert d["quantizer_collision_rate"] > 0
    if collisions == "suffix":
        assert d["collision_rate"] == 0.0
        for t in ("search", "rec"):
            assert collision_stats(ids.task_codes(t))["distinct_ids"] == len(XS)
    else:
        assert d["collision_rate"] == pytest.approx(d["quantizer_collision_rate"])
