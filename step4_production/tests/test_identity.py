"""Who a socket speaks for: a signed-in user only while their session lives, and a guest under
a name that no registered user has."""

import asyncio
import json
import time
from datetime import timedelta

import pytest
import websockets
from channels.layers import channel_layers
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.base import SessionBase
from django.contrib.sessions.models import Session
from django.db import connection, transaction
from django.test import AsyncClient, override_settings
from django.utils import timezone

from chat.identity import SESSION_ENDED
from chat.models import Message
from tests.servers import daphne_server, redis_server
from tests.sockets import TIMEOUT, close_all, next_frame, open_socket, saved_bodies

pytestmark = pytest.mark.django_db(transaction=True)


async def signed_in(username="alice"):
    """A browser signed in as a new user: (its client, its Cookie header, the user).

    Staff, as the users who sign in at /admin/login/ are."""
    user = await get_user_model().objects.acreate_user(
        username, password="old-password-1", is_staff=True
    )
    client = AsyncClient()
    await client.aforce_login(user)
    cookie = (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())
    return client, cookie, user


async def closed_with(communicator):
    """The close code the server sent, unasked (the test sends nothing meanwhile)."""
    output = await communicator.receive_output(timeout=TIMEOUT)
    while output["type"] == "websocket.send":  # Presence on the way.
        output = await communicator.receive_output(timeout=TIMEOUT)
    assert output["type"] == "websocket.close", output
    return output["code"]


async def still_posts(communicator, text):
    await communicator.send_json_to({"message": text})
    frame = await next_frame(communicator)
    assert (frame["message"], frame["authenticated"]) == (text, True)


async def test_logging_out_closes_that_sessions_sockets_and_only_them():
    """POST /admin/logout/: the sockets of that browser close at once (4401); the same user
    signed in on another browser keeps theirs."""
    laptop, cookie, user = await signed_in()
    phone = AsyncClient()
    await phone.aforce_login(user)
    tabs = [await open_socket(headers=[cookie]) for _ in range(2)]
    other = await open_socket(
        headers=[(b"cookie", f"sessionid={phone.cookies['sessionid'].value}".encode())]
    )

    assert (await laptop.post("/admin/logout/")).status_code == 200
    for tab in tabs:
        assert await closed_with(tab) == SESSION_ENDED
    await still_posts(other, "still signed in on the phone")
    await other.disconnect()


@pytest.mark.parametrize("change", ["new password", "deactivated", "deleted"])
async def test_a_changed_account_closes_every_socket_of_its_user(change):
    """A new password, is_active=False or a deleted account: Django's signals reach the user's
    group, every socket checks its session, and each one closes (4401)."""
    _, cookie, user = await signed_in()
    _, bob_cookie, _ = await signed_in("bob")
    alice = await open_socket(headers=[cookie])
    bob = await open_socket(headers=[bob_cookie])
    if change == "new password":
        user.set_password("new-password-2")
        await user.asave()
    elif change == "deactivated":
        user.is_active = False
        await user.asave()
    else:
        await user.adelete()
    assert await closed_with(alice) == SESSION_ENDED
    await still_posts(bob, "bob is not affected")
    await bob.disconnect()


def deactivate_in_a_transaction(user):
    """As the admin's change form saves, in a transaction that commits a moment later; in a
    thread of its own, as another server process would."""
    try:
        with transaction.atomic():
            user.is_active = False
            user.save()
            time.sleep(0.5)  # A socket that checked now would still see the user active.
    finally:
        connection.close()


async def test_a_change_reaches_a_socket_on_another_server_once_it_is_committed():
    """A real Daphne shares Redis with this process, which deactivates the user in a slow
    transaction: the server's socket is told after the commit, so its check sees the change."""
    _, cookie, user = await signed_in()
    with redis_server() as redis:
        env = {"REDIS_URL": redis.url}
        with daphne_server(connection.settings_dict["NAME"], env=env) as server:
            headers = {**server.origin, "Cookie": cookie[1].decode()}
            async with websockets.connect(
                server.ws_url("/ws/chat/lobby/"), additional_headers=headers
            ) as socket:
                assert json.loads(await socket.recv())["type"] == "history"
                layers = {
                    "default": {
                        "BACKEND": "channels_redis.core.RedisChannelLayer",
                        "CONFIG": {"hosts": [redis.url]},
                    }
                }
                with override_settings(CHANNEL_LAYERS=layers):
                    channel_layers.backends.clear()
                    await asyncio.to_thread(deactivate_in_a_transaction, user)
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    async with asyncio.timeout(TIMEOUT):
                        while True:
                            await socket.recv()
                assert closed.value.rcvd.code == SESSION_ENDED


async def test_signing_in_again_elsewhere_leaves_open_sockets_alone():
    """A login saves the user (last_login): the sockets check their session, which still holds."""
    _, cookie, user = await signed_in()
    alice = await open_socket(headers=[cookie])
    await AsyncClient().aforce_login(user)
    await still_posts(alice, "still here")
    await alice.disconnect()


@pytest.mark.parametrize("end", ["expired", "deleted"])
async def test_a_session_that_ends_without_a_signal_is_not_trusted_at_the_next_message(end):
    """A session that expires, or whose row is deleted, sends no signal: the socket's next
    message finds it over, is not saved, and the socket closes (4401)."""
    _, cookie, _ = await signed_in()
    alice = await open_socket(headers=[cookie])
    await still_posts(alice, "before")
    sessions = Session.objects.all()
    if end == "expired":
        await sessions.aupdate(expire_date=timezone.now() - timedelta(seconds=1))
    else:
        await sessions.adelete()
    await alice.send_json_to({"message": "after"})
    assert await closed_with(alice) == SESSION_ENDED
    assert await saved_bodies() == ["before"]


async def test_a_socket_sends_its_frames_without_looking_at_its_session(monkeypatch):
    """Channels' SessionMiddleware reads the session before every message sent, to save it with
    an HTTP response; a socket sends none, so step 4's stack sends frames straight on."""
    looks = []
    monkeypatch.setattr(SessionBase, "is_empty", lambda store: looks.append(store) or False)
    _, cookie, _ = await signed_in()
    alice = await open_socket(headers=[cookie])
    bob = await open_socket(username="bob")

    await still_posts(alice, "hello")

    assert (await next_frame(bob))["message"] == "hello"
    assert looks == []
    await close_all(alice, bob)


# Guest names


@pytest.mark.parametrize(
    "name",
    ["alice", "ALICE", " Alice ", "ａｌｉｃｅ", "al\u200bice", "\u202ealice", "alice\x07"],
    ids=["same", "upper case", "spaces", "full-width", "zero-width space", "bidi", "control"],
)
async def test_a_guest_cannot_take_a_registered_name(name):
    """Case, compatibility forms, control and format characters do not make a new name:
    invalid_username, nothing saved, and the socket goes on under a name of its own."""
    await get_user_model().objects.acreate_user("alice", password="unused-password")
    guest = await open_socket(username=None)  # Named by its first good message.
    await guest.send_json_to({"message": "I am alice", "username": name, "client_id": "c-1"})
    error = await next_frame(guest, "error")
    assert (error["code"], error["client_id"]) == ("invalid_username", "c-1")
    assert await Message.objects.acount() == 0
    await guest.send_json_to({"message": "hello", "username": "mallory"})
    assert (await next_frame(guest))["username"] == "mallory"
    await guest.disconnect()


async def test_a_guest_name_loses_the_characters_that_hide_or_reorder_it():
    """\\u202e would show "evil" reversed; a zero-width space would hide a difference: the
    name is kept without them."""
    guest = await open_socket(username=None)
    await guest.send_json_to({"message": "hi", "username": "\u202eev\u200bil\u0007"})
    frame = await next_frame(guest)
    assert frame["username"] == "evil"
    assert (await Message.objects.aget()).sentBy == "evil"
    await guest.disconnect()


async def test_a_registered_name_in_the_url_is_not_a_guests_name_in_the_list():
    """?username=alice from a guest is listed as "anonymous"; alice signed in is "alice"."""
    _, cookie, _ = await signed_in()
    guest = await open_socket(username="Alice")
    assert list(guest.users) == ["anonymous"]
    await guest.send_json_to({"message": "hi", "username": "Alice"})
    assert (await next_frame(guest, "error"))["code"] == "invalid_username"
    alice = await open_socket(username="whatever", headers=[cookie])
    joined = await next_frame(guest, "user.joined")
    assert (joined["user"]["username"], joined["user"]["authenticated"]) == ("alice", True)
    await close_all(guest, alice)
