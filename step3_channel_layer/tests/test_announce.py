"""Announcements: ordinary synchronous Django code (a view) saves a message and reaches the
connected sockets through async_to_sync(channel_layer.group_send)."""

import pytest
from django.contrib.auth import get_user_model
from django.test import AsyncClient

from chat.models import Message
from tests.sockets import TIMEOUT, connect, saved

pytestmark = pytest.mark.django_db(transaction=True)


async def logged_in_client(username, is_staff):
    user = await get_user_model().objects.acreate_user(
        username, password="unused-password", is_staff=is_staff
    )
    client = AsyncClient()
    await client.aforce_login(user)
    return client, user


async def test_an_announcement_from_staff_reaches_the_rooms_sockets_live_and_is_saved():
    """A staff POST to /chat/lobby/announce/: the lobby's sockets get it at once; it is saved."""
    alice = await connect()
    bob = await connect()
    outsider = await connect("elsewhere")
    client, staff = await logged_in_client("anna", is_staff=True)

    response = await client.post("/chat/lobby/announce/", {"message": "  Lunch at noon. "})
    assert response.status_code == 302
    assert response["Location"] == "/chat/lobby/"

    frame = await alice.receive_json_from(timeout=TIMEOUT)
    assert await bob.receive_json_from(timeout=TIMEOUT) == frame
    assert (frame["message"], frame["username"], frame["authenticated"]) == (
        "Lunch at noon.",
        "anna",
        True,
    )
    message = await Message.objects.aget(id=frame["id"])
    assert message.created_By_id == staff.id
    # The announcement is part of the room's history too, and only of that room's.
    carol = await connect()
    assert carol.history == [frame]
    assert await outsider.receive_nothing()
    for communicator in (alice, bob, carol, outsider):
        await communicator.disconnect()


@pytest.mark.parametrize("who", ["anonymous", "logged in, not staff"])
async def test_someone_who_is_not_staff_is_refused_and_nothing_is_saved(who):
    """Only staff may announce: anyone else gets 403, and nothing is saved or sent."""
    alice = await connect()
    if who == "anonymous":
        client = AsyncClient()
    else:
        client, _ = await logged_in_client("bob", is_staff=False)

    response = await client.post("/chat/lobby/announce/", {"message": "I am in charge now"})
    assert response.status_code == 403
    assert await alice.receive_nothing()
    assert await saved() == []
    await alice.disconnect()


async def test_a_blank_or_too_long_announcement_is_refused_with_the_reason():
    """An announcement follows the rules of a message: 400 with the reason, nothing saved."""
    client, _ = await logged_in_client("anna", is_staff=True)
    blank = await client.post("/chat/lobby/announce/", {"message": "   "})
    assert blank.status_code == 400
    assert "some text" in blank.text
    too_long = await client.post("/chat/lobby/announce/", {"message": "x" * 2001})
    assert too_long.status_code == 400
    assert "2000 characters" in too_long.text
    assert await saved() == []


async def test_an_announcement_needs_post_and_a_csrf_token():
    """GET is 405; a POST without the CSRF token (a form on another site) is 403."""
    client, _ = await logged_in_client("anna", is_staff=True)
    assert (await client.get("/chat/lobby/announce/")).status_code == 405
    strict = AsyncClient(enforce_csrf_checks=True)
    strict.cookies = client.cookies
    response = await strict.post("/chat/lobby/announce/", {"message": "forged"})
    assert response.status_code == 403
    assert await saved() == []


async def test_the_room_page_shows_the_announcement_form_to_staff_only():
    """The form is on the page for staff; other users and anonymous visitors do not get it."""
    staff, _ = await logged_in_client("anna", is_staff=True)
    user, _ = await logged_in_client("bob", is_staff=False)
    assert 'id="announcement-form"' in (await staff.get("/chat/lobby/")).text
    assert 'id="announcement-form"' not in (await user.get("/chat/lobby/")).text
    assert 'id="announcement-form"' not in (await AsyncClient().get("/chat/lobby/")).text
