"""The guide's Room and Message models, the rules for Room.client and Room.agent, and the admin."""

import os
import subprocess
import sys
import time

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from chat import store
from chat.models import Message, Room
from tests.servers import STEP_DIR
from tests.sockets import login_cookie, open_socket, save_messages


def make_user(username, is_staff=False):
    return get_user_model().objects.create_user(
        username, password="unused-password", is_staff=is_staff
    )


@pytest.mark.django_db
def test_each_room_numbers_its_own_messages_and_holds_them():
    """Messages are numbered 1, 2, 3... per room, and each is in its room's room.messages."""
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
    store.join_room(store.room_for("lobby"), AnonymousUser())
    store.join_room(store.room_for("lobby"), make_user("bob"))
    assert Room.objects.get(url="lobby").agent is None
    first = make_user("anna", is_staff=True)
    store.join_room(store.room_for("lobby"), first)
    store.join_room(store.room_for("lobby"), make_user("otto", is_staff=True))
    assert Room.objects.get(url="lobby").agent == first


@pytest.mark.django_db
def test_a_staff_user_who_sends_the_first_message_becomes_the_rooms_agent():
    """A room is saved with its first message; a staff sender then is its agent."""
    staff = make_user("anna", is_staff=True)
    store.join_room(store.room_for("garden"), staff)
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
    by_filter = admin_client.get("/admin/chat/message/", {"room__id__exact": lobby.pk})
    assert "good morning" in by_filter.text
    assert "carol was here" not in by_filter.text


def test_admin_message_page_and_add_pages_render(admin_client, two_rooms):
    """A message's own page and the room's add form render; messages are not added by hand."""
    message = Message.objects.get(body="good morning")
    page = admin_client.get(f"/admin/chat/message/{message.pk}/change/")
    assert page.status_code == 200
    assert "good morning" in page.text
    assert admin_client.get("/admin/chat/room/add/").status_code == 200
    # A message is only ever written by the chat, which numbers it in its room.
    assert admin_client.get("/admin/chat/message/add/").status_code == 403


def test_admin_is_closed_to_anonymous_visitors(client, two_rooms):
    """Without logging in, the admin sends you to its login page."""
    response = client.get("/admin/chat/message/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_sent_by_holds_any_username_django_allows(db):
    """A message from a user with the longest username Django allows is valid and kept whole."""
    longest = get_user_model()._meta.get_field("username").max_length
    user = make_user("u" * longest)
    message, _ = store.save_message("lobby", "hi", user.username, user=user)
    message.full_clean()  # max_length is checked here (PostgreSQL would refuse the row too).
    assert Message.objects.get(pk=message.pk).sentBy == user.username


# What the database itself refuses, whichever code writes the row


@pytest.mark.django_db
def test_the_database_refuses_a_second_message_with_the_same_sequence_in_a_room():
    """UNIQUE(room, sequence): a row written past store.save_message cannot reuse a number."""
    first, _ = store.save_message("lobby", "one", "bob")
    store.save_message("garden", "one, elsewhere", "bob")  # Another room may have its own 1.
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(room=first.room, body="again", sentBy="eve", sequence=1)
    assert Message.objects.filter(room=first.room).count() == 1


@pytest.mark.django_db
def test_the_database_refuses_a_client_id_twice_in_one_room_only():
    """UNIQUE(room, client_id): twice in a room is refused; in two rooms, or NULL, is fine."""
    first, _ = store.save_message("lobby", "one", "bob", client_id="same-id")
    other, created = store.save_message("garden", "two", "bob", client_id="same-id")
    assert created and other.room.url == "garden"
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(
            room=first.room, body="copy", sentBy="eve", sequence=5, client_id="same-id"
        )
    store.save_message("lobby", "no id", "bob")
    store.save_message("lobby", "no id either", "bob")
    assert Message.objects.filter(room=first.room).count() == 3


@pytest.mark.django_db
def test_a_resend_saves_nothing_and_returns_the_first_message_of_its_own_room():
    """save_message with a client_id seen before in the same room returns that first message."""
    first, created = store.save_message("lobby", "hello", "bob", client_id="c-1")
    again, created_again = store.save_message("lobby", "hello", "bob", client_id="c-1")
    assert (created, created_again, again.pk) == (True, False, first.pk)
    assert Room.objects.get(url="lobby").last_sequence == 1


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_each_message_from_room_messages_to_its_room():
    """Rows of the many-to-many Room.messages become Message.room; a room keeps its numbering."""
    executor = MigrationExecutor(connection)
    executor.migrate([("chat", "0001_initial")])
    old = executor.loader.project_state([("chat", "0001_initial")]).apps
    OldRoom, OldMessage = old.get_model("chat", "Room"), old.get_model("chat", "Message")
    lobby, garden = OldRoom.objects.create(url="lobby"), OldRoom.objects.create(url="garden")
    for room, sequence, body in [(lobby, 1, "a"), (lobby, 2, "b"), (garden, 1, "c")]:
        message = OldMessage.objects.create(
            body=body, sentBy="bob", sequence=sequence, client_id=f"{room.url}-{sequence}"
        )
        room.messages.add(message)
    # A message in no room was never shown anywhere: the migration drops it.
    OldMessage.objects.create(body="orphan", sentBy="bob", sequence=9)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    moved = Message.objects.order_by("room__url", "sequence")
    assert [(m.room.url, m.sequence, m.body) for m in moved] == [
        ("garden", 1, "c"),
        ("lobby", 1, "a"),
        ("lobby", 2, "b"),
    ]


SAVE_IN_ANOTHER_PROCESS = """
import sys, time, django
django.setup()
from chat import store
start, name, count = float(sys.argv[1]), sys.argv[2], int(sys.argv[3])
time.sleep(max(0, start - time.time()))
for n in range(count):
    store.save_message("lobby", f"{name} {n}", name, client_id=f"{name}-{n}")
"""


@pytest.mark.django_db(transaction=True)
def test_two_processes_saving_into_one_room_at_once_number_it_uniquely_without_gaps():
    """Two server processes, 150 saves each into one room at the same moment: 1..300, once."""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.live_settings",
        "CHAT_TEST_DATABASE": str(connection.settings_dict["NAME"]),
        "PYTHONPATH": str(STEP_DIR),
    }
    start = time.time() + 2  # Both processes are set up by then, and start saving together.
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SAVE_IN_ANOTHER_PROCESS, str(start), name, "150"],
            cwd=STEP_DIR,
            env=environment,
        )
        for name in ("first", "second")
    ]
    assert [process.wait(timeout=120) for process in processes] == [0, 0]
    saved = list(Message.objects.filter(room__url="lobby").values_list("sequence", "sentBy"))
    assert sorted(sequence for sequence, _ in saved) == list(range(1, 301))
    assert sorted(sender for _, sender in saved) == ["first"] * 150 + ["second"] * 150
    assert Room.objects.get(url="lobby").last_sequence == 300
