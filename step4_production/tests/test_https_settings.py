"""The settings for a server behind a TLS proxy and on another database, read from the
environment: what each variable turns on, and the sentence a bad value stops start-up with."""

import json

import pytest

from tests.test_production import check_ids, manage, production_environment
from tests.test_settings import load_settings

SHOW = (
    "import json, learning.settings as s; "
    "print(json.dumps([getattr(s, 'SECURE_PROXY_SSL_HEADER', None), s.SECURE_SSL_REDIRECT,"
    " s.SESSION_COOKIE_SECURE,"
    " s.SECURE_HSTS_SECONDS, s.CSRF_TRUSTED_ORIGINS, s.DATABASES['default']['ENGINE'],"
    " s.DATABASES['default'].get('HOST')]))"
)


def https_settings(**environ):
    result = load_settings(**environ, show=SHOW)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_by_default_nothing_trusts_a_proxy_and_sqlite_is_the_database():
    """No X-Forwarded-Proto trusted (a client could send it), no HSTS, SQLite."""
    header, redirect, secure_cookie, hsts, origins, engine, _ = https_settings()
    assert (header, redirect, secure_cookie, hsts, origins) == (None, False, False, 0, [])
    assert engine == "django.db.backends.sqlite3"


def test_behind_a_tls_proxy_the_forwarded_proto_is_trusted_and_cookies_are_secure():
    """DJANGO_HTTPS=1, DJANGO_HSTS_SECONDS and DJANGO_CSRF_TRUSTED_ORIGINS as the demo sets them."""
    header, redirect, secure_cookie, hsts, origins, _, _ = https_settings(
        DJANGO_HTTPS="1",
        DJANGO_HSTS_SECONDS="60",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://chat.example.com, https://127.0.0.1:8443",
    )
    assert header == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert (redirect, secure_cookie, hsts) == (True, True, 60)
    assert origins == ["https://chat.example.com", "https://127.0.0.1:8443"]


def test_database_url_selects_postgresql():
    """DATABASE_URL is parsed by dj-database-url: PostgreSQL through psycopg."""
    *_, engine, host = https_settings(DATABASE_URL="postgres://chat:secret@db.internal:5432/chat")
    assert (engine, host) == ("django.db.backends.postgresql", "db.internal")


@pytest.mark.parametrize(
    ("variables", "sentence"),
    [
        ({"DJANGO_HSTS_SECONDS": "a minute"}, "DJANGO_HSTS_SECONDS must be a whole number"),
        ({"DJANGO_HSTS_SECONDS": "-5"}, "DJANGO_HSTS_SECONDS must be a whole number"),
        (
            {"DJANGO_CSRF_TRUSTED_ORIGINS": "chat.example.com"},
            "DJANGO_CSRF_TRUSTED_ORIGINS holds origins with their scheme",
        ),
        ({"DATABASE_URL": "postgress://chat@db/chat"}, "Scheme 'postgress://' is unknown"),
    ],
    ids=["hsts-words", "hsts-negative", "origin-without-scheme", "database-url-typo"],
)
def test_a_bad_value_stops_start_up_with_a_sentence(variables, sentence):
    result = load_settings(**variables, show=SHOW)
    assert result.returncode != 0
    assert sentence in result.stderr


def test_check_deploy_with_hsts_leaves_only_the_domain_owners_choices():
    """With DJANGO_HTTPS=1 and HSTS on, `check --deploy` asks only about subdomains and the
    preload list: promises for a whole domain, which this project cannot make for you."""
    environment = production_environment(
        DJANGO_HTTPS="1", DJANGO_HSTS_SECONDS="60", CHANNEL_LAYER="memory"
    )
    result = manage("check", "--deploy", environment=environment)
    assert result.returncode == 0, result.stderr
    assert check_ids(result.stdout + result.stderr) == {"security.W005", "security.W021"}
