"""The in-memory layer behind the chat (chat/layers.py): Channels' InMemoryChannelLayer, with the
same deliveries and less work per member."""

import asyncio

import channels.layers
import pytest

from chat.layers import FanOutInMemoryChannelLayer


@pytest.fixture
def layer():
    return FanOutInMemoryChannelLayer(capacity=3)


async def members(layer, count, group="chat_lobby"):
    channels = [await layer.new_channel() for _ in range(count)]
    for channel in channels:
        await layer.group_add(group, channel)
    return channels


async def test_every_member_gets_its_own_copy_of_a_chat_event(layer, monkeypatch):
    """A chat message's event (a type, a number, the frame's text) reaches every member, each as
    a dict of its own, without Channels' deep copy per member."""
    deep_copies = []
    monkeypatch.setattr(channels.layers, "deepcopy", lambda value: deep_copies.append(value))
    first, second = await members(layer, 2)
    event = {"type": "chat.message", "sequence": 1, "text": '{"message": "hi"}'}

    await layer.group_send("chat_lobby", event)

    received = [await layer.receive(first), await layer.receive(second)]
    assert received == [event, event]
    received[0]["sequence"] = 99  # A handler changing its copy changes nobody else's.
    assert received[1]["sequence"] == 1 and event["sequence"] == 1
    assert deep_copies == []


async def test_a_presence_event_of_tuples_is_not_deep_copied(layer, monkeypatch):
    """The arrivals' event holds tuples of strings, which no handler can change: no deep copy."""
    deep_copies = []
    monkeypatch.setattr(channels.layers, "deepcopy", lambda value: deep_copies.append(value))
    first, second = await members(layer, 2)
    event = {"type": "presence.join", "member_ids": ("a", "b"), "texts": ("{}", "{}")}

    await layer.group_send("chat_lobby", event)

    assert [await layer.receive(first), await layer.receive(second)] == [event, event]
    assert deep_copies == []


async def test_an_event_for_a_member_waiting_on_its_queue_makes_no_new_queue(layer, monkeypatch):
    """A member reading its channel has a queue: group_send puts the event there and builds no
    queue to throw away, as Channels' layer does for every member of every event."""
    (waiting,) = await members(layer, 1)
    receiving = asyncio.ensure_future(layer.receive(waiting))
    await asyncio.sleep(0)
    made = []

    class Counted(asyncio.Queue):
        def __init__(self, *args, **kwargs):
            made.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(asyncio, "Queue", Counted)
    await layer.group_send("chat_lobby", {"type": "chat.message", "sequence": 1, "text": ""})
    assert (await receiving)["sequence"] == 1
    assert made == []


async def test_an_event_holding_a_dict_is_deep_copied_for_each_member(layer):
    """An event holding a dict (a member, as nested presence events did): each channel gets a
    deep copy, as from Channels' own layer."""
    first, second = await members(layer, 2)
    event = {"type": "presence.join", "member": {"id": "a", "username": "alice"}}

    await layer.group_send("chat_lobby", event)

    mine, theirs = await layer.receive(first), await layer.receive(second)
    mine["member"]["username"] = "mallory"
    assert theirs["member"]["username"] == "alice" == event["member"]["username"]


async def test_a_full_channel_misses_the_event_and_the_others_still_get_it(layer):
    """As in Channels: group_send drops silently for a member whose channel holds `capacity`
    messages already, and delivers to the rest."""
    full, other = await members(layer, 2)
    for number in range(3):
        await layer.send(full, {"type": "chat.message", "sequence": number, "text": ""})

    await layer.group_send("chat_lobby", {"type": "chat.message", "sequence": 7, "text": ""})

    assert [(await layer.receive(full))["sequence"] for _ in range(3)] == [0, 1, 2]
    assert (await layer.receive(other))["sequence"] == 7
    assert layer.channels.get(full) is None  # Nothing more was queued for it.


async def test_expired_messages_are_still_cleaned_within_a_second(layer, monkeypatch):
    """A message nobody read for `expiry` seconds is dropped and its channel leaves the groups,
    as in Channels; the layer looks for them at most once a second."""
    layer.expiry = 0
    (gone,) = await members(layer, 1)
    layer._clean_expired()  # Looks now, then not again for a second.
    await layer.send(gone, {"type": "chat.message", "sequence": 1, "text": ""})
    layer._clean_expired()
    assert gone in layer.groups["chat_lobby"]

    clock = layer.next_cleaning + 0.1
    monkeypatch.setattr("chat.layers.time.monotonic", lambda: clock)
    layer._clean_expired()

    assert "chat_lobby" not in layer.groups or gone not in layer.groups["chat_lobby"]
    assert gone not in layer.channels
