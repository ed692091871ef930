"""semid.cache.RecordCache: the one keyed JSON record cache (LLM answers, the RQ-VAE study's fits)."""

from __future__ import annotations

import json

from semid.cache import RecordCache
from semid.io import hash_json


def test_a_record_comes_back_only_under_its_own_key(tmp_path):
    c = RecordCache(tmp_path / "c")
    assert c.get("item", {"a": 1}) is None
    c.put("item", {"a": 1}, {"x": [1, 2]})
    assert c.get("item", {"a": 1}) == {"x": [1, 2]}
    assert c.get("item", {"a": 2}) is None
    assert c.get("other", {"a": 1}) is None


def test_an_unreadable_or_rejected_record_is_treated_as_missing(tmp_path, caplog):
    c = RecordCache(tmp_path)
    c.path("item", 1).write_text("{not json")
    assert c.get("item", 1) is None
    assert "unreadable cache file" in caplog.text

    def check(r):
        if not r["ok"]:
            raise ValueError("not ok")
        return r["v"]

    c.put("item", 2, {"ok": False, "v": 3})
    assert c.get("item", 2, check=check) is None
    c.put("item", 3, {"ok": True, "v": 3})
    assert c.get("item", 3, check=check) == 3


def test_labels_with_path_characters_stay_inside_the_folder(tmp_path):
    c = RecordCache(tmp_path)
    p = c.put("../a/b c", 1, {"v": 1})
    assert p.parent == tmp_path and p.name.startswith(".._a_b_c-")
    assert c.get("../a/b c", 1) == {"v": 1}


def test_llm_answer_files_keep_their_names_so_old_caches_are_reused(tmp_path):
    """Regression: moving the LLM cache onto RecordCache must not orphan answers already paid for."""
    from semid.data.llm_config import LLMQueryConfig
    from semid.data.llm_queries import _cache_key

    cfg = LLMQueryConfig(cache_dir=str(tmp_path))
    messages = [{"role": "user", "content": "hi"}]
    old_name = f"B00_X-{hash_json({'model': cfg.model, 'messages': messages, 'item_id': 'B00/X'}, length=16)}.json"
    path = RecordCache(tmp_path).path("B00/X", _cache_key(cfg, "B00/X", messages))
    assert path.name == old_name


def test_study_cache_files_keep_their_names(tmp_path):
    c = RecordCache(tmp_path, key_length=12, sep="__", max_label=None)
    key = {"set": "s", "seed": 0}
    assert c.path("s__rq_kmeans__s0", key).name == f"s__rq_kmeans__s0__{hash_json(key)[:12]}.json"
    c.put("s__rq_kmeans__s0", key, {"v": 1})
    assert json.loads(c.path("s__rq_kmeans__s0", key).read_text()) == {"v": 1}
