"""Decoding of the few protobuf request bodies kubectl sends (application/vnd.kubernetes.protobuf).

kubectl's typed clients POST some built-in kinds as protobuf (e.g. `kubectl auth can-i`
sends a SelfSubjectAccessReview that way) and accept JSON back. We decode only the kinds
listed in SCHEMAS, from their generated.proto field numbers; anything else gets 415, as a
server without that serializer would answer.
"""

from __future__ import annotations

from typing import Any

MAGIC = b"k8s\x00"

# message name -> {field number: (json name, type)}; type is "string", "bool", "int", "bytes", a message
# name, "map:<value type>" (proto3 map entries: key = 1, value = 2) or "[]<type>" (repeated)
SCHEMAS: dict[str, dict[int, tuple[str, str]]] = {
    "Unknown": {1: ("typeMeta", "TypeMeta"), 2: ("raw", "bytes"), 3: ("contentEncoding", "string"),
                4: ("contentType", "string")},
    "TypeMeta": {1: ("apiVersion", "string"), 2: ("kind", "string")},
    "ObjectMeta": {1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"),
                   11: ("labels", "map:string"), 12: ("annotations", "map:string"), 14: ("finalizers", "[]string")},
    # k8s.io/api/core/v1/generated.proto (what `kubectl create namespace|configmap` sends)
    "Namespace": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", "[]string")},
    "ConfigMap": {1: ("metadata", "ObjectMeta"), 2: ("data", "map:string"), 3: ("binaryData", "map:bytes64"),
                  4: ("immutable", "bool")},
    # k8s.io/api/authorization/v1/generated.proto
    "SelfSubjectAccessReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SelfSubjectAccessReviewSpec")},
    "SelfSubjectAccessReviewSpec": {1: ("resourceAttributes", "ResourceAttributes"),
                                    2: ("nonResourceAttributes", "NonResourceAttributes")},
    "ResourceAttributes": {1: ("namespace", "string"), 2: ("verb", "string"), 3: ("group", "string"),
                           4: ("version", "string"), 5: ("resource", "string"), 6: ("subresource", "string"),
                           7: ("name", "string")},
    "NonResourceAttributes": {1: ("path", "string"), 2: ("verb", "string")},
}
KINDS = {"SelfSubjectAccessReview", "Namespace", "ConfigMap"}


class ProtobufError(ValueError):
    pass


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(buf):
            raise ProtobufError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def decode_message(buf: bytes, schema: str) -> dict[str, Any]:
    fields = SCHEMAS[schema]
    out: dict[str, Any] = {}
    i = 0
    while i < len(buf):
        tag, i = _varint(buf, i)
        num, wire = tag >> 3, tag & 7
        if wire == 0:
            value, i = _varint(buf, i)
            payload: Any = value
        elif wire == 2:
            length, i = _varint(buf, i)
            payload = buf[i:i + length]
            if len(payload) != length:
                raise ProtobufError("truncated field")
            i += length
        elif wire == 1:
            payload, i = buf[i:i + 8], i + 8
        elif wire == 5:
            payload, i = buf[i:i + 4], i + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        if num not in fields:
            continue
        name, typ = fields[num]
        if typ.startswith("map:"):
            entry = _map_entry(payload, typ[4:])
            out.setdefault(name, {})[entry[0]] = entry[1]
        elif typ.startswith("[]"):
            out.setdefault(name, []).append(_scalar(payload, typ[2:]))
        elif typ == "string":
            out[name] = payload.decode()
        elif typ == "bytes":
            out[name] = payload
        elif typ == "bool":
            out[name] = bool(payload)
        elif typ == "int":
            out[name] = payload
        elif typ == "bytes64":
            out[name] = _scalar(payload, typ)
        else:
            out[name] = decode_message(payload, typ)
    return out


def _scalar(payload: Any, typ: str) -> Any:
    if typ == "string":
        return payload.decode()
    if typ == "bytes64":
        import base64

        return base64.b64encode(payload).decode()
    if typ in SCHEMAS:
        return decode_message(payload, typ)
    return payload


def _map_entry(payload: bytes, value_type: str) -> tuple[str, Any]:
    SCHEMAS.setdefault("_Entry:" + value_type, {1: ("key", "string"), 2: ("value", value_type)})
    entry = decode_message(payload, "_Entry:" + value_type)
    value = entry.get("value", "" if value_type == "string" else None)
    return entry.get("key", ""), value


def decode_object(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded object of a supported kind."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing protobuf envelope")
    unknown = decode_message(body[len(MAGIC):], "Unknown")
    type_meta = unknown.get("typeMeta", {})
    kind = type_meta.get("kind", "")
    if kind not in KINDS:
        raise ProtobufError(f"protobuf bodies of kind {kind!r} are not supported by this server")
    obj = decode_message(unknown.get("raw", b""), kind)
    return {"apiVersion": type_meta.get("apiVersion", ""), "kind": kind, **obj}
