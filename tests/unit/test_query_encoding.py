"""The query string every stack sends: urllib's quote(value, safe="") byte for byte, and a
lazily merged header mapping that reads as the eager one."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from wawp_gateway.wawp.transports.base import MergedHeaders, merge_headers, query_string

# Lone surrogates cannot be encoded by either (the intake refuses them first).
_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))


@given(st.lists(st.tuples(_TEXT, _TEXT), max_size=5))
def test_every_pair_is_quoted_as_urllib_does(pairs: list[tuple[str, str]]) -> None:
    expected = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    assert query_string(tuple(pairs)) == expected


def test_reserved_characters_and_spaces_are_escaped() -> None:
    assert query_string((("chatId", "447441429009@c.us"), ("message", "a+b c/d?é"))) == (
        "chatId=447441429009%40c.us&message=a%2Bb%20c%2Fd%3F%C3%A9"
    )


@given(st.lists(st.tuples(st.sampled_from(["A", "a", "B", "X-Multi", "x-multi"]), _TEXT)))
def test_merged_headers_read_as_the_eager_merge(items: list[tuple[str, str]]) -> None:
    lazy = MergedHeaders(items)
    assert dict(lazy) == merge_headers(items)
    assert len(lazy) == len(merge_headers(items))
