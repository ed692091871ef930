"""The data-source and query-generator registries (issue 16): names, help, errors and a toy source."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from semid.cli import main
from semid.data.catalogue import Catalogue, SourceRequest
from semid.data.prepare import ITEM_NOUNS, SOURCES, prepare
from semid.data.sources import DATA_SOURCES, QUERY_GENERATORS


def test_every_source_and_generator_is_registered_with_help_and_a_default_item_noun():
    assert list(DATA_SOURCES) == ["synthetic", "movielens", "files", "amazon"]
    assert list(QUERY_GENERATORS) == ["offline", "llm"]
    assert SOURCES == tuple(DATA_SOURCES)
    assert ITEM_NOUNS == {"synthetic": "movie", "movielens": "movie", "files": "item", "amazon": "product"}
    for reg in (DATA_SOURCES, QUERY_GENERATORS):
        for name in reg:
            assert reg.entry(name).help and callable(reg[name])


def test_the_experiment_config_takes_its_sources_from_the_registry():
    from semid.experiment.config import SOURCES as CONFIG_SOURCES

    assert CONFIG_SOURCES == tuple(DATA_SOURCES)


def test_listing_the_sources_imports_no_pandas():
    code = "import sys, semid.data.sources as s; list(s.DATA_SOURCES); print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_an_unknown_source_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown data source 'netflix'; valid sources: \['amazon', 'files', "
                                         r"'movielens', 'synthetic'\]"):
        prepare(source="netflix")


def test_an_unknown_query_generator_fails_before_any_file_is_read(tmp_path):
    # the files do not exist: the generator's name is checked first
    with pytest.raises(ValueError, match=r"unknown query generator 'gpt'; valid generators: \['llm', 'offline'\]"):
        prepare(source="files", items_path=str(tmp_path / "none.csv"),
                interactions_path=str(tmp_path / "none.csv"), queries="gpt")


def test_source_options_are_checked_by_the_registered_options_class():
    with pytest.raises(ValueError, match="n_itemz"):
        prepare(source="synthetic", synthetic_options={"n_itemz": 50})


@pytest.mark.parametrize(("args", "message"), [
    (["--source", "netflix"], "argument --source: unknown data source 'netflix'; valid sources: ['amazon', "),
    (["--source", "synthetic", "--queries", "gpt"],
     "argument --queries: unknown query generator 'gpt'; valid generators: ['llm', 'offline']"),
])
def test_the_cli_rejects_an_unknown_name_with_the_registry_message(capsys, tmp_path, args, message):
    with pytest.raises(SystemExit) as exc:
        main(["data", "prepare", *args, "--out", str(tmp_path / "d")])
    assert exc.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_the_prepare_help_lists_every_source_and_generator_with_its_help(capsys):
    with pytest.raises(SystemExit):
        main(["data", "prepare", "--help"])
    out = capsys.readouterr().out
    for reg in (DATA_SOURCES, QUERY_GENERATORS):
        for name in reg:
            assert f"{name}: {reg.entry(name).help}" in out


class ToySource:
    """Six gadgets and four users, each with four interactions (a new source is this class plus one line)."""

    item_noun = "gadget"

    @staticmethod
    def read(req: SourceRequest) -> Catalogue:
        items = pd.DataFrame({"item_id": [f"g{i}" for i in range(6)], "title": [f"Gadget {i}" for i in range(6)],
                              "genres": ["tools|garden"] * 3 + ["kitchen"] * 3,
                              "text": [f"Gadget {i}. tools and kitchen" for i in range(6)]})
        rows = [(u, f"g{(u + k) % 6}", 10 * u + k) for u in range(4) for k in range(4)]
        inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
        return Catalogue(items, inter, {"source": "toy", "seen_noun": req.item_noun})


@pytest.fixture
def toy_source(monkeypatch):
    monkeypatch.setattr(DATA_SOURCES, "_entries", dict(DATA_SOURCES._entries))  # restored after the test
    DATA_SOURCES.add("toy", ToySource, "six gadgets (a test source)")
    return "toy"


def test_a_registered_source_is_prepared_with_its_item_noun_and_generated_queries(toy_source):
    ds = prepare(source=toy_source, n_train_queries=2, n_test_queries=1, show_progress=False)
    assert ds.n_items == 6 and ds.meta["source"] == "toy"
    assert ds.meta["seen_noun"] == ds.meta["item_noun"] == "gadget" and ds.meta["queries"] == "offline"
    assert ds.sizes()["n_queries_train"] == 12 and ds.sizes()["n_queries_test"] == 6
    assert set(ds.interactions["split"]) == {"train", "valid", "test"}
    ds = prepare(source=toy_source, item_noun="Tool", n_train_queries=1, n_test_queries=1, show_progress=False)
    assert ds.meta["item_noun"] == "tool"
