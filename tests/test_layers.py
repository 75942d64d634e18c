"""The copy-on-write layer every store keeps its state in: a fork reads the seed, writes only its own, and can never
change what another fork sees."""
import copy
import pickle

import pytest

from mockserver.layers import Changes, FrozenDict, FrozenList, Layer, freeze, thaw


def seed_layer():
    layer = Layer()
    for key in ("a", "b", "c"):
        layer[key] = {"id": key, "tags": [key], "attributes": {"n": 1}}
    layer.seal()
    return layer


def test_a_fork_reads_the_seed_and_keeps_its_changes_to_itself():
    seed = seed_layer()
    one, two = seed.fork(Changes()), seed.fork(Changes())
    one.writable("a")["attributes"]["n"] = 2
    one.mutable("d", dict)["id"] = "d"
    del one["b"]
    assert [k for k in one] == ["a", "c", "d"] and len(one) == 3
    assert one["a"]["attributes"] == {"n": 2} and "b" not in one and one.get("b") is None
    assert [k for k in two] == ["a", "b", "c"] and two["a"]["attributes"] == {"n": 1}
    assert seed.own["a"]["attributes"] == {"n": 1} and len(seed.own) == 3


def test_order_is_kept_as_a_dict_keeps_it():
    layer = seed_layer().fork(Changes())
    layer["b"] = {"id": "b2"}  # set in place
    layer.pop("a")
    layer["a"] = {"id": "a2"}  # deleted, then added again: at the end
    layer["e"] = {}
    assert list(layer) == ["b", "c", "a", "e"] and [v.get("id") for v in layer.values()] == ["b2", "c", "a2", None]


def test_the_seed_refuses_every_write():
    seed = seed_layer()
    for write in (lambda v: v.__setitem__("x", 1), lambda v: v.update(x=1), lambda v: v.pop("id"),
                  lambda v: v["tags"].append("x"), lambda v: v["attributes"].clear(), lambda v: v["tags"].sort()):
        with pytest.raises(TypeError, match="seeded data is read-only"):
            write(seed.own["a"])
    with pytest.raises(RuntimeError):
        seed.fork(Changes()).fork(Changes())


def test_copies_of_seeded_values_are_plain_and_writable():
    frozen = freeze({"a": [1, {"b": {2}}]})
    assert isinstance(frozen, FrozenDict) and isinstance(frozen["a"], FrozenList) and frozen["a"][1]["b"] == frozenset({2})
    for copied in (thaw(frozen), copy.deepcopy(frozen)):
        assert type(copied) is dict and type(copied["a"]) is list and type(copied["a"][1]["b"]) is set
        copied["a"].append(3)
    assert frozen == {"a": [1, {"b": {2}}]}
    assert pickle.loads(pickle.dumps(frozen)) == frozen


def test_every_write_is_counted():
    changes = Changes()
    layer = seed_layer().fork(changes)
    layer.get("a"), list(layer), len(layer)
    assert changes.count == 0
    layer["x"] = 1
    layer.writable("a")
    layer.pop("b")
    assert changes.count == 3
    assert layer.pop("missing", None) is None and changes.count == 3
