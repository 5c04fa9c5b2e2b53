"""Who is here: arrivals and departures travel over the room's group, and a newcomer is told
who was already there by each member, with channel_layer.send to the newcomer's channel."""

import pytest
from django.contrib.auth import get_user_model

from tests.sockets import TIMEOUT, close_all, frames_left, login_cookie, next_frame, open_socket

pytestmark = pytest.mark.django_db(transaction=True)


async def members_seen(communicator, count):
    """The next `count` user.joined frames' members, by username."""
    members = [(await next_frame(communicator, "user.joined"))["user"] for _ in range(count)]
    return {member["username"]: member for member in members}


async def test_a_newcomer_learns_who_was_already_there():
    """Alice and bob are in the room; carol arrives and is told about herself, alice and bob."""
    alice = await open_socket(username="alice")
    await members_seen(alice, 1)
    bob = await open_socket(username="bob")
    await members_seen(bob, 2)

    carol = await open_socket(username="carol")
    seen = await members_seen(carol, 3)
    assert set(seen) == {"alice", "bob", "carol"}
    assert all(member.keys() == {"id", "username", "authenticated"} for member in seen.values())
    # Each member answered once: nothing more for carol.
    assert await frames_left(carol) == []
    await close_all(alice, bob, carol)


async def test_join_and_leave_are_seen_by_the_others():
    """Bob comes and goes: alice sees him join, then leave, with the same member id."""
    alice = await open_socket(username="alice")
    await members_seen(alice, 1)
    bob = await open_socket(username="bob")

    joined = await next_frame(alice, "user.joined")
    assert (joined["user"]["username"], joined["user"]["authenticated"]) == ("bob", False)
    await bob.disconnect()
    left = await alice.receive_json_from(timeout=TIMEOUT)
    assert left == {"type": "user.left", "user": joined["user"]}
    assert await alice.receive_nothing()
    await alice.disconnect()


async def test_two_sockets_with_one_name_are_two_members():
    """Two tabs of one person are two members (two ids): closing one leaves the other listed."""
    alice = await open_socket(username="alice")
    await members_seen(alice, 1)
    second_tab = await open_socket(username="alice")
    joined = await next_frame(alice, "user.joined")
    await second_tab.disconnect()
    left = await next_frame(alice, "user.left")
    assert left["user"]["id"] == joined["user"]["id"]
    await alice.disconnect()


async def test_a_logged_in_member_is_listed_under_their_username():
    """The URL's ?username= cannot rename a logged-in user in the list either."""
    user = await get_user_model().objects.acreate_user("alice", password="unused-password")
    bob = await open_socket(username="bob")
    await members_seen(bob, 1)
    alice = await open_socket(username="mallory", headers=[await login_cookie(user)])

    joined = (await next_frame(bob, "user.joined"))["user"]
    assert (joined["username"], joined["authenticated"]) == ("alice", True)
    await close_all(alice, bob)


async def test_a_socket_without_a_good_name_is_listed_as_anonymous():
    """No ?username=, or one the chat would refuse, is listed as "anonymous"."""
    for username in (None, "   ", "x" * 33):
        socket = await open_socket(username=username)
        assert (await next_frame(socket, "user.joined"))["user"]["username"] == "anonymous"
        await socket.disconnect()


async def test_presence_stays_in_its_room():
    """Arrivals and departures in one room are not heard in another."""
    eve = await open_socket("elsewhere", username="eve")
    await members_seen(eve, 1)
    alice = await open_socket("lobby", username="alice")
    await alice.disconnect()
    assert await frames_left(eve) == []
    await eve.disconnect()
