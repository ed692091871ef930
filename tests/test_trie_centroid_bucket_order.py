"""Regression: IDs built without popularity (`semid ids build`, bucket_order "centroid") could not be decoded."""

from __future__ import annotations

import numpy as np
import pytest

from semid.generative.trie import IDTrie
from semid.ids.types import SemanticIDs


def _ids(bucket_rank: dict | None) -> SemanticIDs:
    codes = np.array([[0, 1], [0, 1], [0, 1], [1, 0]])  # items 0, 1, 2 share one ID
    return SemanticIDs(codes, ["a", "b"], [2, 2], {"search": [0, 1], "rec": [0, 1]},
                       config={"bucket_order": "centroid"}, bucket_rank=bucket_rank or {})


def test_trie_builds_from_ids_with_centroid_bucket_order_using_their_bucket_rank():
    rank = np.array([2, 0, 1, 0])
    trie = IDTrie.build(_ids({"search": rank, "rec": rank}), "rec", popularity=np.array([9, 1, 5, 0]))
    leaf = int(trie.item_leaf[0])
    assert trie.leaf_items(leaf).tolist() == [1, 2, 0]  # the IDs' own order, not popularity


def test_trie_centroid_without_bucket_rank_falls_back_to_popularity():
    trie = IDTrie.build(_ids(None), "search", popularity=np.array([1, 5, 9, 0]))
    assert trie.leaf_items(int(trie.item_leaf[0])).tolist() == [2, 1, 0]


def test_trie_unknown_bucket_order_still_rejected():
    with pytest.raises(ValueError, match="bucket_order"):
        IDTrie.build(_ids(None), "search", bucket_order="nearest")
