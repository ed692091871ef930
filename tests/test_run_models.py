"""A damaged T5 model given by the user gets one clear error naming the file (issue 17: SafetensorError
tracebacks, and a misleading "install sentencepiece" for a missing tokenizer.json). The encoder-decoder
case is in test_experiment.py, on the model its finished run trained."""

from __future__ import annotations

from pathlib import Path

import pytest

from semid.io import write_json


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 3])


def _fake_t5(root: Path) -> Path:
    """A T5 model directory as training writes it, with a 2-layer, 8-wide T5 and a tokenizer.json."""
    from transformers import T5Config, T5ForConditionalGeneration

    from tests.conftest import separate_ids

    ids = separate_ids(12)
    ids.save(root / "ids")
    T5ForConditionalGeneration(T5Config(vocab_size=64, d_model=8, d_kv=4, d_ff=16, num_layers=1, num_heads=2)
                               ).save_pretrained(root / "model")
    (root / "tokenizer").mkdir()
    (root / "tokenizer" / "tokenizer.json").write_text("{}")
    write_json(root / "config.json", {"backend": "t5", "train_config": {}, "backend_config": {}})
    return root


@pytest.mark.parametrize("damage, file, error", [
    ("delete", "tokenizer/tokenizer.json", FileNotFoundError),
    ("delete", "model/model.safetensors", FileNotFoundError),
    ("truncate", "model/model.safetensors", ValueError),
])
def test_a_damaged_t5_model_names_its_file_not_a_library_traceback(tmp_path, damage, file, error):
    from semid.generative.retriever import load_model

    model = _fake_t5(tmp_path / "model")
    target = model / file
    target.unlink() if damage == "delete" else _truncate(target)
    with pytest.raises(error) as exc:
        load_model(model)
    msg = str(exc.value)
    assert (str(target) if damage == "delete" else str(model)) in msg and "semid train" in msg, msg
    assert "sentencepiece" not in msg
