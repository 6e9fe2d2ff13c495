"""Pod-template hashes and generated names.

Sources: ``kubernetes/pkg/controller/controller_utils.go`` (``ComputeHash``),
``pkg/controller/deployment/util/deployment_util.go`` (``EqualIgnoreHash``) and
``apimachinery/pkg/util/rand/rand.go`` (``SafeEncodeString``, ``String``).

Upstream hashes Go's spew dump of the typed template, which Python cannot reproduce. We hash a
canonical JSON text instead, so names differ from a real cluster's but keep every property that
matters: deterministic, FNV-32a, the same alphabet, and equal templates (per
:func:`templates_equal_ignoring_hash`) hash equally.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ALPHANUMS",
    "HASH_LABELS",
    "compute_hash",
    "fnv32a",
    "random_suffix",
    "safe_encode_string",
    "templates_equal_ignoring_hash",
]

#: rand.String's alphabet: no vowels, so generated names spell no words.
ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
#: Labels that carry a hash and so are left out of hashing and comparison.
HASH_LABELS = ("pod-template-hash", "rollouts-pod-template-hash")

_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193


def fnv32a(data: bytes) -> int:
    """FNV-1a, 32 bits (Go's ``hash/fnv`` ``New32a``)."""
    h = _FNV32_OFFSET
    for b in data:
        h = ((h ^ b) * _FNV32_PRIME) & 0xFFFFFFFF
    return h


def safe_encode_string(s: str) -> str:
    """rand.SafeEncodeString: each character's code point modulo 27 picks a letter of :data:`ALPHANUMS`."""
    return "".join(ALPHANUMS[ord(c) % len(ALPHANUMS)] for c in s)


def _normalized(value: Any) -> Any:
    """Drops null, {} and [] members, bottom-up.

    Go's semantic equality treats nil and empty maps/slices alike, and an all-empty struct (such as
    ``metadata`` once the hash label is gone) equals an absent one. A JSON dict cannot tell a struct
    from a pointer to one, so ``securityContext: {}`` also counts as absent here.
    """
    if isinstance(value, Mapping):
        out = {k: _normalized(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    return value


def _without_hash_labels(template: Mapping[str, Any] | None) -> Any:
    """A normalized copy of ``template`` without :data:`HASH_LABELS` (the input is left untouched)."""
    template = dict(template or {})
    meta = template.get("metadata")
    if isinstance(meta, Mapping) and isinstance(meta.get("labels"), Mapping):
        labels = {k: v for k, v in meta["labels"].items() if k not in HASH_LABELS}
        template["metadata"] = {**meta, "labels": labels}
    return _normalized(template)


def compute_hash(template: Mapping[str, Any], collision_count: int | None = None) -> str:
    """ComputeHash: FNV-32a of the canonical template, plus the collision count when set."""
    text = json.dumps(_without_hash_labels(template), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)
    data = text.encode()
    if collision_count is not None:
        # binary.LittleEndian.PutUint32 into an 8-byte buffer: the last four bytes stay zero.
        data += (collision_count & 0xFFFFFFFF).to_bytes(4, "little") + bytes(4)
    return safe_encode_string(str(fnv32a(data)))


def random_suffix(rng: random.Random, n: int = 5) -> str:
    """rand.String(n) as used for ``generateName``: ``n`` letters of :data:`ALPHANUMS`."""
    return "".join(rng.choice(ALPHANUMS) for _ in range(n))


def templates_equal_ignoring_hash(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """EqualIgnoreHash: pod templates equal apart from their hash labels (empty ≡ absent)."""
    return bool(_without_hash_labels(a) == _without_hash_labels(b))
