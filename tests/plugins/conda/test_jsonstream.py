"""The streaming reader of repodata: what it yields is what ``json.loads`` reads.

Chunks are shrunk to a few bytes so that every member, key and separator lands on a chunk
boundary somewhere; the reader must then give exactly the members of the named top-level
objects, see every byte, and refuse what is not JSON.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirrorkit.plugins.conda import jsonstream
from mirrorkit.plugins.conda.jsonstream import JSONStreamError, object_members

WANTED = {"packages", "packages.conda"}

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
documents = st.dictionaries(
    st.sampled_from(["info", "packages", "packages.conda", "removed", "repodata_version"])
    | st.text(max_size=6),
    st.dictionaries(st.text(max_size=12), values, max_size=6) | values, max_size=6)


def expected(doc: dict[str, Any]) -> list[tuple[str, str, Any]]:
    return [(key, member, value) for key, section in doc.items()
            if key in WANTED and isinstance(section, dict) for member, value in section.items()]


@settings(max_examples=300, deadline=None)
@given(doc=documents, chunk=st.integers(1, 40), indent=st.sampled_from([None, 0, 2]),
       ascii_only=st.booleans())
def test_members_are_what_json_reads(doc: dict[str, Any], chunk: int, indent: int | None,
                                     ascii_only: bool) -> None:
    data = json.dumps(doc, indent=indent, ensure_ascii=ascii_only).encode()
    seen = bytearray()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(jsonstream, "_CHUNK", chunk)
        got = list(object_members(io.BytesIO(data), WANTED, seen.extend))
    assert got == expected(json.loads(data))
    assert bytes(seen) == data


@pytest.mark.parametrize("text", [
    b"", b"[]", b"{", b'{"packages": {"a": 1,}}', b'{"packages": {"a" 1}}',
    b'{"packages": {"a": {"size": 1}', b'{"a": 1} trailing', b'{"packages": {"\xff": 1}}',
])
def test_malformed_text_is_refused(text: bytes) -> None:
    with pytest.raises(ValueError):  # JSONStreamError, or UnicodeDecodeError
        list(object_members(io.BytesIO(text), WANTED))


def test_error_names_the_position() -> None:
    with pytest.raises(JSONStreamError, match="expected ':' at character 18"):
        list(object_members(io.BytesIO(b'{"packages": {"a" 1}}'), WANTED))
