"""Announcements: ordinary synchronous Django code (a view) saves a message and reaches the
connected sockets through async_to_sync(channel_layer.group_send)."""

import pytest
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.test import AsyncClient

from chat.models import Message, Room
from tests.sockets import close_all, frames_left, hears_no_message, next_frame, open_socket

pytestmark = pytest.mark.django_db(transaction=True)


async def logged_in_client(username, is_staff):
    user = await get_user_model().objects.acreate_user(
        username, password="unused-password", is_staff=is_staff
    )
    client = AsyncClient()
    await client.aforce_login(user)
    return client, user


async def test_an_announcement_from_staff_reaches_connected_sockets_live_and_is_saved():
    """A staff POST to /chat/lobby/announce/: the lobby's sockets get it at once; it is saved."""
    alice = await open_socket(username="alice")
    bob = await open_socket(username="bob")
    eve = await open_socket("elsewhere", username="eve")
    client, staff = await logged_in_client("anna", is_staff=True)

    response = await client.post("/chat/lobby/announce/", {"message": "  Lunch at noon. "})
    assert response.status_code == 302
    assert response["Location"] == "/chat/lobby/"

    frame = await next_frame(alice)
    assert await next_frame(bob) == frame
    assert (frame["message"], frame["username"]) == ("Lunch at noon.", "anna")
    assert (frame["announcement"], frame["authenticated"]) == (True, True)
    message = await Message.objects.aget(id=frame["id"])
    assert (message.announcement, message.created_By_id) == (True, staff.id)
    assert (await Room.objects.aget(pk=message.room_id)).url == "lobby"
    # The announcement is part of the room's history too, and only of that room's.
    carol = await open_socket(username="carol")
    assert carol.history == [frame]
    assert await frames_left(eve) == []
    await close_all(alice, bob, carol, eve)


@pytest.mark.parametrize("who", ["anonymous", "logged in, not staff"])
async def test_someone_who_is_not_staff_is_refused_and_nothing_is_saved(who):
    """Only staff may announce: anyone else gets 403, and nothing is saved or sent."""
    alice = await open_socket(username="alice")
    if who == "anonymous":
        client = AsyncClient()
    else:
        client, _ = await logged_in_client("bob", is_staff=False)

    response = await client.post("/chat/lobby/announce/", {"message": "I am in charge now"})
    assert response.status_code == 403
    assert await hears_no_message(alice)
    assert await Message.objects.acount() == 0
    await alice.disconnect()


async def test_a_blank_announcement_is_refused():
    """An announcement follows the rules of a message: blank is a 400, and nothing is saved."""
    client, _ = await logged_in_client("anna", is_staff=True)
    response = await client.post("/chat/lobby/announce/", {"message": "   "})
    assert response.status_code == 400
    assert await Message.objects.acount() == 0


async def test_an_announcement_needs_post_and_a_csrf_token():
    """GET is 405; a POST without the CSRF token (a form on another site) is 403."""
    client, _ = await logged_in_client("anna", is_staff=True)
    assert (await client.get("/chat/lobby/announce/")).status_code == 405
    strict = AsyncClient(enforce_csrf_checks=True)
    strict.cookies = client.cookies
    response = await strict.post("/chat/lobby/announce/", {"message": "forged"})
    assert response.status_code == 403
    assert await Message.objects.acount() == 0


async def test_the_room_page_shows_the_announcement_form_to_staff_only():
    """The form is on the page for staff; other users and anonymous visitors do not get it."""
    staff, _ = await logged_in_client("anna", is_staff=True)
    user, _ = await logged_in_client("bob", is_staff=False)
    assert 'id="announcement-form"' in (await staff.get("/chat/lobby/")).text
    assert 'id="announcement-form"' not in (await user.get("/chat/lobby/")).text
    assert 'id="announcement-form"' not in (await AsyncClient().get("/chat/lobby/")).text


async def test_an_announcement_when_the_channel_layer_is_down_is_saved_and_said_so(monkeypatch):
    """group_send fails (Redis is down): no 500; the announcement is saved, the room page says
    it could not reach the room, and a socket that connects later finds it in the history."""
    client, _ = await logged_in_client("anna", is_staff=True)

    async def layer_is_down(group, event):
        raise ConnectionError("Redis is unreachable")

    monkeypatch.setattr(get_channel_layer(), "group_send", layer_is_down)
    response = await client.post("/chat/lobby/announce/", {"message": "Fire drill at 3."})
    assert (response.status_code, response["Location"]) == (302, "/chat/lobby/")
    assert [m.body async for m in Message.objects.all()] == ["Fire drill at 3."]
    page = await client.get("/chat/lobby/")
    assert "the room could not be reached" in page.text
    monkeypatch.undo()
    alice = await open_socket(username="alice")
    assert [message["message"] for message in alice.history] == ["Fire drill at 3."]
    await alice.disconnect()
