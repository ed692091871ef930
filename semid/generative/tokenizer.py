"""A small tokenizer trained on the dataset's own text, for the offline ``small`` model.

The tokenizer is a byte-level-free BPE from the ``tokenizers`` library with a lower-casing,
accent-stripping normaliser and a whitespace/punctuation pre-tokeniser. It is trained on the
items' metadata text plus the training queries (never the test queries), with every
printable ASCII character in its alphabet (so a test query never maps to ``<unk>`` for a
character like ``:``), and wrapped as a
``transformers`` fast tokenizer with T5's special tokens: ``<pad>`` (id 0, also the decoder
start token), ``</s>`` (id 1, appended to every encoded input) and ``<unk>`` (id 2).
"""

from __future__ import annotations

import itertools
import logging
import string
from collections.abc import Iterable

logger = logging.getLogger(__name__)

__all__ = ["train_tokenizer", "SPECIAL_TOKENS"]

SPECIAL_TOKENS = ("<pad>", "</s>", "<unk>")


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4000, min_frequency: int = 2):
    """Train a BPE tokenizer on ``texts`` and return a ``PreTrainedTokenizerFast``.

    vocab_size: the number of text tokens (the ID tokens are added later, on top).
    """
    if vocab_size < 64:
        raise ValueError(f"tokenizer vocab_size must be >= 64, got {vocab_size}")
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase(), normalizers.StripAccents()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tok.decoder = decoders.BPEDecoder()
    alphabet = [c for c in string.printable if not c.isspace() and not c.isupper()]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=alphabet, show_progress=False,
    )
    # the task prefixes are always whole tokens
    prompts = ["search:", "recommend:"] * max(2, min_frequency)
    tok.train_from_iterator(itertools.chain(prompts, (t for t in texts if t)), trainer=trainer)
    eos_id = tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", eos_id)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    logger.info("trained a BPE tokenizer with %d tokens", len(fast))
    return fast
