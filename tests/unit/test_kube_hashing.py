"""Pod-template hashing (controller_utils.go ComputeHash) and apimachinery rand."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from almtui.kube.hashing import (
    ALPHANUMS,
    compute_hash,
    fnv32a,
    random_suffix,
    safe_encode_string,
    templates_equal_ignoring_hash,
)


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"", 0x811C9DC5), (b"a", 0xE40C292C), (b"foobar", 0xBF9CF968)],  # FNV-1a reference vectors
)
def test_fnv32a(data: bytes, expected: int) -> None:
    assert fnv32a(data) == expected


def test_safe_encode_string_maps_digits_like_upstream() -> None:
    # Decimal digits land on "456789bcdf", which is why real pod-template-hashes use only those.
    assert safe_encode_string("0123456789") == "456789bcdf"
    assert ALPHANUMS == "bcdfghjklmnpqrstvwxz2456789"


def _template(**labels: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "web", **labels}},
        "spec": {"containers": [{"name": "web", "image": "web:1"}]},
    }


def test_compute_hash_shape_and_determinism() -> None:
    h = compute_hash(_template())
    assert h == compute_hash(_template())
    assert 1 <= len(h) <= 10
    assert set(h) <= set("456789bcdf")


def test_compute_hash_ignores_hash_labels_and_does_not_mutate() -> None:
    tpl = _template(**{"pod-template-hash": "abc", "rollouts-pod-template-hash": "def"})
    before = copy.deepcopy(tpl)
    assert compute_hash(tpl) == compute_hash(_template())
    assert tpl == before


def test_compute_hash_changes_with_template_and_collision_count() -> None:
    base = compute_hash(_template())
    changed = _template()
    changed["spec"]["containers"][0]["image"] = "web:2"
    assert compute_hash(changed) != base
    assert compute_hash(_template(), 0) != base  # a nil count and a zero count differ, as upstream
    assert compute_hash(_template(), 1) != compute_hash(_template(), 0)
    assert compute_hash(_template(), 1) == compute_hash(_template(), 1)


def test_compute_hash_ignores_key_order_and_empty_members() -> None:
    a = {"spec": {"containers": [{"image": "x", "name": "web"}]}, "metadata": {"labels": {"app": "web"}}}
    b = {
        "metadata": {"labels": {"app": "web"}, "annotations": {}},
        "spec": {"containers": [{"name": "web", "image": "x"}]},
    }
    assert compute_hash(a) == compute_hash(b)
    assert compute_hash({"metadata": {"labels": {"pod-template-hash": "x"}}}) == compute_hash({})


def test_random_suffix() -> None:
    s = random_suffix(random.Random(7))
    assert len(s) == 5 and set(s) <= set(ALPHANUMS)
    assert s == random_suffix(random.Random(7))
    assert len(random_suffix(random.Random(1), 12)) == 12
    assert random_suffix(random.Random(1), 0) == ""


def test_templates_equal_ignoring_hash() -> None:
    assert templates_equal_ignoring_hash(_template(**{"pod-template-hash": "a"}), _template())
    assert templates_equal_ignoring_hash(
        _template(**{"pod-template-hash": "a"}), _template(**{"pod-template-hash": "b"})
    )
    assert not templates_equal_ignoring_hash(_template(tier="x"), _template())
    only_hash = {"metadata": {"labels": {"pod-template-hash": "a"}}}
    assert templates_equal_ignoring_hash(only_hash, {"metadata": {}})  # empty map == absent map
    assert templates_equal_ignoring_hash(None, {})


_labels = st.dictionaries(
    st.sampled_from(["app", "tier", "pod-template-hash", "rollouts-pod-template-hash"]),
    st.text(alphabet="abc", max_size=3),
    max_size=4,
)


@given(_labels, _labels)
def test_equal_templates_hash_equal(a: dict[str, str], b: dict[str, str]) -> None:
    ta, tb = _template(**a), _template(**b)
    if templates_equal_ignoring_hash(ta, tb):
        assert compute_hash(ta) == compute_hash(tb)
    else:
        assert {k: v for k, v in {"app": "web", **a}.items() if "hash" not in k} != {
            k: v for k, v in {"app": "web", **b}.items() if "hash" not in k
        }
