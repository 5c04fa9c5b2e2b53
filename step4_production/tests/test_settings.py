"""Settings read from the environment, as the guide lists them (docs/reliability.md)."""

import json
import os
import subprocess
import sys

import pytest

SHOW_SETTINGS = (
    "import json, learning.settings as s; "
    "print(json.dumps([s.DEBUG, s.ALLOWED_HOSTS, s.CHAT_RATE_LIMIT, s.SECRET_KEY,"
    " s.CHANNEL_LAYERS['default']['BACKEND'], s.CHAT_MAX_SOCKETS_PER_ADDRESS,"
    " s.CHAT_MAX_REFUSALS, s.CHAT_MAX_REPLAY_BYTES]))"
)


def load_settings(show=SHOW_SETTINGS, **environ):
    """learning.settings loaded in a fresh interpreter with these environment variables; the
    output of the Python code `show`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CHAT_", "REDIS_", "CHANNEL_", "DATABASE_"))
    }
    return subprocess.run(
        [sys.executable, "-c", show],
        env={**env, **environ},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_defaults_are_for_local_development():
    """Without variables: DEBUG on, local hosts, 5 frames a second, the in-memory layer."""
    result = load_settings()
    debug, hosts, rate, _, backend, sockets, refusals, replay = json.loads(result.stdout)
    assert debug is True
    assert hosts == ["localhost", "127.0.0.1", "[::1]"]
    assert rate == 5
    assert backend == "chat.layers.FanOutInMemoryChannelLayer"
    assert (sockets, refusals, replay) == (100, 100, 512 * 1024)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("TRUE", True), ("yes", True), ("on", True)]
    + [("0", False), ("false", False), ("No", False), ("off", False)],
)
def test_django_debug_words(value, expected):
    """DJANGO_DEBUG takes 1/true/yes/on and 0/false/no/off, in any case."""
    result = load_settings(DJANGO_DEBUG=value, DJANGO_SECRET_KEY="x" * 50, CHANNEL_LAYER="memory")
    assert json.loads(result.stdout)[0] is expected


def test_django_debug_refuses_other_words():
    """A value that is neither stops start-up with a sentence that says what is allowed."""
    result = load_settings(DJANGO_DEBUG="maybe")
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be one of" in result.stderr


def test_hosts_key_and_rate_come_from_the_environment():
    """DJANGO_ALLOWED_HOSTS is comma-separated; the key and the rate are taken as given."""
    result = load_settings(
        DJANGO_ALLOWED_HOSTS=" chat.example.com, localhost ,",
        DJANGO_SECRET_KEY="k" * 50,
        CHAT_RATE_LIMIT="0",
    )
    _, hosts, rate, key, *_ = json.loads(result.stdout)
    assert hosts == ["chat.example.com", "localhost"]
    assert (key, rate) == ("k" * 50, 0)


def test_debug_off_without_a_secret_key_refuses_to_start():
    """DEBUG off without DJANGO_SECRET_KEY stops start-up: the development key is public."""
    result = load_settings(DJANGO_DEBUG="0", CHANNEL_LAYER="memory")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set: with DEBUG off" in result.stderr


def test_debug_off_refuses_the_in_memory_layer_unless_it_is_asked_for():
    """With DEBUG off and no REDIS_URL, a second worker would split every room: the server
    refuses to start until CHANNEL_LAYER=memory says one process is meant."""
    result = load_settings(DJANGO_DEBUG="0", DJANGO_SECRET_KEY="k" * 50)
    assert result.returncode != 0
    assert "set REDIS_URL, or CHANNEL_LAYER=memory for a single server process" in result.stderr
    result = load_settings(DJANGO_DEBUG="0", DJANGO_SECRET_KEY="k" * 50, CHANNEL_LAYER="memory")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[4] == "chat.layers.FanOutInMemoryChannelLayer"


def test_the_limits_come_from_the_environment():
    """Each CHAT_ limit is a number from the environment; 0 turns it off."""
    result = load_settings(
        CHAT_MAX_SOCKETS_PER_ADDRESS="0", CHAT_MAX_REFUSALS="7", CHAT_MAX_REPLAY_BYTES="1000"
    )
    assert json.loads(result.stdout)[5:] == [0, 7, 1000]


@pytest.mark.parametrize(
    "name",
    [
        "CHAT_RATE_LIMIT",
        "CHAT_MAX_SOCKETS_PER_ADDRESS",
        "CHAT_MAX_REFUSALS",
        "CHAT_MAX_REPLAY_BYTES",
    ],
)
@pytest.mark.parametrize("value", ["-1", "many", "nan"])
def test_a_limit_below_0_or_not_a_number_is_refused_at_start_up(name, value):
    """A limit below 0, or not a number, stops start-up, with a sentence that says why."""
    result = load_settings(**{name: value})
    assert result.returncode != 0
    assert f"{name} must be 0 (no limit) or more." in result.stderr


@pytest.mark.parametrize("value", ["0", "-5", "nan"])
def test_a_presence_ttl_that_is_not_a_positive_number_is_refused_at_start_up(value):
    """CHAT_PRESENCE_TTL must be seconds over 0: a roster whose entries never last is no list."""
    result = load_settings(CHAT_PRESENCE_TTL=value)
    assert result.returncode != 0
    assert "CHAT_PRESENCE_TTL must be a number of seconds over 0." in result.stderr


def test_the_presence_ttl_defaults_to_30_seconds_and_comes_from_the_environment():
    show = "import learning.settings as s; print(s.CHAT_PRESENCE_TTL)"
    for environ, expected in [({}, "30.0"), ({"CHAT_PRESENCE_TTL": "2.5"}, "2.5")]:
        result = load_settings(show, **environ)
        assert result.stdout.strip() == expected, result.stderr


def test_the_server_freezes_what_start_up_loaded_and_collects_garbage_rarely():
    """learning.asgi, which every server imports, freezes what start-up made and raises the
    collector's first threshold from Python's 700 new objects to 100,000 (docs/performance.md)."""
    show = "import gc, learning.asgi; print(gc.get_freeze_count() > 0, gc.get_threshold())"
    result = load_settings(show)
    assert result.stdout.strip() == "True (100000, 10, 10)", result.stderr
