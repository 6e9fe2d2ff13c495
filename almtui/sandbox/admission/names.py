"""Name, label, key and port syntax (pkg/util/validation, apimachinery name validation), with upstream's messages."""

from __future__ import annotations

import re
from collections.abc import Callable


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    """validation.RegexError (including upstream's doubled space before "or")."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"


_DNS1123_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                      "and must start and end with an alphanumeric character")


_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"


_DNS1123_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                          "characters, '-' or '.', and must start and end with an alphanumeric character")


_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"


_DNS1035_LABEL_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
                      "with an alphabetic character, and end with an alphanumeric character")


_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"


_QNAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
              "alphanumeric character")


_LABEL_VALUE_FMT = f"({_QNAME_FMT})?"


_LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
                    "or '.', and must start and end with an alphanumeric character")


_PERCENT_FMT = "[0-9]+%"


_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"


_CONFIG_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"


_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL_FMT)


_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)


_DNS1035_LABEL_RE = re.compile(_DNS1035_LABEL_FMT)


_QNAME_RE = re.compile(_QNAME_FMT)


_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)


_PERCENT_RE = re.compile(_PERCENT_FMT)


_CONFIG_KEY_RE = re.compile(_CONFIG_KEY_FMT)


_PORT_NAME_CHARS_RE = re.compile("[-a-z0-9]+")


def dns1123_label(v: str) -> list[str]:
    errs = [_max_len(63)] if len(v) > 63 else []
    if not _DNS1123_LABEL_RE.fullmatch(v):
        if _DNS1123_SUBDOMAIN_RE.fullmatch(v):
            errs.append("must not contain dots")
        else:
            errs.append(_regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def dns1123_subdomain(v: str) -> list[str]:
    errs = [_max_len(253)] if len(v) > 253 else []
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(v):
        errs.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def dns1035_label(v: str) -> list[str]:
    errs = [_max_len(63)] if len(v) > 63 else []
    if not _DNS1035_LABEL_RE.fullmatch(v):
        errs.append(_regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def qualified_name(v: str) -> list[str]:
    """validation.IsQualifiedName: label keys, annotation keys, finalizers."""
    errs: list[str] = []
    parts = v.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in dns1123_subdomain(prefix))
    else:
        return ["a qualified name " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + _max_len(63))
    if not _QNAME_RE.fullmatch(name):
        errs.append("name part " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def label_value(v: str) -> list[str]:
    errs = [_max_len(63)] if len(v) > 63 else []
    if not _LABEL_VALUE_RE.fullmatch(v):
        errs.append(_regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def _chdir_prefix(v: str) -> list[str]:
    if v == ".":
        return ["must not be '.'"]
    if v == "..":
        return ["must not be '..'"]
    if v.startswith(".."):
        return ["must not start with '..'"]
    return []


def config_map_key(v: str) -> list[str]:
    errs = [_max_len(253)] if len(v) > 253 else []
    if not _CONFIG_KEY_RE.fullmatch(v):
        errs.append(_regex_error(_CONFIG_KEY_MSG, _CONFIG_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    return errs + _chdir_prefix(v)


def port_name(v: str) -> list[str]:
    errs = [_max_len(15)] if len(v) > 15 else []
    if not _PORT_NAME_CHARS_RE.fullmatch(v):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", v):
        errs.append("must contain at least one letter (a-z)")
    if "--" in v:
        errs.append("must not contain consecutive hyphens")
    if v and (v[0] == "-" or v[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def port_num(n: int) -> list[str]:
    return [] if 1 <= n <= 65535 else ["must be between 1 and 65535, inclusive"]


def path_segment_name(v: str) -> list[str]:
    """path.IsValidPathSegmentName: names used in REST paths (scaleTargetRef, metric names)."""
    if v in (".", ".."):
        return [f"may not be '{v}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in v]


def _mask_trailing_dash(name: str) -> str:
    return name[:-2] + "a" if len(name) > 1 and name.endswith("-") else name


NameFn = Callable[[str, bool], list[str]]


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    return dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    return dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool) -> list[str]:
    return dns1035_label(_mask_trailing_dash(name) if prefix else name)
