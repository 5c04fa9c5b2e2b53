"""Who is speaking: a signed-in user only while their session lives, a guest under a name
that no registered user has.

https://docs.djangoproject.com/en/5.2/topics/auth/default/#session-invalidation-on-password-change
"""

import functools
import logging
from importlib import import_module
from types import SimpleNamespace

from asgiref.sync import async_to_sync
from channels.auth import AuthMiddleware
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.layers import get_channel_layer
from channels.sessions import CookieMiddleware, InstanceSessionWrapper, SessionMiddleware
from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model, user_logged_out
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save
from django.utils.asyncio import async_unsafe
from django.utils.functional import SimpleLazyObject

from .protocol import FrameError

logger = logging.getLogger(__name__)

# The close code of a socket whose session ended, like HTTP's 401. The page does not reconnect
# after it: it would come back as a guest, so it asks for a reload instead.
SESSION_ENDED = 4401


class SessionEnded(Exception):
    """The session a signed-in socket opened with is over: logged out, expired or deleted."""


def user_group_name(user_id):
    """The channel layer group of one user's sockets, in every room and on every server."""
    return f"user_{user_id}"


def is_registered_name(name):
    """True when a registered user has this username, in any case."""
    return bool(registered_names([name]))


def registered_names(names):
    """Those of `names` that a registered user has, in any case: one SELECT for all of them.

    Each name is already normalised as read_username() does it. Case is compared by the
    database, with UPPER() as the ORM's iexact does: for every letter on PostgreSQL, for ASCII
    letters only on SQLite. The guests that arrive together ask this together (arrivals.py), so
    it is one plain SELECT rather than a query the ORM builds anew each time.
    """
    candidates = [each for name in names for each in (name, name.casefold())]
    if not candidates:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(registered_names_sql(len(candidates)), candidates)
        found = {name for (name,) in cursor.fetchall()}
    return {name for name in names if name in found or name.casefold() in found}


@functools.lru_cache(maxsize=256)
def registered_names_sql(count):
    """Which of `count` names a user's name is, in any case (%s for each name)."""
    model = get_user_model()
    quote = connection.ops.quote_name
    column = quote(model._meta.get_field(model.USERNAME_FIELD).column)
    table = quote(model._meta.db_table)
    values = ", ".join(["(%s)"] * count)
    return (
        f"WITH names (name) AS (VALUES {values}) SELECT name FROM names WHERE EXISTS "
        f"(SELECT 1 FROM {table} WHERE UPPER({column}) = UPPER(names.name))"
    )


def refuse_registered_name(name):
    """invalid_username for a guest who gives a registered user's name."""
    if is_registered_name(name):
        raise FrameError("invalid_username", f"{name} is a registered user's name: choose another.")


def user_of(session):
    """The user of a session, checked as Django checks a request's (the user exists, is active,
    and the session's password hash matches); AnonymousUser otherwise. Reads the database."""
    return auth.get_user(SimpleNamespace(session=session))


class SocketSessionMiddleware(SessionMiddleware):
    """Channels' SessionMiddleware without its wrapper around send(), for sockets only.

    The wrapper reads session.modified and session.is_empty() before every message sent, to save
    a changed session with an http.response.start, which a socket never sends.
    """

    async def __call__(self, scope, receive, send):
        wrapper = InstanceSessionWrapper(scope, send)
        await wrapper.resolve_session()
        return await self.inner(wrapper.scope, receive, send)


class SessionUser(SimpleLazyObject):
    """scope["user"] until it is first read, which must be in the database thread: read in the
    event loop, it fails at once, with or without a session, so a test finds the mistake."""

    @async_unsafe(
        'scope["user"] reads the session from the database: read it first inside '
        "database_sync_to_async, as arrivals.read_on_joining() does for ChatConsumer.connect()"
    )
    def _setup(self):
        super()._setup()


class SocketAuthMiddleware(AuthMiddleware):
    """Channels' AuthMiddleware, with the user read where it is first used, as Django's own
    AuthenticationMiddleware gives a request a lazy user.

    Channels' reads it at the handshake, in a trip of its own to the database thread, even when
    there is no session to read. The chat's consumer first uses it in the trip it makes on
    connecting (arrivals.read_on_joining()).
    """

    async def resolve_scope(self, scope):
        session = scope["session"]
        scope["user"] = SessionUser(lambda: user_of(session))


def SocketAuthMiddlewareStack(inner):  # noqa: N802 - named like Channels' AuthMiddlewareStack
    """AuthMiddlewareStack for sockets: the cookies, the session, then the user in scope."""
    return CookieMiddleware(SocketSessionMiddleware(SocketAuthMiddleware(inner)))


class SessionBoundConsumer:
    """A consumer mixin: a signed-in socket lasts as long as the session it opened with.

    Its sockets join the user's group, so that logging out, a changed password, a deactivated
    or deleted account closes them at once (the signal receivers below). A session that ends
    without a signal (it expires, or its row is deleted) is noticed at the socket's next
    message: each one from a signed-in user reads the session and the user again.
    """

    user_group_name = None  # Until bind_to_session().

    async def bind_to_session(self):
        self.session_key = self.scope["session"].session_key
        if self.user.is_authenticated:
            self.user_group_name = user_group_name(self.user.pk)
            await self.channel_layer.group_add(self.user_group_name, self.channel_name)

    async def unbind_session(self):
        if self.user_group_name is not None:
            await self.channel_layer.group_discard(self.user_group_name, self.channel_name)

    def session_is_current(self):
        """Whether the session, read afresh, is still this user's, with today's password.

        Django's get_user() checks what it checks for a request. It reads the database: run it
        in the database thread.
        """
        user = user_of(import_module(settings.SESSION_ENGINE).SessionStore(self.session_key))
        return user.is_authenticated and user.pk == self.user.pk

    async def still_signed_in(self):
        return await database_sync_to_async(self.session_is_current)()

    async def session_check(self, event):
        """The user logged out, or their account changed: close if our session is over."""
        if not self.user.is_authenticated:
            return
        if event.get("session_key") == self.session_key or not await self.still_signed_in():
            await self.close(code=SESSION_ENDED)
            raise StopConsumer


def check_user_sockets(user_id, session_key=None):
    """Ask every open socket of this user to check its session, once the change is committed.

    A socket of `session_key`, a session that is being logged out, closes without checking.
    """

    def send():
        event = {"type": "session.check", "session_key": session_key}
        try:
            async_to_sync(get_channel_layer().group_send)(user_group_name(user_id), event)
        except Exception:
            # The layer is unreachable: each socket still checks its session at its next frame.
            logger.warning("Could not reach the sockets of user %s", user_id, exc_info=True)

    transaction.on_commit(send)


def user_logged_out_receiver(sender, request, user, **kwargs):
    if user is not None:
        session = getattr(request, "session", None)
        check_user_sockets(user.pk, session.session_key if session is not None else None)


def user_changed_receiver(sender, instance, **kwargs):
    # A new password or is_active=False makes the user's sessions fail the check; any other
    # change (a login updates last_login) passes it.
    check_user_sockets(instance.pk)


def connect_receivers():
    """Called from ChatConfig.ready(): Django sends these signals, the receivers tell sockets."""
    user_logged_out.connect(user_logged_out_receiver, dispatch_uid="chat-logged-out")
    user_model = settings.AUTH_USER_MODEL
    post_save.connect(user_changed_receiver, sender=user_model, dispatch_uid="chat-user-saved")
    post_delete.connect(user_changed_receiver, sender=user_model, dispatch_uid="chat-user-gone")
