"""The chat's WebSocket consumer.

https://channels.readthedocs.io/en/stable/topics/consumers.html
"""

import asyncio
import logging
import uuid
from urllib.parse import parse_qs

from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.db import DatabaseError
from django.utils.crypto import salted_hmac

from . import store
from .arrivals import read_on_arriving
from .identity import (
    SESSION_ENDED,
    SessionBoundConsumer,
    SessionEnded,
    refuse_registered_name,
)
from .limits import POLICY_VIOLATION, FrameGate, SustainedAbuse
from .presence import left_event, presence_for
from .protocol import (
    CLIENT_ID_PATTERN,
    FrameError,
    client_id_of,
    dumps,
    read_client_id,
    read_frame,
    read_message,
    read_username,
)

logger = logging.getLogger(__name__)


def room_group_name(room_name):
    """The channel layer group of a room: every socket in the room is a member."""
    return f"chat_{room_name}"


def message_event(message):
    """The group event that delivers a saved message to every socket in its room.

    The frame's JSON text is built once here, not once per member.
    """
    return {"type": "chat.message", "sequence": message.sequence, "text": dumps(message.to_frame())}


class ChatConsumer(SessionBoundConsumer, AsyncWebsocketConsumer):
    """Everyone in a room hears every message, through the room's group on the channel layer."""

    async def connect(self):
        """Join the room's group, accept, send the history, and tell the room we are here."""
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = room_group_name(self.room_name)
        query = parse_qs(self.scope["query_string"].decode("latin-1"))
        self.member = {"id": member_id(query)}
        # Join before reading the history: a message saved in between then arrives twice
        # (and is dropped by its sequence number) rather than never.
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        self.joined = True
        # The frames read but not saved yet, the task saving them, and whether the socket ends.
        self.waiting, self.saving, self.ending = [], None, False
        # One delivery at a time: a room event, and a resend answered while it fills a gap.
        self.delivering = asyncio.Lock()
        await self.accept()
        try:
            # The user is read there too, from the session (SocketAuthMiddleware).
            self.guest_name, self.room, after, messages = await read_on_arriving(
                self.room_name, self.scope["user"], query
            )
        except DatabaseError:
            # Without its history the page would show a room with holes: close with 1011
            # (server error), and the page tries again after its backoff.
            logger.exception("Could not read room %s", self.room_name)
            await self.close(code=1011)
            raise StopConsumer from None
        self.user = self.scope["user"]
        self.frame_gate = FrameGate(self.scope)
        self.member["authenticated"] = self.user.is_authenticated
        await self.bind_to_session()
        # A guest's name is fixed for the socket: its ?username=, or its first good message's.
        listed_as = self.user.username if self.user.is_authenticated else self.guest_name
        self.member["username"] = listed_as or "anonymous"
        self.last_sequence = messages[-1].sequence if messages else (after or 0)
        # The history and the user list go out together, once the sockets that arrived with
        # this one are listed too: one write to the socket, not two.
        members = await self.enter_roster()
        await self.send_history(messages)
        await self.send_json({"type": "user.list", "users": members})

    async def receive(self, text_data=None, bytes_data=None):
        """Save a good message, then send it to the whole room; a bad frame gets an error."""
        if self.ending:
            return  # Closing: its session ended.
        try:
            self.frame_gate.admit(text_data)
        except SustainedAbuse as abuse:
            logger.warning("Room %s: closed a socket for abuse: %s", self.room_name, abuse)
            await self.close(code=POLICY_VIOLATION)
            raise StopConsumer from None  # Read nothing more from it.
        except FrameError as error:
            await self.send_json(error.as_frame())  # Refused unread: no client_id to name.
            return
        frame = None
        try:
            frame = read_frame(text_data, bytes_data)
            message = read_message(frame)
            username = await self.sender_name(frame)
            client_id = read_client_id(frame)
        except FrameError as error:
            await self.send_json(error.as_frame(client_id_of(frame)))
            return
        if not self.user.is_authenticated and self.guest_name is None:
            self.guest_name = username  # From now on; listed once the message is sent.
        # Saved by a task of its own, so that the frames that arrive meanwhile are read: a
        # socket that sends faster than one save at a time has those saved together.
        self.waiting.append((message, client_id))
        if self.saving is None or self.saving.done():
            self.saving = asyncio.create_task(self.save_waiting(username))

    async def save_waiting(self, username):
        """Save the frames that wait, in one transaction, then send each to the room."""
        try:
            while self.waiting and not self.ending:
                texts, self.waiting = self.waiting, []
                try:
                    saved = await self.save(texts, username)
                except FrameError as error:
                    for _, client_id in texts:
                        await self.send_json(error.as_frame(client_id))
                    continue
                for message, created in saved:
                    await self.deliver(message, created)
                await self.list_guest_name()
        except SessionEnded:
            await self.end(SESSION_ENDED)
        except Exception:
            # As when a handler raises: the socket closes with 1011 (server error).
            logger.exception("Room %s: could not save or send messages", self.room_name)
            await self.end(1011)

    async def end(self, code):
        """Close the socket, and read nothing more from it."""
        self.ending = True
        await self.close(code=code)

    async def deliver(self, saved, created):
        """A saved message to the room; a resend only to its sender, who may not have it."""
        if created:
            await self.send_to_room(saved)
        elif saved.sequence > self.last_sequence:
            # A resend of a message saved before, which this socket was not sent yet: in its
            # place in the stream, so that its room event, if still on its way, is dropped.
            await self.chat_message(message_event(saved))
        else:
            # A resend of a message this socket was sent before: its sender needs it back.
            await self.send(text_data=dumps(saved.to_frame()))

    async def sender_name(self, frame):
        """Who a frame is from: a logged-in user while the session lives, or the guest's name
        for the socket, which no registered user has."""
        if self.user.is_authenticated:
            return self.user.username  # Its session is checked as the message is saved.
        username = read_username(frame)
        if self.guest_name is not None and username != self.guest_name:
            detail = f"This socket's name is {self.guest_name}: reconnect to change it."
            raise FrameError("invalid_username", detail)
        if self.guest_name is None:
            await database_sync_to_async(refuse_registered_name)(username)
        return username

    async def list_guest_name(self):
        """A guest without a name in its URL is named by its first good message, in the list too."""
        if self.guest_name is not None and self.member["username"] != self.guest_name:
            self.member["username"] = self.guest_name
            await self.enter_roster()

    async def save(self, texts, username):
        try:
            return await database_sync_to_async(self.save_from_sender)(texts, username)
        except DatabaseError:
            logger.exception("Could not save a message in room %s", self.room_name)
            detail = "The message could not be saved: send it again."
            raise FrameError("not_saved", detail) from None

    def save_from_sender(self, texts, username):
        """In one trip to the database thread: a signed-in sender's session is checked (and
        SessionEnded raised if it is over), then the messages saved."""
        user = None
        if self.user.is_authenticated:
            if not self.session_is_current():
                raise SessionEnded
            user = self.user
        return store.save_messages(self.room, texts, username, user=user)

    async def send_to_room(self, message):
        """group_send a saved message; if the channel layer fails, tell its sender instead."""
        try:
            await self.channel_layer.group_send(self.room_group_name, message_event(message))
        except Exception:
            # The layer (Redis) is unreachable. The message is saved: its sender sees it now,
            # the others from the database when they reconnect or the next message arrives.
            logger.exception("Could not send a message to group %s", self.room_group_name)
            await self.chat_message(message_event(message))
            detail = "Saved, but the room could not be reached: the others will see it later."
            await self.send_json({"type": "error", "code": "not_delivered", "detail": detail})

    async def chat_message(self, event):
        """A saved message for this socket; a gap before it is filled from the database."""
        async with self.delivering:
            sequence = event["sequence"]
            if sequence <= self.last_sequence:
                return  # Already sent: in the history, or while filling a gap.
            if sequence > self.last_sequence + 1:
                missed = await database_sync_to_async(store.messages_between)(
                    self.room, self.last_sequence, sequence
                )
                # The layer dropped events for this socket (its channel was full) or another
                # server's event came first: the log says how often, to size the layer's capacity.
                logger.info(
                    "Room %s: %d missed messages sent from the database",
                    self.room_name,
                    len(missed),
                )
                for message in missed:
                    await self.send(text_data=dumps(message.to_frame()))
            await self.send(text_data=event["text"])
            self.last_sequence = sequence

    async def enter_roster(self):
        """List this socket in the room's roster, and so tell the room; the room's members.

        If the roster or the layer (Redis) is unreachable, the socket works on: the room lists
        it when its server next refreshes the roster.
        """
        try:
            return await presence_for(self.channel_layer).join(
                self.room_group_name, self.member, self.channel_name
            )
        except Exception:
            logger.warning("Could not read the roster of %s", self.room_name, exc_info=True)
            return [self.member]

    async def presence_join(self, event):
        """Members entered the room; those who came with this socket are in its user.list."""
        if self.member["id"] not in event["member_ids"]:
            for text in event["texts"]:
                await self.send(text_data=text)

    async def presence_leave(self, event):
        """Someone left the room."""
        await self.send(text_data=event["text"])

    async def disconnect(self, close_code):
        """Leave the room's group and tell the others."""
        await self.leave_room()

    async def __call__(self, scope, receive, send):
        # Leave the group even when a handler raised: a dead channel must not stay a member.
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.leave_room()

    async def dispatch(self, message):
        """Run the handler for a message's type: receive() for a frame, chat_message()...

        Channels' own dispatch() first calls aclose_old_connections(): a trip to the thread
        that runs database code, for every frame and every room message, which costs more than
        sending the message on. This consumer reaches the database only through
        database_sync_to_async, which closes stale connections itself, so the trip is left
        out (docs/performance.md measures the difference; tests/test_database_access.py fails
        if a query runs any other way).
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def leave_room(self):
        if not getattr(self, "joined", False):
            return
        self.joined = False
        if self.saving is not None:
            # What the socket sent before it closed is saved, and sent to the room.
            await self.saving
        presence = presence_for(self.channel_layer)
        try:
            await self.unbind_session()
            # This process stops refreshing the entry first, whatever Redis answers. False when
            # the member reconnected elsewhere, or was swept off the roster already.
            listed = await presence.leave(self.room_group_name, self.member, self.channel_name)
            await self.channel_layer.group_discard(self.room_group_name, self.channel_name)
            if listed:
                await self.channel_layer.group_send(self.room_group_name, left_event(self.member))
        except Exception:
            # The layer (Redis) is unreachable. The roster entry expires unrefreshed, and the
            # server that sweeps it takes the channel out of the group and says it left.
            logger.warning("Could not leave group %s", self.room_group_name, exc_info=True)

    async def send_history(self, messages):
        """The history in frames of at most HISTORY_LENGTH messages, each well under 1 MiB."""
        for start in range(0, max(len(messages), 1), store.HISTORY_LENGTH):
            chunk = messages[start : start + store.HISTORY_LENGTH]
            await self.send_json(
                {"type": "history", "messages": [message.to_frame() for message in chunk]}
            )

    async def send(self, text_data=None, bytes_data=None, close=False):
        """Send a frame; a socket that closed while a room event was on its way is no error.

        When many people leave at once, a presence.leave can be handled before this socket's
        own websocket.disconnect, which is already queued: disconnect() still cleans up.
        """
        try:
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)
        except (Disconnected, OSError):  # "Already closed", from Daphne and from uvicorn.
            logger.debug("Room %s: a frame for a closed socket was dropped", self.room_name)

    async def send_json(self, content):
        await self.send(text_data=dumps(content))


def member_id(query):
    """The socket's id in the user list: the same for every socket of one page (?member=...).

    The page's key stays in the page; the room sees only this hash of it, so nobody can take
    over another member's entry by copying the id from the list.
    """
    key = query.get("member", [""])[-1]
    if not CLIENT_ID_PATTERN.fullmatch(key):
        return uuid.uuid4().hex
    return salted_hmac("chat.presence.member", key).hexdigest()[:32]
