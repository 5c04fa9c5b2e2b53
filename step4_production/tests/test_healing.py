"""Servers that stop: killed without a word (SIGKILL), or stopped (SIGTERM) under Daphne and
under uvicorn. Real server processes sharing a real Redis, real sockets; the roster's entries
expire after CHAT_PRESENCE_TTL, made short here so the tests stay fast."""

import asyncio
import signal
import time
from contextlib import ExitStack

import pytest
import redis
from django.db import connection

from tests.servers import DaphneServer, UvicornServer, redis_server
from tests.test_redis import Client

pytestmark = pytest.mark.django_db(transaction=True)

# Seconds a member stays listed after its server stopped refreshing it.
PRESENCE_TTL = 2


def servers(redis_url, *kinds, presence_ttl=PRESENCE_TTL, layer="redis"):
    """One server per kind (DaphneServer, UvicornServer), sharing the test database and Redis."""
    env = {
        "CHANNEL_LAYER": layer,
        "REDIS_URL": redis_url,
        "CHAT_PRESENCE_TTL": str(presence_ttl),
    }
    stack = ExitStack()
    database = connection.settings_dict["NAME"]
    started = [stack.enter_context(kind(database, env=env)) for kind in kinds]
    return stack, started


def left(client, username):
    return [f for f in client.of_type("user.left") if f["user"]["username"] == username]


@pytest.mark.parametrize("layer", ["redis", "redis-pubsub"])
async def test_members_of_a_server_killed_without_a_word_leave_every_list(layer):
    """SIGKILL one of two servers: its member leaves the other server's lists within the TTL
    (once), a newcomer does not see it, and its channel leaves the group in Redis."""
    with redis_server() as redis_process:
        stack, (first, second) = servers(redis_process.url, DaphneServer, DaphneServer, layer=layer)
        with stack:
            async with Client(first, "lobby", "alice") as alice:
                bob = await Client(second, "lobby", "bob").__aenter__()
                await alice.wait_for(lambda: alice.users() == {"alice", "bob"})
                second.process.send_signal(signal.SIGKILL)
                second.process.wait()
                killed = time.monotonic()
                await alice.wait_for(lambda: left(alice, "bob"), timeout=60)
                # Within the TTL and one refresh, well inside the 60 s promise.
                assert time.monotonic() - killed < 60
                assert alice.users() == {"alice"}
                async with Client(first, "lobby", "carol") as carol:
                    assert carol.users() == {"alice", "carol"}
                await asyncio.sleep(PRESENCE_TTL)
                assert len(left(alice, "bob")) == 1
                if layer == "redis":
                    group = redis.Redis.from_url(redis_process.url).zrange(
                        "asgi:group:chat_lobby", 0, -1
                    )
                    assert len(group) == 1  # Alice's channel; bob's went with his roster entry.
                bob.reader.cancel()


async def test_a_page_that_reconnects_to_another_server_is_listed_once():
    """Alice's server dies; her page reconnects to the other server with the same key: the room
    lists her once, under the same id, and her old entry's expiry does not remove her."""
    with redis_server() as redis_process:
        stack, (first, second) = servers(redis_process.url, DaphneServer, DaphneServer)
        with stack:
            async with Client(second, "lobby", "bob") as bob:
                alice = await Client(first, "lobby", "alice", member="alices-page").__aenter__()
                await bob.wait_for(lambda: bob.users() == {"alice", "bob"})
                first_id = bob.of_type("user.joined")[0]["user"]["id"]
                first.process.send_signal(signal.SIGKILL)
                first.process.wait()
                alice.reader.cancel()
                async with Client(second, "lobby", "alice", member="alices-page") as again:
                    assert again.users() == {"alice", "bob"}
                    await asyncio.sleep(3 * PRESENCE_TTL)  # The dead server's entry would expire.
                    joined = [f["user"]["id"] for f in bob.of_type("user.joined")]
                    assert joined == [first_id, first_id]
                    assert bob.of_type("user.left") == []
                    assert bob.users() == {"alice", "bob"}


async def test_uvicorn_stopped_with_sigterm_closes_with_1012_and_the_room_sees_the_leave():
    """uvicorn closes each socket with 1012 (service restart) and runs disconnect(): the other
    server's members see the departure at once, not after the roster's expiry."""
    with redis_server() as redis_process:
        stack, (stopping, staying) = servers(
            redis_process.url, UvicornServer, DaphneServer, presence_ttl=300
        )
        with stack:
            async with Client(staying, "lobby", "bob") as bob:
                alice = await Client(stopping, "lobby", "alice").__aenter__()
                await bob.wait_for(lambda: bob.users() == {"alice", "bob"})
                stopping.process.send_signal(signal.SIGTERM)
                assert await alice.wait_closed() == 1012
                await bob.wait_for(lambda: left(bob, "alice"))
                # uvicorn ends by raising SIGTERM on itself again, once every socket is closed.
                assert stopping.process.wait(10) in (0, -signal.SIGTERM)


async def test_daphne_stopped_with_sigterm_drops_sockets_and_the_roster_heals():
    """Daphne drops every socket on SIGTERM (the client sees 1006, no close frame) and its
    consumers never leave: the member leaves the other server's lists by the roster's expiry.
    This is why the production command is uvicorn (docs/04-production.md)."""
    with redis_server() as redis_process:
        stack, (stopping, staying) = servers(redis_process.url, DaphneServer, DaphneServer)
        with stack:
            async with Client(staying, "lobby", "bob") as bob:
                alice = await Client(stopping, "lobby", "alice").__aenter__()
                await bob.wait_for(lambda: bob.users() == {"alice", "bob"})
                stopping.process.send_signal(signal.SIGTERM)
                assert await alice.wait_closed() == 1006
                await bob.wait_for(lambda: left(bob, "alice"), timeout=60)
                assert len(left(bob, "alice")) == 1
