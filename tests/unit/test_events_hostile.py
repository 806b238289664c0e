"""Malformed and unknown events never crash the conversion from nio's events (issue #14.2)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from nio import Event

from bot.ids import RoomID
from bot.matrix.events import IncomingMessage, convert, recorded

ROOM = RoomID("!room:example.org")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=10,
)
event_types = st.sampled_from(
    ["m.room.message", "m.reaction", "m.room.member", "m.room.encrypted", "m.sticker", "org.example.odd", ""]
)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    content = draw(
        st.one_of(
            st.dictionaries(
                st.sampled_from(
                    ["msgtype", "body", "url", "m.relates_to", "membership", "file", "info", "x"]
                ),
                json_values,
                max_size=5,
            ),
            json_values,
        )
    )
    # The homeserver sets event ID, sender and timestamp; the sender writes type and content.
    event: dict[str, Any] = {
        "type": draw(event_types),
        "event_id": "$e1",
        "sender": "@a:example.org",
        "origin_server_ts": draw(st.integers(min_value=0, max_value=2**53)),
        "content": content,
    }
    if draw(st.booleans()):
        event["state_key"] = draw(st.sampled_from(["", "@a:example.org", 3]))
    return event


@settings(max_examples=400, deadline=None)
@given(events())
def test_no_event_crashes_the_conversion(source: dict[str, Any]) -> None:
    parsed = Event.parse_event(source)
    value = convert(ROOM, parsed)
    recorded(parsed)
    if isinstance(value, IncomingMessage):
        assert isinstance(value.body, str)


def test_an_edit_is_marked_and_a_reply_is_not() -> None:
    base = {"type": "m.room.message", "event_id": "$e", "sender": "@a:example.org", "origin_server_ts": 1}
    edit = Event.parse_event(
        {
            **base,
            "content": {
                "msgtype": "m.text",
                "body": "* ja",
                "m.new_content": {"msgtype": "m.text", "body": "ja"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": "$old"},
            },
        }
    )
    reply = Event.parse_event(
        {
            **base,
            "content": {
                "msgtype": "m.text",
                "body": "ja",
                "m.relates_to": {"m.in_reply_to": {"event_id": "$q"}},
            },
        }
    )
    edited, replied = convert(ROOM, edit), convert(ROOM, reply)
    assert isinstance(edited, IncomingMessage) and edited.edit
    assert isinstance(replied, IncomingMessage) and not replied.edit
