"""Label and field selectors against apimachinery's labels/selector.go and fields/selector.go."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from almtui.kube.selectors import (
    EVERYTHING,
    NOTHING,
    FieldRequirement,
    LabelSelector,
    Requirement,
    SelectorError,
    field_value,
    from_label_selector_object,
    label_selector_to_string,
    parse_field_selector,
    parse_label_selector,
    selector_from_set,
)

# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("a=b", "a=b"),
        ("a==b", "a==b"),
        ("a!=b", "a!=b"),
        ("a in (x,y)", "a in (x,y)"),
        ("a in (y,x,y)", "a in (x,y)"),  # values are a sorted set
        ("a notin (b)", "a notin (b)"),
        ("a", "a"),
        ("!a", "!a"),
        ("a>1", "a>1"),
        ("a<10", "a<10"),
        ("  b = 1 ,\ta in ( y , x )  ", "a in (x,y),b=1"),  # whitespace tolerant, sorted by key
        ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),  # upstream's own example
        ("a=", "a="),  # the empty value is valid
        ("in in (in,notin)", "in in (in,notin)"),  # keywords are identifiers where values go
        ("example.com/app=web", "example.com/app=web"),
        ("app.kubernetes.io/name=web,tier notin (db)", "app.kubernetes.io/name=web,tier notin (db)"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_parse_canonical_string(text: str, canonical: str) -> None:
    assert str(parse_label_selector(text)) == canonical


def test_parse_structure() -> None:
    sel = parse_label_selector("tier in (b,a),app=web,!legacy,gen>3")
    assert sel.requirements == (
        Requirement("app", "=", ("web",)),
        Requirement("gen", "gt", ("3",)),
        Requirement("legacy", "!", ()),
        Requirement("tier", "in", ("a", "b")),
    )


def test_none_and_empty_select_everything() -> None:
    assert parse_label_selector(None) == EVERYTHING
    assert parse_label_selector("").empty
    assert parse_label_selector("").matches({"a": "b"})
    assert not parse_label_selector("a").empty


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a=b,", "found '', expected: identifier after ','"),
        (",a", "found ',', expected: !, identifier, or 'end of string'"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("x in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'"),
        ("x in a", "unable to parse requirement: found 'a' expected: '('"),
        ("!", "unable to parse requirement: found '', expected: identifier"),
        (
            "k>abc",
            'unable to parse requirement: values[0]: Invalid value: "abc": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as exc:
        parse_label_selector(text)
    assert str(exc.value) == message


def test_invalid_key_message_matches_upstream() -> None:
    with pytest.raises(SelectorError) as exc:
        parse_label_selector("-bad=x")
    assert str(exc.value) == (
        'unable to parse requirement: <nil>: Invalid value: "-bad": name part must consist of alphanumeric '
        "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
        "(e.g. 'MyName',  or 'my.name',  or '123-abc', "
        "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    )


@pytest.mark.parametrize(
    "text",
    [
        "a/b/c=x",
        "/a=x",
        "Example.com/a=x",
        "a" * 64 + "=x",
        "k=-v",
        "k=" + "v" * 64,
        "k in (ok,-bad)",
        "k>-1",
    ],
)
def test_invalid_keys_and_values(text: str) -> None:
    with pytest.raises(SelectorError, match=r"^unable to parse requirement: "):
        parse_label_selector(text)


def test_selector_error_is_value_error() -> None:
    assert issubclass(SelectorError, ValueError)


# --------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("app=web", {"app": "web"}, True),
        ("app=web", {"app": "db"}, False),
        ("app=web", {}, False),
        ("app==web", {"app": "web"}, True),
        ("app!=web", {"app": "db"}, True),
        ("app!=web", {}, True),  # != matches objects lacking the key
        ("app!=web", {"app": "web"}, False),
        ("app in (a,b)", {"app": "b"}, True),
        ("app in (a,b)", {}, False),
        ("app notin (a,b)", {}, True),  # notin too
        ("app notin (a,b)", {"app": "a"}, False),
        ("app", {"app": ""}, True),
        ("app", {}, False),
        ("!app", {}, True),
        ("!app", {"app": "x"}, False),
        ("gen>3", {"gen": "4"}, True),
        ("gen>3", {"gen": "3"}, False),
        ("gen>3", {"gen": "x"}, False),  # non-integer label values never match
        ("gen>3", {}, False),
        ("gen<3", {"gen": "-7"}, True),
        ("gen<3", {"gen": "3.0"}, False),
        ("a=1,b=2", {"a": "1", "b": "2"}, True),
        ("a=1,b=2", {"a": "1"}, False),
        ("a=", {"a": ""}, True),
    ],
)
def test_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_label_selector(text).matches(labels) is expected


def test_matches_none_labels() -> None:
    assert parse_label_selector("!a").matches(None)
    assert not parse_label_selector("a").matches(None)


def test_nothing() -> None:
    assert not NOTHING.matches({})
    assert not NOTHING.matches({"a": "b"})
    assert not NOTHING.empty
    assert str(NOTHING) == ""


def test_requires_exact_match() -> None:
    sel = parse_label_selector("app=web,tier in (a),x in (a,b)")
    assert sel.requires_exact_match("app") == "web"
    assert sel.requires_exact_match("tier") == "a"
    assert sel.requires_exact_match("x") is None
    assert sel.requires_exact_match("nope") is None


def test_selector_from_set() -> None:
    sel = selector_from_set({"b": "2", "a": "1"})
    assert str(sel) == "a=1,b=2"
    assert sel.matches({"a": "1", "b": "2", "c": "3"})
    assert selector_from_set({}).empty
    assert selector_from_set(None).empty


# --------------------------------------------------------------------------- metav1.LabelSelector


def test_from_object_none_is_nothing_and_empty_is_everything() -> None:
    assert from_label_selector_object(None) is NOTHING
    assert from_label_selector_object({}).empty
    assert from_label_selector_object({"matchLabels": {}, "matchExpressions": []}).matches({"x": "y"})


def test_from_object_all_operators() -> None:
    sel = from_label_selector_object(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["b", "a"]},
                {"key": "env", "operator": "NotIn", "values": ["prod"]},
                {"key": "team", "operator": "Exists"},
                {"key": "legacy", "operator": "DoesNotExist"},
            ],
        }
    )
    assert str(sel) == "app=web,env notin (prod),!legacy,team,tier in (a,b)"
    assert sel.matches({"app": "web", "tier": "a", "team": "x"})
    assert not sel.matches({"app": "web", "tier": "a", "team": "x", "legacy": "1"})
    assert not sel.matches({"app": "web", "tier": "a", "team": "x", "env": "prod"})


def test_from_object_errors() -> None:
    with pytest.raises(SelectorError, match=r'^"Gt" is not a valid label selector operator$'):
        from_label_selector_object({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})
    with pytest.raises(SelectorError, match="values set can't be empty"):
        from_label_selector_object({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})
    with pytest.raises(SelectorError, match="values set must be empty for exists"):
        from_label_selector_object(
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}
        )
    with pytest.raises(SelectorError, match=r"^key: Invalid value: \"bad key\""):
        from_label_selector_object({"matchLabels": {"bad key": "x"}})
    with pytest.raises(SelectorError, match=r"^values\[0\]\[app\]: Invalid value: \"no good\""):
        from_label_selector_object({"matchLabels": {"app": "no good"}})


@pytest.mark.parametrize(
    "bad",
    [
        {"matchLabels": {"app": 1}},
        {"matchLabels": ["app"]},
        {"matchExpressions": [1]},
        {"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]},
        "app=web",
    ],
)
def test_from_object_rejects_malformed_shapes(bad: object) -> None:
    with pytest.raises(SelectorError):
        from_label_selector_object(bad)  # type: ignore[arg-type]


def test_label_selector_to_string() -> None:
    assert label_selector_to_string({"matchLabels": {"app": "web"}}) == "app=web"
    assert (
        label_selector_to_string(
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}],
            }
        )
        == "app=web,tier in (a,b)"
    )
    assert label_selector_to_string(None) == ""
    assert label_selector_to_string({}) == ""


# --------------------------------------------------------------------------- round trips

_alnum = st.sampled_from("abcxyzAZ019")
_lower = st.sampled_from("abcxyz019")


def _edged(edge: st.SearchStrategy[str], middle: str) -> st.SearchStrategy[str]:
    """Strings that start and end with ``edge`` characters, with ``middle`` characters between."""
    inner = st.text(alphabet=middle, max_size=6)
    return st.one_of(edge, st.builds(lambda a, m, b: a + m + b, edge, inner, edge))


_key_name = _edged(_alnum, "abcAZ09._-")
_prefix = st.lists(_edged(_lower, "abc09-"), min_size=1, max_size=3).map(".".join)
_keys = st.one_of(_key_name, st.builds(lambda p, n: f"{p}/{n}", _prefix, _key_name))
_values = st.one_of(st.just(""), _edged(_alnum, "abcAZ09._-"))
_ints = st.integers(-(10**6), 10**6).map(str).filter(lambda s: not s.startswith("-"))


@st.composite
def _requirement_text(draw: st.DrawFn) -> str:
    key = draw(_keys)
    kind = draw(st.sampled_from(["=", "==", "!=", "in", "notin", "exists", "!", ">", "<"]))
    if kind in ("in", "notin"):
        return f"{key} {kind} ({','.join(draw(st.lists(_values, min_size=1, max_size=4)))})"
    if kind == "exists":
        return key
    if kind == "!":
        return "!" + key
    if kind in (">", "<"):
        return f"{key}{kind}{draw(_ints)}"
    return f"{key}{kind}{draw(_values)}"


_selector_text = st.lists(_requirement_text(), max_size=5).map(",".join)
_label_sets = st.dictionaries(_keys, _values, max_size=5)


@given(_selector_text)
def test_string_round_trip(text: str) -> None:
    sel = parse_label_selector(text)
    again = parse_label_selector(str(sel))
    assert again == sel
    assert str(again) == str(sel)


@given(_selector_text, _label_sets)
def test_round_trip_preserves_matching(text: str, labels: dict[str, str]) -> None:
    sel = parse_label_selector(text)
    assert parse_label_selector(str(sel)).matches(labels) == sel.matches(labels)


@given(_label_sets)
def test_set_selector_matches_its_own_set(labels: dict[str, str]) -> None:
    assert selector_from_set(labels).matches(labels)
    assert parse_label_selector(str(selector_from_set(labels))).matches(labels)


# --------------------------------------------------------------------------- field selectors


def test_field_selector_parse_and_match() -> None:
    sel = parse_field_selector("metadata.name=web,status.phase!=Running")
    assert sel.requirements == (
        FieldRequirement("metadata.name", "=", "web"),
        FieldRequirement("status.phase", "!=", "Running"),
    )
    assert sel.fields == {"metadata.name", "status.phase"}
    assert sel.matches({"metadata": {"name": "web"}, "status": {"phase": "Pending"}})
    assert not sel.matches({"metadata": {"name": "web"}, "status": {"phase": "Running"}})
    assert not sel.matches({"metadata": {"name": "db"}})


def test_field_selector_forms() -> None:
    assert parse_field_selector("a==b").requirements == (FieldRequirement("a", "==", "b"),)
    assert str(parse_field_selector("a==b")) == "a=b"  # upstream prints == as =
    assert str(parse_field_selector("z=1,a=2")) == "a=2,z=1"  # terms are sorted
    assert parse_field_selector("").empty
    assert parse_field_selector(None).matches({})
    assert parse_field_selector("a=b,,c=d").fields == {"a", "c"}  # empty terms are skipped
    assert parse_field_selector("spec.nodeName=").matches({"spec": {}})  # absent reads as ""
    assert not parse_field_selector("spec.nodeName!=").matches({"spec": {}})


def test_field_selector_escapes() -> None:
    sel = parse_field_selector(r"metadata.name=a\,b\=c\\d,x=y")
    assert sel.requirements[0] == FieldRequirement("metadata.name", "=", "a,b=c\\d")
    assert str(sel) == r"metadata.name=a\,b\=c\\d,x=y"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo", "invalid selector: 'foo'; can't understand 'foo'"),
        ("a=b=c", "invalid field selector: unescaped character in value: 61"),
        (r"a=b\x", r"invalid field selector: invalid escape sequence: \x"),
        ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_field_selector_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as exc:
        parse_field_selector(text)
    assert str(exc.value) == message


@given(
    st.lists(
        st.tuples(
            st.lists(st.text(alphabet="abcXY", min_size=1, max_size=4), min_size=1, max_size=3).map(".".join),
            st.sampled_from(["=", "!="]),
            st.text(alphabet="ab,=\\ x.-", max_size=6),
        ),
        max_size=4,
    )
)
def test_field_selector_round_trip(terms: list[tuple[str, str, str]]) -> None:
    sel = parse_field_selector(",".join(str(FieldRequirement(f, op, v)) for f, op, v in terms))
    assert parse_field_selector(str(sel)) == sel
    assert sorted((r.field, r.operator, r.value) for r in sel.requirements) == sorted(terms)


def test_field_value_renders_like_go() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"nodeName": "n1", "hostNetwork": True, "priority": 5, "ratio": 2.0},
        "involvedObject": {"kind": "Pod"},
    }
    assert field_value(pod, "metadata.name") == "p"
    assert field_value(pod, "spec.hostNetwork") == "true"
    assert field_value(pod, "spec.priority") == "5"
    assert field_value(pod, "spec.ratio") == "2"
    assert field_value(pod, "involvedObject.kind") == "Pod"
    assert field_value(pod, "status.phase") is None
    assert field_value(pod, "spec") is None  # not a scalar
    assert field_value(None, "metadata.name") is None
    assert parse_field_selector("spec.hostNetwork=true").matches(pod)


def test_label_selector_is_hashable_value() -> None:
    assert hash(parse_label_selector("a=b")) == hash(parse_label_selector("a = b"))
    assert isinstance(EVERYTHING, LabelSelector)
