"""The guide's Room and Message models, the rules for Room.client and Room.agent, and the admin."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser

from chat import store
from chat.models import Message, Room
from tests.sockets import login_cookie, open_socket, save_messages


def make_user(username, is_staff=False):
    return get_user_model().objects.create_user(
        username, password="unused-password", is_staff=is_staff
    )


@pytest.mark.django_db
def test_each_room_numbers_its_own_messages_and_holds_them():
    """Messages are numbered 1, 2, 3... per room, and each is in its room's Room.messages."""
    for room_name, body in [("lobby", "a"), ("lobby", "b"), ("garden", "c"), ("lobby", "d")]:
        store.save_message(room_name, body, "bob")
    lobby, garden = Room.objects.get(url="lobby"), Room.objects.get(url="garden")
    assert [(m.sequence, m.body) for m in lobby.messages.order_by("sequence")] == [
        (1, "a"),
        (2, "b"),
        (3, "d"),
    ]
    assert [(m.sequence, m.body) for m in garden.messages.all()] == [(1, "c")]
    assert (lobby.last_sequence, garden.last_sequence) == (3, 1)


@pytest.mark.django_db
def test_room_client_is_the_first_anonymous_name_seen():
    """Room.client is the first anonymous sender; later ones and logged-in users leave it."""
    user = make_user("alice")
    store.save_message("lobby", "signed in first", "alice", user=user)
    assert Room.objects.get(url="lobby").client == ""
    store.save_message("lobby", "hello", "bob")
    store.save_message("lobby", "me too", "carol")
    assert Room.objects.get(url="lobby").client == "bob"


@pytest.mark.django_db
def test_room_agent_is_the_first_staff_user_who_joins():
    """Room.agent is the first staff user to join; other users and later staff leave it."""
    store.save_message("lobby", "the room exists once it has a message", "bob")
    store.join_room("lobby", AnonymousUser())
    store.join_room("lobby", make_user("bob"))
    assert Room.objects.get(url="lobby").agent is None
    first = make_user("anna", is_staff=True)
    store.join_room("lobby", first)
    store.join_room("lobby", make_user("otto", is_staff=True))
    assert Room.objects.get(url="lobby").agent == first


@pytest.mark.django_db
def test_a_staff_user_who_sends_the_first_message_becomes_the_rooms_agent():
    """A room is saved with its first message; a staff sender then is its agent."""
    staff = make_user("anna", is_staff=True)
    store.join_room("garden", staff)
    assert not Room.objects.filter(url="garden").exists()
    store.save_message("garden", "welcome", "anna", user=staff)
    assert Room.objects.get(url="garden").agent == staff


@pytest.mark.django_db(transaction=True)
async def test_a_staff_user_who_opens_a_socket_becomes_the_rooms_agent():
    """Joining through the socket (session cookie) is what makes a staff user the agent."""
    staff = await get_user_model().objects.acreate_user(
        "anna", password="unused-password", is_staff=True
    )
    await save_messages("lobby", ["the room exists once it has a message"])
    socket = await open_socket(headers=[await login_cookie(staff)])
    room = await Room.objects.aget(url="lobby")
    assert room.agent_id == staff.id
    await socket.disconnect()


@pytest.mark.django_db
def test_message_keeps_the_guides_field_names():
    """body, sentBy, createdAt, created_By: the original guide's names, as the guide shows them."""
    user = make_user("alice")
    message, created = store.save_message("lobby", "hi", "alice", user=user, client_id="c-1")
    assert created
    message = Message.objects.get(pk=message.pk)
    assert (message.body, message.sentBy, message.created_By) == ("hi", "alice", user)
    assert message.createdAt is not None
    assert str(message) == "alice: hi"
    room = Room.objects.get(url="lobby")
    assert (room.url, str(room)) == ("lobby", "lobby")
    assert room.createdAt is not None


# The admin, as a superuser sees it after logging in at /admin/login/


@pytest.fixture
def two_rooms(db):
    """Messages by alice and bob in "lobby", and one by carol in "garden"."""
    store.save_message("lobby", "good morning", "alice")
    store.save_message("lobby", "hello there", "bob")
    store.save_message("garden", "carol was here", "carol")


def test_admin_room_list_and_room_page_show_its_messages(admin_client, two_rooms):
    """The room list names the rooms; a room's page lists its messages and no others."""
    response = admin_client.get("/admin/chat/room/")
    assert response.status_code == 200
    assert "lobby" in response.text and "garden" in response.text

    lobby = Room.objects.get(url="lobby")
    page = admin_client.get(f"/admin/chat/room/{lobby.pk}/change/")
    assert page.status_code == 200
    assert "alice: good morning" in page.text
    assert "bob: hello there" in page.text
    assert "carol was here" not in page.text


def test_admin_finds_messages_by_room_and_by_sender(admin_client, two_rooms):
    """The message list's search box finds messages by room name and by sender."""
    by_room = admin_client.get("/admin/chat/message/", {"q": "garden"})
    assert by_room.status_code == 200
    assert "carol was here" in by_room.text
    assert "good morning" not in by_room.text and "hello there" not in by_room.text

    by_sender = admin_client.get("/admin/chat/message/", {"q": "bob"})
    assert "hello there" in by_sender.text
    assert "good morning" not in by_sender.text

    lobby = Room.objects.get(url="lobby")
    by_filter = admin_client.get("/admin/chat/message/", {"rooms__id__exact": lobby.pk})
    assert "good morning" in by_filter.text
    assert "carol was here" not in by_filter.text


def test_admin_message_page_and_add_pages_render(admin_client, two_rooms):
    """A message's own page, and the add forms of both models, render for a superuser."""
    message = Message.objects.get(body="good morning")
    page = admin_client.get(f"/admin/chat/message/{message.pk}/change/")
    assert page.status_code == 200
    assert "good morning" in page.text
    assert admin_client.get("/admin/chat/message/add/").status_code == 200
    assert admin_client.get("/admin/chat/room/add/").status_code == 200


def test_admin_is_closed_to_anonymous_visitors(client, two_rooms):
    """Without logging in, the admin sends you to its login page."""
    response = client.get("/admin/chat/message/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_sent_by_holds_any_username_django_allows():
    """A logged-in sender's username always fits in Message.sentBy (PostgreSQL enforces it)."""
    username_field = get_user_model()._meta.get_field("username")
    assert Message._meta.get_field("sentBy").max_length >= username_field.max_length
