"""Settings read from the environment, as the guide lists them (docs/reliability.md)."""

import json
import os
import subprocess
import sys

import pytest

SHOW_SETTINGS = (
    "import json, learning.settings as s; "
    "print(json.dumps([s.DEBUG, s.ALLOWED_HOSTS, s.CHAT_RATE_LIMIT, s.SECRET_KEY,"
    " s.CHANNEL_LAYERS['default']['BACKEND']]))"
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
    debug, hosts, rate, _, backend = json.loads(result.stdout)
    assert debug is True
    assert hosts == ["localhost", "127.0.0.1", "[::1]"]
    assert rate == 5
    assert backend == "chat.layers.FanOutInMemoryChannelLayer"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("TRUE", True), ("yes", True), ("on", True)]
    + [("0", False), ("false", False), ("No", False), ("off", False)],
)
def test_django_debug_words(value, expected):
    """DJANGO_DEBUG takes 1/true/yes/on and 0/false/no/off, in any case."""
    result = load_settings(DJANGO_DEBUG=value, DJANGO_SECRET_KEY="x" * 50)
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
    _, hosts, rate, key, _ = json.loads(result.stdout)
    assert hosts == ["chat.example.com", "localhost"]
    assert (key, rate) == ("k" * 50, 0)


def test_development_key_with_debug_off_warns():
    """DEBUG off without DJANGO_SECRET_KEY works, but says the development key is in use."""
    result = load_settings(DJANGO_DEBUG="0")
    assert result.returncode == 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_a_negative_rate_limit_is_refused_at_start_up():
    """CHAT_RATE_LIMIT below 0 stops start-up, with a sentence that says why."""
    result = load_settings(CHAT_RATE_LIMIT="-1")
    assert result.returncode != 0
    assert "CHAT_RATE_LIMIT must be 0 (no limit) or more." in result.stderr


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
