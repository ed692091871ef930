"""One default per parameter (issue 16): every place that defaults the ID size, the scheme, the collision
mode, the bucket order, the list length k or the beam width gets it from one named constant, so what a
caller gets without passing the value is the same through the library, the CLIs and the config."""

from __future__ import annotations

import argparse
import inspect

import pandas as pd
import pytest

from semid.experiment.config import (
    DatasetSpec,
    EvalOptions,
    ExperimentConfig,
    IDOptions,
    QuantizerSpec,
    SchemeSpec,
)
from semid.generative.config import DEFAULT_BEAM_SIZE, DEFAULT_K
from semid.ids.base import DEFAULT_CODEBOOK_SIZE, DEFAULT_LEVELS
from semid.ids.collisions import DEFAULT_BUCKET_ORDER, DEFAULT_COLLISIONS
from semid.ids.quantizers import DEFAULT_QUANTIZER
from semid.ids.schemes import DEFAULT_SCHEME


def _default(fn, name):
    return inspect.signature(fn).parameters[name].default


def _parser(module, *argv):
    """The parsed defaults of ``semid <argv>`` as registered by ``module``."""
    parser = argparse.ArgumentParser()
    module.register(parser.add_subparsers(dest="cmd"))
    return parser.parse_args(list(argv))


def test_the_id_defaults_are_the_same_in_build_ids_the_cli_and_the_config():
    from semid.ids import build, cli

    args = _parser(cli, "ids", "build", "--out", "x")
    got = {
        "build_ids": [_default(build.build_ids, p) for p in ("method", "levels", "codebook_size", "scheme",
                                                               "collisions", "bucket_order")],
        "semid ids build": [args.method, args.levels, args.codebook_size[0], args.scheme, args.collisions,
                            args.bucket_order],
        "config": [QuantizerSpec().method, IDOptions().levels, IDOptions().codebook_size,
                   SchemeSpec("r", embedding="e").scheme, ExperimentConfig(datasets=[DatasetSpec("d")]).collisions[0]],
    }
    want = [DEFAULT_QUANTIZER, DEFAULT_LEVELS, DEFAULT_CODEBOOK_SIZE, DEFAULT_SCHEME, DEFAULT_COLLISIONS,
            DEFAULT_BUCKET_ORDER]
    assert want == ["rq-kmeans", 2, 256, "shared", "suffix", "auto"]  # the paper's RQ-KMeans 2 x 256: unchanged
    for where, values in got.items():
        assert values == want[:len(values)], where  # the config has no bucket order (build_ids' "auto")


def test_the_k_and_beam_defaults_read_the_named_constants():
    from semid.evaluate.generative import evaluate_generative
    from semid.generative.decode import constrained_beam_search
    from semid.generative.retriever import GenerativeRetriever

    assert (DEFAULT_K, DEFAULT_BEAM_SIZE) == (30, 30)  # the values before issue 16
    assert EvalOptions().k == _default(evaluate_generative, "k") == _default(GenerativeRetriever.retrieve, "k") \
        == DEFAULT_K
    assert EvalOptions().beam_size == _default(constrained_beam_search, "beam_size") == DEFAULT_BEAM_SIZE


class _Recorder:
    """Stands in for the GenerativeRetriever: records the beam each call asks for."""

    def __init__(self):
        self.calls = []

    def retrieve(self, task, inputs, k, beam_size, **_):
        self.calls.append((k, beam_size))
        return [[(0, 0.0)] for _ in inputs]


@pytest.mark.parametrize("k, beam, want", [(5, None, DEFAULT_BEAM_SIZE), (10, None, DEFAULT_BEAM_SIZE),
                                           (50, None, 50), (5, 7, 7)])
def test_the_serving_api_decodes_at_least_the_default_beam(k, beam, want):
    from semid.generative.api import Retriever

    gen = _Recorder()
    r = Retriever(gen, pd.DataFrame({"item_id": list(range(60)), "title": ["t"] * 60}))
    r.search("a query", k=k, beam_size=beam)
    r.recommend([1, 2], k=k, beam_size=beam)
    assert gen.calls == [(k, want), (k, want)]


def test_the_query_cli_help_states_the_serving_beam_default(capsys):
    from semid.generative import query_cli

    with pytest.raises(SystemExit):
        _parser(query_cli, "search", "--help")
    assert f"max(k, {DEFAULT_BEAM_SIZE})" in " ".join(capsys.readouterr().out.split())
