"""Django settings for the workshop project.

https://docs.djangoproject.com/en/5.2/topics/settings/
"""

import os
import warnings
from pathlib import Path

import dj_database_url
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


DEBUG = env_flag("DJANGO_DEBUG", True)

# A development key: never use it on a server that other people can reach.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    SECRET_KEY = "django-insecure-workshop-key-for-local-development-only"
    if not DEBUG:
        warnings.warn("DJANGO_SECRET_KEY is not set: using the development key.", stacklevel=1)

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
]

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

# Frames per second one socket may send (a token bucket holding twice that); 0 turns it off.
CHAT_RATE_LIMIT = float(os.environ.get("CHAT_RATE_LIMIT", "5"))
if CHAT_RATE_LIMIT < 0:
    raise ImproperlyConfigured("CHAT_RATE_LIMIT must be 0 (no limit) or more.")

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
