"""The chat as it is deployed, for tests: nginx with TLS (deploy/nginx.conf) in front of two
servers running the production command, sharing one redis-server.

Everything runs on free ports from temporary folders and is stopped on exit. The servers use
the test's database: the SQLite file of the test run, or DATABASE_URL given in `database`.
"""

import ssl
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from django.db import connection

from deploy.proxy import SERVER_COMMAND, Nginx, find_nginx, make_certificate, render
from tests.servers import (
    STEP_DIR,
    ChildServer,
    free_port,
    missing,
    redis_server,
    wait_for_port,
)
from tests.test_production import manage, production_environment


def require_nginx():
    """Skips on a laptop without nginx, fails in CI."""
    if find_nginx() is None:
        missing("nginx is needed for the proxy tests: sudo apt-get install nginx")


def server_command(port, ping_interval=None):
    """deploy/proxy.py's server command on this port; pinging more often if asked."""
    command = [*SERVER_COMMAND, "--host", "127.0.0.1", "--port", str(port)]
    if ping_interval is not None:
        command += ["--ws-ping-interval", str(ping_interval)]
    return [sys.executable, "-m", *command]


class ChatServer(ChildServer):
    """One upstream server; stop() and start() it again on the same port for a restart."""

    def __init__(self, environment, ping_interval=None):
        self.port = free_port()
        self.environment = environment
        self.command = server_command(self.port, ping_interval)
        self.log = tempfile.TemporaryFile()

    def start(self):
        return self.launch().wait()

    def launch(self):
        self.process = subprocess.Popen(
            self.command, cwd=STEP_DIR, env=self.environment, stdout=self.log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        return self

    def wait(self):
        """Returns once the server listens."""
        wait_for_port(self.port, self.process)
        return self

    def output(self):
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")


class ProxiedChat:
    """`with ProxiedChat() as chat:` nginx on https://127.0.0.1:chat.port/ and its two servers.

    `settings` are environment variables for the servers (DJANGO_HTTPS=1 unless replaced);
    `database` too (DATABASE_URL; the test run's SQLite file when empty). `edit_config(text)`
    returns the nginx.conf to run instead of the committed one (a test shortening a timeout or
    provoking a failure). `one_server` puts the same server twice in the upstream block.
    """

    def __init__(self, settings=None, database=None, edit_config=None, ping_interval=None,
                 one_server=False):  # fmt: skip
        self.settings = {"DJANGO_HTTPS": "1", **(settings or {})}
        self.database = database or {
            "DJANGO_SETTINGS_MODULE": "tests.reliability_settings",
            "CHAT_TEST_DATABASE": str(connection.settings_dict["NAME"]),
        }
        self.edit_config = edit_config or (lambda text: text)
        self.ping_interval = ping_interval
        self.one_server = one_server
        self.stack = ExitStack()

    def __enter__(self):
        require_nginx()
        try:
            self.start()
        except BaseException:
            self.stack.close()
            raise
        return self

    def start(self):
        self.folder = Path(self.stack.enter_context(tempfile.TemporaryDirectory()))
        self.folder.chmod(0o755)  # nginx's workers (the user nobody, under root) read from it
        static_root = self.folder / "static"
        redis = self.stack.enter_context(redis_server())
        environment = production_environment(
            REDIS_URL=redis.url,
            CHAT_TEST_STATIC_ROOT=str(static_root),
            PYTHONPATH=str(STEP_DIR),
            **self.database,
            **self.settings,
        )
        collected = manage("collectstatic", "--noinput", environment=environment)
        assert collected.returncode == 0, collected.stderr
        count = 1 if self.one_server else 2
        self.servers = [ChatServer(environment, self.ping_interval) for _ in range(count)]
        for server in self.servers:  # started side by side: each takes a second or two
            self.stack.callback(server.stop)
            server.launch()
        for server in self.servers:
            server.wait()
        ports = [server.port for server in self.servers]
        if self.one_server:
            ports *= 2  # the upstream block names two servers: the same one twice
        certificate, key, self.authority = make_certificate(self.folder)
        self.port, self.http_port = free_port(), free_port()
        config = render(
            {
                "PROXY_PORT": self.port,
                "HTTP_PORT": self.http_port,
                "SERVER_PORT_1": ports[0],
                "SERVER_PORT_2": ports[1],
                "CERTIFICATE": certificate,
                "CERTIFICATE_KEY": key,
                "STATIC_ROOT": static_root,
            }
        )
        self.nginx = Nginx(self.folder / "nginx", self.edit_config(config), self.port)
        self.nginx.folder.mkdir()
        self.stack.enter_context(self.nginx)

    def __exit__(self, *exc_info):
        self.stack.close()

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    @property
    def origin(self):
        return {"Origin": self.url}

    def ws_url(self, path):
        return f"wss://127.0.0.1:{self.port}{path}"

    def ssl_context(self):
        """A client context that trusts this run's certificate authority, and only it."""
        return ssl.create_default_context(cafile=str(self.authority))


def replace_once(text, old, new):
    """text with its one `old` replaced: a test's change to nginx.conf must still apply."""
    assert text.count(old) == 1, f"nginx.conf no longer has exactly one {old!r}"
    return text.replace(old, new)
