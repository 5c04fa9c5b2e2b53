"""Saving a message from a socket: two SQL statements, the same rows as the ORM would write."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat import store
from chat.models import Message, Room

pytestmark = pytest.mark.django_db


def test_a_socket_saves_a_message_in_two_statements():
    """With the room the socket joined, a save is one UPDATE ... RETURNING for the sequence and
    one INSERT for the row, in one transaction; the ORM ran six statements for the same."""
    room = store.room_for("lobby")
    store.save_message(room, "first", "bob")  # The room's client is set once, by the first.

    with CaptureQueriesContext(connection) as queries:
        message, created = store.save_message(room, "hello", "carol", client_id="c-1")

    statements = [query["sql"].split()[0] for query in queries.captured_queries]
    transaction = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")  # A savepoint inside a test.
    assert [s for s in statements if s not in transaction] == ["UPDATE", "INSERT"]
    assert created and message.sequence == 2 and room.last_sequence == 2


def test_the_saved_row_is_what_the_orm_reads_back():
    """Every field the INSERT wrote reads back through the ORM as it was given."""
    user = get_user_model().objects.create_user("alice", password="unused-password")
    room = store.room_for("lobby")

    message, _ = store.save_message(room, "héllo 😀", "alice", user=user, client_id="c-9")

    saved = Message.objects.get(pk=message.pk)
    assert saved.to_frame() == message.to_frame()
    assert (saved.room_id, saved.body, saved.created_By_id) == (room.pk, "héllo 😀", user.pk)
    assert saved.createdAt == message.createdAt and not saved.announcement


def test_a_resend_takes_no_number_and_saves_nothing():
    """The same client_id again in the room: the first message back, and the room's sequence
    unchanged (the failed INSERT rolled the UPDATE back)."""
    room = store.room_for("lobby")
    first, _ = store.save_message(room, "hello", "bob", client_id="c-1")

    again, created = store.save_message(room, "hello", "bob", client_id="c-1")

    assert (again.pk, created) == (first.pk, False)
    assert Room.objects.get(pk=room.pk).last_sequence == 1
    assert Message.objects.count() == 1


def test_the_first_guest_becomes_the_rooms_client_once():
    """Room.client is the first anonymous name seen, whichever socket's room object saves."""
    room = store.room_for("lobby")
    other_socket_room = store.room_for("lobby")
    store.save_message(room, "hi", "bob")

    store.save_message(other_socket_room, "hi", "carol")

    assert Room.objects.get(pk=room.pk).client == "bob"


def test_a_room_deleted_while_a_socket_is_in_it_starts_again():
    """The admin deleted the room under an open socket: its next message makes the room anew,
    numbered from 1, instead of failing for ever."""
    room = store.room_for("lobby")
    store.save_message(room, "before", "bob")
    Room.objects.filter(pk=room.pk).delete()

    message, created = store.save_message(room, "after", "bob")

    assert created and message.sequence == 1
    assert [m.body for m in Message.objects.filter(room__url="lobby")] == ["after"]


def test_a_refused_resend_leaves_the_sockets_room_as_the_database_has_it():
    """The room object a socket keeps still says the room's last number after a resend was
    refused: the number the rolled-back UPDATE took is not kept anywhere."""
    room = store.room_for("lobby")
    store.save_message(room, "hello", "bob", client_id="c-1")

    store.save_message(room, "hello", "bob", client_id="c-1")

    assert room.last_sequence == Room.objects.get(pk=room.pk).last_sequence == 1
