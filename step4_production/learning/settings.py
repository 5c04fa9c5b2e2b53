"""Django settings for the workshop project.

https://docs.djangoproject.com/en/5.2/topics/settings/
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from redis.exceptions import ConnectionError as RedisConnectionError

BASE_DIR = Path(__file__).resolve().parent.parent


def env_flag(name, default):
    """A yes/no setting from the environment: 1/true/yes/on or 0/false/no/off."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/true/yes/on or 0/false/no/off.")


def env_number(name, default, kind=int):
    """A limit from the environment: a number, 0 or more; 0 turns the limit off."""
    try:
        value = kind(os.environ.get(name, "") or default)
    except ValueError:
        value = -1
    if not value >= 0:  # Below 0, or not a number at all (nan).
        raise ImproperlyConfigured(f"{name} must be 0 (no limit) or more.")
    return value


DEBUG = env_flag("DJANGO_DEBUG", True)

# A development key, for DEBUG only: a server that other people can reach needs its own.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set: with DEBUG off, give the server a key of its own."
        )
    SECRET_KEY = "django-insecure-workshop-key-for-local-development-only"

# Hosts this site answers to; the WebSocket origin check uses the same list.
ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if host.strip()
]

# Behind HTTPS (DJANGO_HTTPS=1, with the proxy's X-Forwarded-Proto passed on): redirect plain
# HTTP to HTTPS and send the session and CSRF cookies over HTTPS only.
# https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/
HTTPS = env_flag("DJANGO_HTTPS", False)
SECURE_SSL_REDIRECT = SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
if HTTPS:
    # The proxy terminates TLS and says so in X-Forwarded-Proto. Trust it only with a proxy in
    # front that always sets it (deploy/nginx.conf does): anyone else could send it too.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# HSTS: browsers remember to refuse plain HTTP to this host for this many seconds, even after
# HTTPS is gone. 0 sends no header; raise it once the site is HTTPS for good.
hsts_seconds = os.environ.get("DJANGO_HSTS_SECONDS", "0").strip()
if not hsts_seconds.isdigit():
    raise ImproperlyConfigured("DJANGO_HSTS_SECONDS must be a whole number of seconds, or 0.")
SECURE_HSTS_SECONDS = int(hsts_seconds)
# Origins (https://host:port) allowed to post forms besides the one Django sees itself served
# at: needed when the address in the browser is not the Host and scheme that reach Django.
CSRF_TRUSTED_ORIGINS = [
    origin.strip()
    for origin in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",")
    if origin.strip()
]
if any(not origin.startswith(("https://", "http://")) for origin in CSRF_TRUSTED_ORIGINS):
    raise ImproperlyConfigured(
        "DJANGO_CSRF_TRUSTED_ORIGINS holds origins with their scheme: https://chat.example.com"
    )

INSTALLED_APPS = [
    # Daphne first: its runserver replaces Django's and serves HTTP and WebSockets (ASGI).
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "chat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it answers a locked-out login with 429.
    "axes.middleware.AxesMiddleware",
]

# The browser runs this site's own script files and nothing else: no inline script, no other
# host's, so text that slipped into a page as HTML could still not run. The sockets and
# django-browser-reload's events are 'self' too (connect-src).
# https://django-csp.readthedocs.io/en/latest/configuration.html
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Wrong passwords at /admin/login/ are throttled by django-axes: after AXES_FAILURE_LIMIT of
# them for one username from one address, that pair is refused (429) for AXES_COOLOFF_TIME.
# The pair, not the address: a room of attendees behind one address is not locked out by one
# of them. The address is REMOTE_ADDR, the one the server took from the proxy (--proxy-headers).
# https://django-axes.readthedocs.io/en/latest/4_configuration.html
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True

ROOT_URLCONF = "learning.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "learning.wsgi.application"
# What Daphne serves: HTTP and WebSocket routing, in learning/asgi.py.
ASGI_APPLICATION = "learning.asgi.application"

# The channel layer carries messages between consumers: in this process by default, or
# through Redis (REDIS_URL) so that several server processes share the same groups.
# https://channels.readthedocs.io/en/stable/topics/channel_layers.html
# A member's channel holds up to `capacity` messages; past that, group_send drops silently.
CHANNEL_LAYER_CAPACITY = 1000
REDIS_URL = os.environ.get("REDIS_URL", "")
# memory, redis (channels_redis's RedisChannelLayer) or redis-pubsub (its RedisPubSubChannelLayer).
CHANNEL_LAYER = os.environ.get("CHANNEL_LAYER", "") or ("redis" if REDIS_URL else "memory")
if CHANNEL_LAYER == "memory" and not DEBUG and not os.environ.get("CHANNEL_LAYER"):
    # Each process would have rooms of its own, and a second worker would split every room.
    raise ImproperlyConfigured(
        "With DEBUG off, set REDIS_URL, or CHANNEL_LAYER=memory for a single server process."
    )
if CHANNEL_LAYER in ("redis", "redis-pubsub") and not REDIS_URL:
    raise ImproperlyConfigured(f"CHANNEL_LAYER={CHANNEL_LAYER} needs REDIS_URL.")
# Each host dict holds keyword arguments for redis-py's connection pool.
# https://redis.readthedocs.io/en/stable/connections.html
REDIS_HOSTS = [
    {
        "address": REDIS_URL,
        # redis-py 8 gives up on a reply after 5 s, but the layer waits longer than that for
        # messages to a quiet room: no timeout, so idle sockets stay open.
        "socket_timeout": None,
        # After Redis restarts, pooled connections are dead: retry once on a new connection.
        "retry_on_error": [RedisConnectionError],
        # redis-py's pool allows 100 connections; a room of 200 joining at once needs more.
        "max_connections": 1000,
    }
]
if CHANNEL_LAYER == "redis":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # One Redis queue holds the messages for every socket of a server process, so
            # this capacity is per process, not per socket as in memory.
            "CONFIG": {"hosts": REDIS_HOSTS, "capacity": 100 * CHANNEL_LAYER_CAPACITY},
        }
    }
elif CHANNEL_LAYER == "redis-pubsub":
    # Redis pub/sub: no queues in Redis and no capacity; a message reaches whoever listens now.
    # https://github.com/django/channels_redis
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": REDIS_HOSTS},
        }
    }
elif CHANNEL_LAYER == "memory":
    CHANNEL_LAYERS = {
        "default": {
            # Channels' InMemoryChannelLayer, with less work per member (chat/layers.py).
            "BACKEND": "chat.layers.FanOutInMemoryChannelLayer",
            "CONFIG": {"capacity": CHANNEL_LAYER_CAPACITY},
        }
    }
else:
    raise ImproperlyConfigured("CHANNEL_LAYER must be memory, redis or redis-pubsub.")

# What one client may make the server do (chat/limits.py); each 0 turns its limit off.
# Frames per second one signed-in user or browser session may send, as a token bucket holding
# twice that: a reconnect does not refill it.
CHAT_RATE_LIMIT = env_number("CHAT_RATE_LIMIT", 5, float)
# A socket refused this many times within 10 s, and still sending, is closed (code 1008).
CHAT_MAX_REFUSALS = env_number("CHAT_MAX_REFUSALS", 100)
# Open sockets per client address (per server process). A workshop of 30 attendees behind one
# address, each with a few tabs, stays well under the default.
CHAT_MAX_SOCKETS_PER_ADDRESS = env_number("CHAT_MAX_SOCKETS_PER_ADDRESS", 100)
# The bytes of message text replayed to a socket that reconnects with ?after=.
CHAT_MAX_REPLAY_BYTES = env_number("CHAT_MAX_REPLAY_BYTES", 512 * 1024)

# Seconds a room's roster lists a member whose server stopped refreshing it (chat/presence.py);
# each server refreshes its own members every third of that.
CHAT_PRESENCE_TTL = float(os.environ.get("CHAT_PRESENCE_TTL", "30"))
if not CHAT_PRESENCE_TTL > 0:
    raise ImproperlyConfigured("CHAT_PRESENCE_TTL must be a number of seconds over 0.")

# SQLite in a file unless DATABASE_URL names another database, such as the PostgreSQL that
# servers on several machines share: postgres://user:password@host:5432/name
# https://github.com/jazzband/dj-database-url
DATABASE_URL = os.environ.get("DATABASE_URL", "")
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
        # Keep the connection open between messages instead of opening one per save.
        "CONN_MAX_AGE": None,
        "OPTIONS": {
            # Take the write lock when a transaction starts, so two servers saving at once
            # wait for each other instead of failing with "database is locked".
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            # Readers do not block the writer: https://www.sqlite.org/wal.html
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
        # Tests get a file of their own, so a test server in another process can share it
        # and the development database is never wiped.
        "TEST": {"NAME": BASE_DIR / "test_db.sqlite3"},
    }
}
if DATABASE_URL:
    # Connections stay open, and one the database closed (a restart) is replaced before use.
    DATABASES["default"] = dj_database_url.parse(
        DATABASE_URL, conn_max_age=None, conn_health_checks=True
    )

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
if not DEBUG:
    # runserver serves the static files in DEBUG; in production WhiteNoise serves the copies
    # that `manage.py collectstatic` put in STATIC_ROOT. It goes right after SecurityMiddleware:
    # https://whitenoise.readthedocs.io/en/stable/django.html
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Reload the browser when a template, static file or Python file changes (DEBUG only).
# https://github.com/adamchainz/django-browser-reload
if DEBUG:
    INSTALLED_APPS += ["django_browser_reload"]
    MIDDLEWARE += ["django_browser_reload.middleware.BrowserReloadMiddleware"]
