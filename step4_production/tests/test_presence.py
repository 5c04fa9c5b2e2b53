"""Who is here: a newcomer reads the room's roster in one user.list frame; each arrival and
departure is one event to the room; entries that their server stops refreshing expire."""

import asyncio

import pytest
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model

from chat.consumers import room_group_name
from chat.presence import channel_of, entry_text, presence_for
from tests.sockets import (
    TIMEOUT,
    close_all,
    frames_left,
    login_cookie,
    next_frame,
    open_socket,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_newcomer_gets_the_whole_roster_in_one_frame_and_each_member_one_event():
    """Alice and bob are in the room; carol arrives: one user.list for her, naming all three,
    and one user.joined for each of the others. Nothing more, whatever the room's size."""
    alice = await open_socket(username="alice")
    bob = await open_socket(username="bob")
    assert (await next_frame(alice, "user.joined"))["user"]["username"] == "bob"

    carol = await open_socket(username="carol")
    assert set(carol.users) == {"alice", "bob", "carol"}
    assert all(
        member.keys() == {"id", "username", "authenticated"} for member in carol.users.values()
    )
    assert await frames_left(carol) == []
    for member in (alice, bob):
        assert await frames_left(member) == [{"type": "user.joined", "user": carol.users["carol"]}]
    await close_all(alice, bob, carol)


async def test_arrivals_that_come_together_are_listed_together_and_announced_once(monkeypatch):
    """Bob, carol and dora come back at once (as after a restart): each one's user.list names
    all four, none of them is sent a user.joined for the others, and alice, already there,
    hears each of them, all from one event on the layer."""
    names = ("bob", "carol", "dora")
    alice = await open_socket(username="alice")
    layer = get_channel_layer()
    events = []
    group_send = layer.group_send

    async def counted(group, event):
        events.append(event["type"])
        await group_send(group, event)

    monkeypatch.setattr(layer, "group_send", counted)
    newcomers = await asyncio.gather(*(open_socket(username=name) for name in names))
    everyone = {"alice", *names}
    for newcomer in newcomers:
        assert set(newcomer.users) == everyone
        assert await frames_left(newcomer) == []
    heard = await frames_left(alice)
    assert [frame["type"] for frame in heard] == ["user.joined"] * len(names)
    assert {frame["user"]["username"] for frame in heard} == set(names)
    assert events == ["presence.join"]
    await close_all(alice, *newcomers)


async def test_arrivals_cut_short_leave_nothing_behind_for_the_next():
    """The gathering of a room's arrivals is cancelled (its event loop closing, as at the end
    of a test): the next arrival in that room is listed all the same."""
    presence = presence_for(get_channel_layer())
    member = {"id": "a", "username": "alice", "authenticated": False}
    waiting = asyncio.ensure_future(presence.join("chat_lobby", member, "alices-channel"))
    await asyncio.sleep(0)
    for task in presence.tasks:
        task.cancel()
    waiting.cancel()
    await asyncio.sleep(0)  # The cancelled tasks end.
    bob = {"id": "b", "username": "bob", "authenticated": False}
    async with asyncio.timeout(TIMEOUT):
        listed = await presence.join("chat_lobby", bob, "bobs-channel")
    assert bob in listed


async def test_join_and_leave_are_seen_by_the_others():
    """Bob comes and goes: alice sees him join, then leave, with the same member id."""
    alice = await open_socket(username="alice")
    assert set(alice.users) == {"alice"}
    bob = await open_socket(username="bob")

    joined = await next_frame(alice, "user.joined")
    assert (joined["user"]["username"], joined["user"]["authenticated"]) == ("bob", False)
    await bob.disconnect()
    left = await alice.receive_json_from(timeout=TIMEOUT)
    assert left == {"type": "user.left", "user": joined["user"]}
    assert await alice.receive_nothing()
    await alice.disconnect()


async def test_two_pages_with_one_name_are_two_members():
    """Two tabs of one person (two page keys) are two members: closing one leaves the other."""
    alice = await open_socket(username="alice", member="tab-1")
    second_tab = await open_socket(username="alice", member="tab-2")
    joined = await next_frame(alice, "user.joined")
    assert joined["user"]["id"] != alice.users["alice"]["id"]
    await second_tab.disconnect()
    left = await next_frame(alice, "user.left")
    assert left["user"]["id"] == joined["user"]["id"]
    await alice.disconnect()


async def test_a_page_that_reconnects_is_listed_once():
    """A page's new socket (same ?member= key) takes over its entry: the room sees it join again
    under the same id, and the old socket closing late does not remove it."""
    bob = await open_socket(username="bob")
    alice = await open_socket(username="alice", member="alices-page")
    first = (await next_frame(bob, "user.joined"))["user"]
    again = await open_socket(username="alice", member="alices-page")
    assert (await next_frame(bob, "user.joined"))["user"] == first
    assert [member["id"] for member in again.users.values()].count(first["id"]) == 1
    await alice.disconnect()  # The old socket's server notices the drop only now.
    assert await frames_left(bob) == []

    carol = await open_socket(username="carol")
    assert set(carol.users) == {"alice", "bob", "carol"}
    await again.disconnect()
    assert await next_frame(bob, "user.left") == {"type": "user.left", "user": first}
    await close_all(bob, carol)


async def test_the_room_sees_a_hash_of_the_page_key_never_the_key():
    """The id in the list cannot be used as a key to take over that member's entry."""
    alice = await open_socket(username="alice", member="secret-key")
    listed = alice.users["alice"]["id"]
    assert "secret-key" not in listed
    mallory = await open_socket(username="mallory", member=listed)
    assert mallory.users["mallory"]["id"] != listed
    assert mallory.users["alice"]["id"] == listed
    await close_all(alice, mallory)


async def test_a_logged_in_member_is_listed_under_their_username():
    """The URL's ?username= cannot rename a logged-in user in the list either."""
    user = await get_user_model().objects.acreate_user("alice", password="unused-password")
    bob = await open_socket(username="bob")
    alice = await open_socket(username="mallory", headers=[await login_cookie(user)])

    joined = (await next_frame(bob, "user.joined"))["user"]
    assert (joined["username"], joined["authenticated"]) == ("alice", True)
    assert set(alice.users) == {"alice", "bob"}
    await close_all(alice, bob)


async def test_a_guest_without_a_name_is_anonymous_until_its_first_good_message():
    """No ?username= (or one the chat refuses): listed as "anonymous", then renamed, same id,
    by its first good message."""
    bob = await open_socket(username="bob")
    for username in (None, "   ", "x" * 33):
        guest = await open_socket(username=username)
        assert "anonymous" in guest.users
        await next_frame(bob, "user.joined")
        await guest.disconnect()
        await next_frame(bob, "user.left")
    guest = await open_socket(username=None)
    listed = (await next_frame(bob, "user.joined"))["user"]
    await guest.send_json_to({"message": "hi", "username": "dora"})
    # The message is not held back while the list is told.
    assert (await next_frame(bob))["username"] == "dora"
    renamed = await next_frame(bob, "user.joined")
    assert renamed["user"] == {**listed, "username": "dora"}
    await close_all(bob, guest)


async def test_presence_stays_in_its_room():
    """Arrivals and departures in one room are not heard in another."""
    eve = await open_socket("elsewhere", username="eve")
    alice = await open_socket("lobby", username="alice")
    await alice.disconnect()
    assert await frames_left(eve) == []
    await eve.disconnect()


# Healing: entries expire unless their server refreshes them (CHAT_PRESENCE_TTL)


async def add_member_of_a_dead_server(room, username):
    """A roster entry and group member as a server leaves them when it dies without a word."""
    layer = get_channel_layer()
    member = {"id": f"ghost-{username}", "username": username, "authenticated": False}
    channel = await layer.new_channel()
    group = room_group_name(room)
    await layer.group_add(group, channel)
    roster = presence_for(layer).roster
    await roster.join(group, {member["id"]: entry_text(member, channel)}, 0.5)
    return member, channel


async def test_a_member_whose_server_died_leaves_the_list_and_the_group(settings):
    """Nobody refreshes the ghost's entry: it expires, the room is told it left (once), and its
    channel leaves the group, so group_send stops writing to it."""
    settings.CHAT_PRESENCE_TTL = 0.6
    ghost, channel = await add_member_of_a_dead_server("lobby", "ghost")
    alice = await open_socket(username="alice")
    bob = await open_socket(username="bob")
    assert set(alice.users) == {"alice", "ghost"}
    for member in (alice, bob):
        assert await next_frame(member, "user.left") == {"type": "user.left", "user": ghost}
    assert channel not in get_channel_layer().groups[room_group_name("lobby")]
    carol = await open_socket(username="carol")
    assert "ghost" not in carol.users
    # The live members are refreshed meanwhile: nobody else leaves.
    assert [frame["type"] for frame in await frames_left(alice, timeout=1)] == ["user.joined"]
    await close_all(alice, bob, carol)


async def test_a_member_swept_off_while_its_server_stalled_is_listed_again(settings):
    """If a live member's entry is gone (swept, or Redis restarted empty), its server adds it
    again at the next refresh and the room sees it join again."""
    settings.CHAT_PRESENCE_TTL = 0.6
    alice = await open_socket(username="alice")
    bob = await open_socket(username="bob")
    await next_frame(alice, "user.joined")
    layer = get_channel_layer()
    group = room_group_name("lobby")
    presence = presence_for(layer)
    entries = presence.roster.groups[group]
    del entries[bob.users["bob"]["id"]]
    # As after a Redis restart: the group lost bob's channel too.
    bob_channel = channel_of(presence.local[group][bob.users["bob"]["id"]])
    await layer.group_discard(group, bob_channel)
    async with asyncio.timeout(TIMEOUT):
        joined = await next_frame(alice, "user.joined")
    assert joined["user"] == bob.users["bob"]
    assert bob.users["bob"]["id"] in entries
    # Bob's channel is back in the group: he hears the room again.
    await alice.send_json_to({"message": "can you hear me?", "username": "alice"})
    assert (await next_frame(bob))["message"] == "can you hear me?"
    await close_all(alice, bob)


async def test_a_socket_that_closes_while_the_roster_is_unreachable_still_leaves(
    settings, monkeypatch
):
    """The roster refuses the leave (Redis down): its server stops refreshing the entry all the
    same, so the entry expires and the room is told the member left."""
    settings.CHAT_PRESENCE_TTL = 0.6
    alice = await open_socket(username="alice")
    bob = await open_socket(username="bob")
    await next_frame(alice, "user.joined")
    roster = presence_for(get_channel_layer()).roster
    leave = roster.leave

    async def unreachable(*args, **kwargs):
        raise ConnectionError("Redis is unreachable")

    monkeypatch.setattr(roster, "leave", unreachable)
    await bob.disconnect()
    monkeypatch.setattr(roster, "leave", leave)
    async with asyncio.timeout(TIMEOUT):
        left = await next_frame(alice, "user.left")
    assert left["user"]["username"] == "bob"
    await alice.disconnect()
