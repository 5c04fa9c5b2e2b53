"""Who is in each room: a roster that every server process reads, kept fresh by the process that
holds each socket.

A newcomer reads the roster once and each arrival or departure is one event to the room, so a
join costs the same in a room of 5 or of 500. Arrivals that come together, as when a server
restarts and every socket of a room is back within the same moment, are listed together and
announced in one event. Every entry expires unless its server refreshes
it: a process that dies without a word stops refreshing, and the next process to sweep the room
removes its members, tells the room they left and takes their channels out of the group.

The roster lives where the channel layer keeps its groups: in Redis with the Redis layers (two
Redis keys per room, changed only by the Lua scripts below, so two servers sweeping at once
announce each departure once), in the process with the in-memory layer.
https://redis.io/docs/latest/develop/interactive/programmability/eval-intro/
"""

import asyncio
import json
import logging
import time
import weakref

import redis.asyncio
from channels.layers import InMemoryChannelLayer
from django.conf import settings
from redis.exceptions import ConnectionError as RedisConnectionError

from .protocol import dumps

logger = logging.getLogger(__name__)


def entry_text(member, channel):
    """How a roster keeps one member: the channel that refreshes it, then the member as JSON."""
    return f"{channel}\n{dumps(member)}"


def joined_event(members):
    """The group event that tells a room members came: flat, each frame's JSON built once, so
    the layer copies no nested dict for each member and no member encodes it again."""
    return {
        "type": "presence.join",
        "member_ids": tuple(member["id"] for member in members),
        "texts": tuple(dumps({"type": "user.joined", "user": member}) for member in members),
    }


def left_event(member):
    """The group event that tells a room a member left, built like joined_event()."""
    return {"type": "presence.leave", "text": dumps({"type": "user.left", "user": member})}


def channel_of(text):
    return text.split("\n", 1)[0]


def member_of(text):
    return json.loads(text.split("\n", 1)[1])


class MemoryRoster:
    """The roster of one process, for the in-memory channel layer."""

    def __init__(self):
        # group -> {member id: (expiry time, entry text)}
        self.groups = {}

    async def join(self, group, texts, ttl):
        """Add or replace entries ({member id: entry text}); returns every entry of the group
        that has not expired."""
        entries = self.groups.setdefault(group, {})
        now = time.monotonic()
        for member_id, text in texts.items():
            entries[member_id] = (now + ttl, text)
        return [text for expiry, text in entries.values() if expiry > now]

    async def leave(self, group, member_id, channel):
        """Remove an entry if `channel` still owns it; True if it was removed."""
        entries = self.groups.get(group, {})
        entry = entries.get(member_id)
        if entry is None or not entry[1].startswith(channel + "\n"):
            return False
        del entries[member_id]
        if not entries:
            del self.groups[group]
        return True

    async def refresh(self, group, texts, ttl):
        """Renew this process's entries; returns (entries re-added, entries that expired).

        An entry gone from the roster (swept while this process stalled) is added again; one
        that another socket took over (the same member reconnected elsewhere) is left alone.
        """
        now = time.monotonic()
        entries = self.groups.setdefault(group, {})
        added = []
        for member_id, text in texts.items():
            current = entries.get(member_id)
            if current is None:
                added.append(text)
            elif current[1] != text:
                continue
            entries[member_id] = (now + ttl, text)
        expired = [member_id for member_id, (expiry, _) in entries.items() if expiry <= now]
        return added, [entries.pop(member_id)[1] for member_id in expired]


# KEYS[1]: the roster's expiry times (a sorted set of member ids), KEYS[2]: its entries (a hash).
# Redis's own clock decides what expired, so servers with different clocks agree.
REDIS_NOW = """
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
"""
REDIS_JOIN = (
    REDIS_NOW
    + """
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
end
redis.call('EXPIRE', KEYS[1], math.ceil(4 * ttl))
redis.call('EXPIRE', KEYS[2], math.ceil(4 * ttl))
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
if #ids == 0 then return {} end
return redis.call('HMGET', KEYS[2], unpack(ids))
"""
)
REDIS_LEAVE = """
local entry = redis.call('HGET', KEYS[2], ARGV[1])
if not entry or string.sub(entry, 1, #ARGV[2] + 1) ~= ARGV[2] .. '\\n' then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
"""
REDIS_REFRESH = (
    REDIS_NOW
    + """
local ttl = tonumber(ARGV[1])
local added = {}
for i = 2, #ARGV, 2 do
  local current = redis.call('HGET', KEYS[2], ARGV[i])
  if not current then
    table.insert(added, ARGV[i + 1])
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  end
  if not current or current == ARGV[i + 1] then
    redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
  end
end
local expired = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  table.insert(expired, redis.call('HGET', KEYS[2], id))
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[1], id)
end
redis.call('EXPIRE', KEYS[1], math.ceil(4 * ttl))
redis.call('EXPIRE', KEYS[2], math.ceil(4 * ttl))
return {added, expired}
"""
)


class RedisRoster:
    """The roster in Redis, shared by every server process that uses the same Redis."""

    def __init__(self, url):
        self.url = url
        # redis-py's connections belong to the event loop that opened them.
        self.clients = weakref.WeakKeyDictionary()

    def client(self):
        loop = asyncio.get_running_loop()
        if loop not in self.clients:
            self.clients[loop] = redis.asyncio.Redis.from_url(
                self.url, decode_responses=True, retry_on_error=[RedisConnectionError]
            )
        return self.clients[loop]

    @staticmethod
    def keys(group):
        return [f"chat.presence:{group}:expiry", f"chat.presence:{group}:entries"]

    async def join(self, group, texts, ttl):
        pairs = [value for item in texts.items() for value in item]
        texts = await self.client().eval(REDIS_JOIN, 2, *self.keys(group), ttl, *pairs)
        return [text for text in texts if text is not None]

    async def leave(self, group, member_id, channel):
        return bool(await self.client().eval(REDIS_LEAVE, 2, *self.keys(group), member_id, channel))

    async def refresh(self, group, texts, ttl):
        pairs = [value for item in texts.items() for value in item]
        added, expired = await self.client().eval(REDIS_REFRESH, 2, *self.keys(group), ttl, *pairs)
        return added, [text for text in expired if text is not None]


class Presence:
    """One process's view of the rosters: the members whose sockets it holds, refreshed every
    third of CHAT_PRESENCE_TTL, and the sweep that removes other processes' expired members.

    A room's roster is named after its channel layer group.
    """

    def __init__(self, channel_layer):
        self.channel_layer = channel_layer
        if isinstance(channel_layer, InMemoryChannelLayer):
            self.roster = MemoryRoster()
        else:
            self.roster = RedisRoster(settings.REDIS_URL)
        # group -> {member id: entry text} for the sockets of this process.
        self.local = {}
        # group -> ([(member id, entry text, future of the members)], the task that lists them).
        self.arriving = {}
        self.tasks = set()  # Those tasks: asyncio keeps only weak references to a task.
        self.refresher = None

    async def join(self, group, member, channel):
        """List a member and tell the room; returns the room's members, this one included.

        The arrivals that reach a room in one turn of the event loop (the sockets that one trip
        to the database answered together, chat/arrivals.py) are listed in one call to the
        roster and announced in one event. Each of them reads a list that names all of them,
        so none is sent a user.joined for the others: when every socket of a room comes back
        at once, that is one user.list for each and no user.joined at all.
        If the roster is unreachable this raises, and the room is not told: the member is
        listed and announced when this process next refreshes the roster.
        """
        text = entry_text(member, channel)
        self.local.setdefault(group, {})[member["id"]] = text
        if self.refresher is None:
            self.refresher = asyncio.create_task(self.refresh_forever())
        arriving = self.arriving.get(group)
        loop = asyncio.get_running_loop()
        # A task done and still here was cancelled; one of another loop is of a closed one.
        if arriving is None or arriving[1].done() or arriving[1].get_loop() is not loop:
            task = asyncio.create_task(self.list_arrivals(group))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            arriving = self.arriving[group] = ([], task)
        members = loop.create_future()
        arriving[0].append((member["id"], text, members))
        return await members

    async def list_arrivals(self, group):
        # A task starts at the loop's next turn: the arrivals of this turn are all in the list.
        arrivals, _ = self.arriving.pop(group)
        texts = {member_id: text for member_id, text, _ in arrivals}
        try:
            listed = await self.roster.join(group, texts, settings.CHAT_PRESENCE_TTL)
        except Exception as error:
            for *_, members in arrivals:
                if not members.done():  # Cancelled if its socket stopped waiting.
                    members.set_exception(error)
            return
        everyone = [member_of(text) for text in listed]
        for *_, members in arrivals:
            if not members.done():
                members.set_result(everyone)
        try:
            event = joined_event([member_of(text) for text in texts.values()])
            await self.channel_layer.group_send(group, event)
        except Exception:
            logger.warning("Could not announce the members who came to %s", group, exc_info=True)

    async def leave(self, group, member, channel):
        """Unlist a member; True if this call removed it (so its departure is announced once)."""
        entries = self.local.get(group, {})
        if entries.get(member["id"], "").startswith(channel + "\n"):
            del entries[member["id"]]
            if not entries:
                del self.local[group]
        if not self.local and self.refresher is not None:
            self.refresher.cancel()
            self.refresher = None
        return await self.roster.leave(group, member["id"], channel)

    async def refresh_forever(self):
        while True:
            await asyncio.sleep(settings.CHAT_PRESENCE_TTL / 3)
            for group in list(self.local):
                try:
                    await self.refresh(group)
                except Exception:
                    # Redis is unreachable: try again next time; the entries last until then.
                    logger.warning("Could not refresh the roster of %s", group, exc_info=True)

    async def refresh(self, group):
        """Renew this process's members of a room; announce re-added and expired members."""
        texts = dict(self.local.get(group, {}))
        added, expired = await self.roster.refresh(group, texts, settings.CHAT_PRESENCE_TTL)
        for text in added:
            # Gone from the roster: after a Redis restart, the group lost the channel too.
            await self.channel_layer.group_add(group, channel_of(text))
        if added:
            members = [member_of(text) for text in added]
            await self.channel_layer.group_send(group, joined_event(members))
        for text in expired:
            logger.info("%s: a member whose server stopped refreshing it left", group)
            await self.channel_layer.group_discard(group, channel_of(text))
            await self.channel_layer.group_send(group, left_event(member_of(text)))


processes = weakref.WeakKeyDictionary()


def presence_for(channel_layer):
    """This process's Presence for a channel layer (a new layer, as in tests, gets a new one)."""
    if channel_layer not in processes:
        processes[channel_layer] = Presence(channel_layer)
    return processes[channel_layer]
