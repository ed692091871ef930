"""semid.registry: exact names, lazy imports, typed options; the embedder and quantizer registries."""

from __future__ import annotations

import dataclasses
import sys

import pytest

from semid.registry import Registry, UnknownNameError, check_name_attribute


@dataclasses.dataclass
class ToyOptions:
    width: int = 3
    mode: str = "a"

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ValueError(f"width must be >= 1, got {self.width}")


class Toy:
    name = "toy"

    def __init__(self, options: ToyOptions) -> None:
        self.options = options


@pytest.fixture
def reg() -> Registry:
    r: Registry = Registry("toy method", check=check_name_attribute)
    r.add("toy", Toy, "a toy", options=ToyOptions)
    r.add("other", "collections:OrderedDict", "an ordered dict")
    return r


def test_names_are_exact_and_an_unknown_name_lists_the_valid_ones(reg):
    assert reg.names() == ["toy", "other"] and set(reg) == {"toy", "other"} and len(reg) == 2
    assert reg["toy"] is Toy and "toy" in reg and "Toy" not in reg
    with pytest.raises(ValueError, match=r"unknown toy method 'Toy'; valid methods: \['other', 'toy'\]"):
        reg.get_factory("Toy")
    with pytest.raises(KeyError):  # a mapping too
        reg["tooy"]
    assert isinstance(UnknownNameError("x"), ValueError)


def test_a_name_cannot_be_registered_twice(reg):
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("toy", Toy, "again")
    with pytest.raises(TypeError):
        reg.add("", Toy, "no name")


def test_string_factories_are_imported_on_first_use(tmp_path, monkeypatch):
    (tmp_path / "semid_toy_plugin.py").write_text("class Plug:\n    name = 'plug'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    r: Registry = Registry("plug-in", check=check_name_attribute)
    r.add("plug", "semid_toy_plugin:Plug", "a plug-in in its own module")
    assert "semid_toy_plugin" not in sys.modules  # registering imports nothing
    assert r["plug"].__name__ == "Plug" and "semid_toy_plugin" in sys.modules
    monkeypatch.delitem(sys.modules, "semid_toy_plugin")
    r.add("bad", "semid_toy_plugin", "no attribute")
    with pytest.raises(ValueError, match="module:attribute"):
        r["bad"]


def test_a_class_whose_name_differs_from_its_registry_name_is_refused(reg):
    r: Registry = Registry("toy method", check=check_name_attribute)
    r.add("renamed", Toy, "Toy says its name is 'toy'")
    with pytest.raises(TypeError, match="registered as 'renamed' but its name attribute is 'toy'"):
        r["renamed"]


def test_options_come_from_the_dataclass(reg):
    assert reg.make_options("toy") == ToyOptions()
    assert reg.make_options("toy", {"width": 5}) == ToyOptions(width=5)
    given = ToyOptions(mode="b")
    assert reg.make_options("toy", given) is given
    with pytest.raises(ValueError, match=r"toy\.cfg: unknown key\(s\) \['wdth'\]; valid keys: \['mode', 'width'\]"):
        reg.make_options("toy", {"wdth": 5}, where="toy.cfg")
    with pytest.raises(ValueError, match="width must be >= 1"):
        reg.make_options("toy", {"width": 0})
    with pytest.raises(TypeError, match="takes a ToyOptions or a dict"):
        reg.make_options("toy", 3)
    with pytest.raises(TypeError, match="no options dataclass"):
        reg.make_options("other")
    assert dict(reg.options_map()) == {"toy": ToyOptions, "other": None}
    assert reg.help_lines() == "  toy: a toy\n  other: an ordered dict"


def test_every_embedder_entry_resolves_to_its_class_and_config():
    from semid.embed import EMBEDDERS, Embedder

    assert EMBEDDERS.names() == ["content", "search", "rec", "multitask", "fused-concat", "fused-svd", "hgnn"]
    for name in EMBEDDERS:
        cls, opts = EMBEDDERS[name], EMBEDDERS.options_class(name)
        assert issubclass(cls, Embedder) and cls.name == name
        assert dataclasses.is_dataclass(opts) and EMBEDDERS.make_options(name) == opts()


def test_every_quantizer_entry_resolves_to_its_class():
    from semid.ids import QUANTIZERS, Quantizer

    assert QUANTIZERS.names() == ["rq-kmeans", "rq-vae", "rlfq", "dict"]
    for name in QUANTIZERS:
        assert issubclass(QUANTIZERS[name], Quantizer) and QUANTIZERS[name].name == name


def test_help_lists_come_from_the_registries(capsys):
    from semid.cli import main
    from semid.embed import EMBEDDERS
    from semid.ids import QUANTIZERS

    for argv, reg in ((["embed", "--help"], EMBEDDERS), (["ids", "build", "--help"], QUANTIZERS)):
        with pytest.raises(SystemExit):
            main(argv)
        out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
        for name in reg:
            assert f"{name}: {' '.join(reg.entry(name).help.split())}" in out


def test_the_quantizer_base_does_not_import_the_quantizers():
    # the former hard-coded import list in ids/base.py made base <-> implementations a cycle
    import grimp

    g = grimp.build_graph("semid", cache_dir=None)
    for impl in ("rq_kmeans", "rq_vae", "rlfq", "dictionary", "autoencoder"):
        assert g.chain_exists(importer=f"semid.ids.{impl}", imported="semid.ids.base")
        assert not g.chain_exists(importer="semid.ids.base", imported=f"semid.ids.{impl}")
    assert not g.chain_exists(importer="semid.ids.quantizers", imported="semid.ids.base")  # no cycle, even typing-only
    for impl in ("sentence", "finetune", "enmf", "fusion", "hgnn"):
        assert not g.chain_exists(importer="semid.embed.registry", imported=f"semid.embed.{impl}")
