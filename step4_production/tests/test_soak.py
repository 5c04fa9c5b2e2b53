"""Delivery under load on a real Daphne: 50 sockets in a room, several senders at the rate limit.

Every member must receive every saved message exactly once, in sequence order, and the database
must hold exactly the messages that were sent (a sender sees each of its own confirmed).
"""

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.db import connection

from chat.models import Message
from tests.reliability_clients import Listener, chat_frame, join
from tests.servers import daphne_server

pytestmark = pytest.mark.django_db(transaction=True)

MEMBERS = 50
SENDERS = 5
RATE_LIMIT = 5  # frames a second per socket, the server's CHAT_RATE_LIMIT
SOAK_SECONDS = 20
SERVER_SETTINGS = "tests.reliability_settings"


async def join_members(server, room):
    return [Listener(await join(server, room, f"member-{n}")) for n in range(MEMBERS)]


async def send_at_rate(sender, name, count, rate):
    """Send `count` messages, `rate` a second (all at once if rate is None)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n in range(count):
        if rate:
            await asyncio.sleep(max(0, start + n / rate - loop.time()))
        await sender.socket.send(chat_frame(f"{name} says {n}", name, f"{name}-{n}"))
    return {f"{name}-{n}" for n in range(count)}


async def send_and_wait_for_answers(senders, count, rate):
    """Each sender sends; returns the client_ids the server confirmed and those it refused."""
    sent = await asyncio.gather(
        *(send_at_rate(sender, f"member-{n}", count, rate) for n, sender in enumerate(senders))
    )
    confirmed, refused = set(), set()
    for n, sender in enumerate(senders):

        def answered(sender=sender, client_ids=sent[n]):
            mine = {message["client_id"] for message in sender.messages}
            return client_ids <= mine | {error.get("client_id") for error in sender.errors}

        await sender.wait_until(answered)
        confirmed |= {m["client_id"] for m in sender.messages if m["username"] == f"member-{n}"}
        refused |= {error["client_id"] for error in sender.errors}
        # The only refusal a sender at the rate limit may meet is the rate limit itself.
        assert {error["code"] for error in sender.errors} <= {"rate_limited"}
    return confirmed, refused


async def wait_until_saved(room, count, timeout=15):
    """Wait until the room has `count` messages in the database."""
    async with asyncio.timeout(timeout):
        while len(await saved_messages(room)) < count:
            await asyncio.sleep(0.05)


@database_sync_to_async
def saved_messages(room):
    return list(Message.objects.filter(room__url=room).values("id", "sequence", "client_id"))


async def check_delivery(room, members, confirmed):
    """The database holds exactly the confirmed messages, and every member received each of
    them once, in sequence order."""
    saved = sorted(await saved_messages(room), key=lambda message: message["sequence"])
    assert sorted(message["client_id"] for message in saved) == sorted(confirmed)
    assert [message["sequence"] for message in saved] == list(range(1, len(saved) + 1))
    expected = [(message["sequence"], message["id"]) for message in saved]
    for member in members:
        await member.wait_until(lambda member=member: len(member.messages) >= len(expected))
        assert [(m["sequence"], m["id"]) for m in member.messages] == expected


async def test_fifty_members_receive_every_message_once_in_order_under_load():
    """Five senders at the rate limit for 20 s, 50 sockets: nothing lost, nothing twice."""
    room = "soak"
    env = {"DJANGO_SETTINGS_MODULE": SERVER_SETTINGS, "CHAT_RATE_LIMIT": str(RATE_LIMIT)}
    with daphne_server(connection.settings_dict["NAME"], env=env) as server:
        members = await join_members(server, room)
        count = RATE_LIMIT * SOAK_SECONDS
        confirmed, refused = await send_and_wait_for_answers(members[:SENDERS], count, RATE_LIMIT)
        assert len(confirmed) + len(refused) == SENDERS * count
        assert confirmed, "the server confirmed no message at all"
        await check_delivery(room, members, confirmed)
        assert not any(member.closed for member in members)
        for member in members:
            await member.close()
        assert "Exception inside application" not in server.output()


async def test_events_the_channel_layer_drops_are_detected_and_filled_from_the_database():
    """With a channel capacity of 1, group_send drops events under a burst; each member sees
    the gap (sequence numbers) at its next message and fills it from the database."""
    room = "tiny-capacity"
    env = {
        "DJANGO_SETTINGS_MODULE": SERVER_SETTINGS,
        "CHAT_RATE_LIMIT": "0",
        "CHAT_TEST_LAYER_CAPACITY": "1",
    }
    with daphne_server(connection.settings_dict["NAME"], env=env) as server:
        members = await join_members(server, room)
        # A burst: 5 senders x 10 messages, as fast as they can. A sender may miss the answer
        # to its own message too, so the test waits for the database instead.
        burst = await asyncio.gather(
            *(send_at_rate(sender, f"member-{n}", 10, None) for n, sender in enumerate(members[:5]))
        )
        sent = set().union(*burst)
        await wait_until_saved(room, len(sent))
        # A member learns of a drop from the next message. If the last message of the burst
        # was dropped for someone, a later one repairs it: send until everyone has caught up.
        for n in range(5):
            sent.add(f"quiet-{n}")
            await members[0].socket.send(chat_frame("the burst is over", "member-0", f"quiet-{n}"))
            caught_up = [
                member.wait_until(lambda member=member: len(member.messages) >= len(sent), 3)
                for member in members
            ]
            try:
                await asyncio.gather(*caught_up)
                break
            except TimeoutError:
                continue
        assert not any(member.errors for member in members)
        confirmed = sent
        await check_delivery(room, members, confirmed)
        assert not any(member.closed for member in members)
        for member in members:
            await member.close()
        # The server saw drops and filled them from the database.
        assert "missed messages sent from the database" in server.output()
        assert "Exception inside application" not in server.output()
