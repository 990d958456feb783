"""tts.config: networks record the arguments they were built with; specs rebuild them."""

from __future__ import annotations

import pytest
from torch import nn

from tts.config import class_spec, instantiate, records_init_args


@records_init_args
class Net(nn.Module):
    def __init__(self, width: int, sizes: tuple[int, ...] = (1, 2), name: str = "a"):
        super().__init__()
        self.lin = nn.Linear(width, width)


@records_init_args
class Wider(Net):
    def __init__(self, depth: int = 3, **kwargs):
        super().__init__(width=8, **kwargs)


class Undecorated(Net):
    pass


def test_spec_has_every_argument_with_defaults_and_rebuilds_the_module():
    spec = class_spec(Net(4, name="b"))
    assert spec == {"class_path": f"{__name__}.Net", "init_args": {"width": 4, "sizes": [1, 2], "name": "b"}}
    assert class_spec(instantiate(spec)) == spec


def test_a_decorated_subclass_records_its_own_arguments_and_an_undecorated_one_its_parents():
    assert class_spec(Wider(depth=5))["init_args"] == {"depth": 5, "kwargs": {}}
    assert class_spec(Undecorated(2)) == {"class_path": f"{__name__}.Undecorated",
                                          "init_args": {"width": 2, "sizes": [1, 2], "name": "a"}}  # fmt: skip


def test_bad_specs_are_named():
    with pytest.raises(ValueError, match="model.x: unknown class_path 'nope.Nope'"):
        instantiate({"class_path": "nope.Nope"}, "model.x")
    with pytest.raises(ValueError, match="cannot build .*Net with init_args"):
        instantiate({"class_path": f"{__name__}.Net", "init_args": {"depth": 1}})
    with pytest.raises(ValueError, match="expected"):
        instantiate({"init_args": {}})
    with pytest.raises(TypeError, match="does not record"):
        class_spec(nn.Linear(1, 1))


def test_map_strings_walks_yaml_data_with_key_paths_and_skips():
    from tts.config import map_strings

    seen = []
    out = map_strings({"a": ["x", {"b": "y"}], "notes": "z", "n": 1},
                      lambda v, k: seen.append(k) or v.upper(), skip=("notes",))  # fmt: skip
    assert out == {"a": ["X", {"b": "Y"}], "notes": "z", "n": 1} and seen == ["a[0]", "a[1].b"]
