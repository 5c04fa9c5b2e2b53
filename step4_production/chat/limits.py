"""How much work one client can make the server do: sockets per address, frames per second,
the size of a frame and of a replay. Each limit is a setting (learning/settings.py)."""

import logging
import time
from collections import Counter, deque

from channels.security.websocket import WebsocketDenier
from django.conf import settings

from .protocol import FrameError, TokenBucket

logger = logging.getLogger(__name__)

# The longest text frame read at all, in characters. The largest valid frame is a 2,000
# character message in which every character is JSON-escaped as \uXXXX (12,000), plus a name,
# a client_id and the keys: well under this.
MAX_FRAME_LENGTH = 16_384
# Sustained abuse: more than `CHAT_MAX_REFUSALS` rate_limited refusals within this many seconds.
REFUSAL_WINDOW = 10
# The socket close code for sustained abuse: "policy violation".
# https://www.rfc-editor.org/rfc/rfc6455#section-7.4.1
POLICY_VIOLATION = 1008


class SustainedAbuse(Exception):
    """A socket that went on sending long after it was told it sends too fast."""


class SocketsPerAddressLimit:
    """ASGI middleware: at most CHAT_MAX_SOCKETS_PER_ADDRESS open sockets per client address.

    The address is scope["client"]: behind a proxy, the forwarded one when the server runs with
    --proxy-headers. Counted per server process; a handshake over the limit is refused (403).
    """

    def __init__(self, application):
        self.application = application
        self.open_sockets = Counter()

    async def __call__(self, scope, receive, send):
        limit = settings.CHAT_MAX_SOCKETS_PER_ADDRESS
        address = (scope.get("client") or [None])[0]
        if scope["type"] != "websocket" or not limit or address is None:
            return await self.application(scope, receive, send)
        if self.open_sockets[address] >= limit:
            logger.warning("Refused a socket from %s: it holds %d already", address, limit)
            return await WebsocketDenier()(scope, receive, send)
        self.open_sockets[address] += 1
        try:
            return await self.application(scope, receive, send)
        finally:
            # The application returns when its socket has closed, however it closed.
            self.open_sockets[address] -= 1
            if not self.open_sockets[address]:
                del self.open_sockets[address]


class RateBuckets:
    """One token bucket per signed-in user, or else per browser session, kept across sockets.

    So a client that reconnects finds its bucket as it left it. Never per address: a room of
    workshop attendees behind one address would share one. A socket without a session (a
    script that sends no cookie) gets a bucket of its own. Kept per server process.
    """

    # Past this many kept buckets, the ones that have refilled are dropped.
    MAX_KEPT = 10_000

    def __init__(self):
        self.buckets = {}

    def bucket_for(self, scope):
        key = owner(scope)
        if key is None:
            return TokenBucket(settings.CHAT_RATE_LIMIT)
        bucket = self.buckets.get(key)
        if bucket is None or bucket.rate != settings.CHAT_RATE_LIMIT:
            if len(self.buckets) >= self.MAX_KEPT:
                self.forget_full_buckets()
            bucket = self.buckets[key] = TokenBucket(settings.CHAT_RATE_LIMIT)
        return bucket

    def forget_full_buckets(self):
        """Drop the buckets that have refilled: a new one would be the same."""
        for key, bucket in list(self.buckets.items()):
            if bucket.tokens + (bucket.clock() - bucket.updated) * bucket.rate >= bucket.capacity:
                del self.buckets[key]


rate_buckets = RateBuckets()


def owner(scope):
    """Whose frames these are, for the rate limit: ("user", id), ("session", key) or None."""
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        return ("user", user.pk)
    session = scope.get("session")
    # Reading the user (above) has read the session: a key that is missing or names no session
    # is None here.
    if session is not None and session.session_key:
        return ("session", session.session_key)
    return None


class FrameGate:
    """What every frame passes before anything reads it: the sender's rate, then its size.

    A refused frame is not parsed: its error names no client_id.
    """

    def __init__(self, scope, clock=time.monotonic):
        self.bucket = rate_buckets.bucket_for(scope)
        self.clock = clock
        self.refusals = deque()

    def admit(self, text_data):
        if not self.bucket.allow():  # Every frame counts, good or bad.
            self.count_refusal()
            raise FrameError("rate_limited", "You are sending too fast: wait a moment.")
        if text_data is not None and len(text_data) > MAX_FRAME_LENGTH:
            raise FrameError("too_long", f"A frame is at most {MAX_FRAME_LENGTH} characters.")

    def count_refusal(self):
        limit = settings.CHAT_MAX_REFUSALS
        if not limit:
            return
        now = self.clock()
        self.refusals.append(now)
        while self.refusals[0] <= now - REFUSAL_WINDOW:
            self.refusals.popleft()
        if len(self.refusals) > limit:
            raise SustainedAbuse(f"{len(self.refusals)} refused frames in {REFUSAL_WINDOW} s")


def newest_within(messages, budget):
    """The leading messages (newest first) whose text fits in `budget` bytes; at least one."""
    kept = []
    for message in messages:
        budget -= len(message.body.encode()) + len(message.sentBy.encode())
        if budget < 0 and kept:
            break
        kept.append(message)
    return kept
