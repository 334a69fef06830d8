"""The catalog's data files parse the same through libyaml as through PyYAML's pure-Python loader."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml
from aifactory.catalog.yamldata import LOADER, load_yaml


def _data_files() -> list[str]:
    root = resources.files("aifactory.catalog").joinpath("data")
    found = [f"data/{p.name}" for p in root.iterdir() if p.name.endswith(".yaml")]
    found += [f"data/prices/{p.name}" for p in root.joinpath("prices").iterdir() if p.name.endswith(".yaml")]
    return sorted(found)


def test_the_catalog_has_yaml_data_files() -> None:
    assert {"data/instance_types.yaml", "data/servers.yaml"} <= set(_data_files())


@pytest.mark.parametrize("name", _data_files())
def test_every_data_file_loads_as_the_pure_python_safe_loader_loads_it(name: str) -> None:
    text = resources.files("aifactory.catalog").joinpath(name).read_text()
    assert load_yaml(text) == yaml.load(text, Loader=yaml.SafeLoader)


def test_the_loader_is_libyaml_when_pyyaml_has_it() -> None:
    assert LOADER is (yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader)


def test_the_loader_is_safe() -> None:
    with pytest.raises(yaml.constructor.ConstructorError):
        load_yaml("!!python/object/apply:os.system ['true']")
