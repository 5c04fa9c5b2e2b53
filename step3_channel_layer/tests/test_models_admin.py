"""The guide's Room and Message models, the rules for Room.client and Room.agent, and the admin."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser

from chat import store
from chat.models import Message, Room

pytestmark = pytest.mark.django_db


def make_user(username, is_staff=False):
    return get_user_model().objects.create_user(
        username, password="unused-password", is_staff=is_staff
    )


def test_a_saved_message_keeps_the_guides_field_names_and_is_in_its_rooms_messages():
    """body, sentBy, createdAt, created_By on Message; url, messages, createdAt on Room."""
    alice = make_user("alice")
    frame = store.save_message("lobby", "hi", "alice", alice)
    message = Message.objects.get(pk=frame["id"])
    assert (message.body, message.sentBy, message.created_By) == ("hi", "alice", alice)
    assert message.createdAt is not None
    assert str(message) == "alice: hi"
    room = Room.objects.get(url="lobby")
    assert (str(room), list(room.messages.all())) == ("lobby", [message])
    assert room.createdAt is not None
    assert frame == {
        "type": "chat.message",
        "id": message.id,
        "message": "hi",
        "username": "alice",
        "authenticated": True,
        "created_at": message.createdAt.isoformat(timespec="microseconds"),
    }


def test_each_room_holds_its_own_messages():
    """Messages go into the room they were sent in, and a room is created on first use."""
    for room_name, body in [("lobby", "a"), ("garden", "b"), ("lobby", "c")]:
        store.save_message(room_name, body, "bob", AnonymousUser())
    assert Room.objects.count() == 2
    lobby, garden = Room.objects.get(url="lobby"), Room.objects.get(url="garden")
    assert [m.body for m in lobby.messages.order_by("id")] == ["a", "c"]
    assert [m.body for m in garden.messages.all()] == ["b"]
    assert [m["message"] for m in store.history("lobby")] == ["a", "c"]


def test_room_client_and_agent_are_optional_and_take_a_guest_and_a_staff_user():
    """The original guide's support-chat roles: a guest's name and a staff user, both optional."""
    store.save_message("help", "hello", "bob", AnonymousUser())
    room = Room.objects.get(url="help")
    assert (room.client, room.agent) == ("", None)
    room.client, room.agent = "bob", make_user("anna", is_staff=True)
    room.full_clean()
    room.save()
    assert Room.objects.get(url="help").agent.username == "anna"


def test_sent_by_holds_any_username_django_allows():
    """A signed-in sender's longest possible username is saved whole."""
    longest = "u" * get_user_model()._meta.get_field("username").max_length
    store.save_message("lobby", "hi", longest, make_user(longest))
    Message.objects.get(sentBy=longest).full_clean()


# The admin, as a superuser sees it after logging in at /admin/login/


@pytest.fixture
def two_rooms():
    """Messages by alice and bob in "lobby", and one by carol in "garden"."""
    for room_name, body, username in [
        ("lobby", "good morning", "alice"),
        ("lobby", "hello there", "bob"),
        ("garden", "carol was here", "carol"),
    ]:
        store.save_message(room_name, body, username, AnonymousUser())


def test_admin_lists_rooms_and_messages(admin_client, two_rooms):
    """The room list names each room; the message list shows sender and text."""
    response = admin_client.get("/admin/chat/room/")
    assert response.status_code == 200
    assert "lobby" in response.text and "garden" in response.text
    response = admin_client.get("/admin/chat/message/")
    assert response.status_code == 200
    for text in ("alice: good morning", "bob: hello there", "carol: carol was here"):
        assert text in response.text


def test_admin_change_and_add_pages_render(admin_client, two_rooms):
    """A message's page, a room's page with its messages, and both add forms render."""
    message = Message.objects.get(body="good morning")
    page = admin_client.get(f"/admin/chat/message/{message.pk}/change/")
    assert page.status_code == 200
    assert "good morning" in page.text
    lobby = Room.objects.get(url="lobby")
    page = admin_client.get(f"/admin/chat/room/{lobby.pk}/change/")
    assert page.status_code == 200
    assert "alice: good morning" in page.text
    assert admin_client.get("/admin/chat/message/add/").status_code == 200
    assert admin_client.get("/admin/chat/room/add/").status_code == 200


def test_admin_is_closed_to_anonymous_visitors(client, two_rooms):
    """Without logging in, the admin sends you to its login page."""
    response = client.get("/admin/chat/message/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
