"""The chat as it is deployed: nginx with TLS in front of two step 4 servers sharing one Redis.

Usage: python scripts/run_step4_proxy.py [--proxy-port 8443] [--http-port 8080] [--ports 8001 8002]
   or: make run-step4-proxy [PROXY_PORT=8443] [HTTP_PORT=8080] [PORT1=8001 PORT2=8002]

Makes a certificate for 127.0.0.1 and localhost (trustme), starts redis-server on a free port
(or uses REDIS_URL), migrates step 4's database (step4_production/db.sqlite3, or DATABASE_URL:
your PostgreSQL) and collects its static files, then runs the production command on both
ports and nginx with step4_production/deploy/nginx.conf on https://127.0.0.1:PROXY_PORT/, plain
HTTP on HTTP_PORT redirecting there. Ctrl-C (or SIGTERM) stops nginx, the servers, then Redis.
With --postgres (make run-step4-proxy POSTGRES=1) the database is a PostgreSQL cluster made for
the run, and removed after it.
"""

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import run_step4_redis as demo

STEP_DIR = demo.STEP_DIR
sys.path.insert(0, str(STEP_DIR))

from deploy.postgres import INSTALL_HINT as POSTGRES_INSTALL_HINT  # noqa: E402
from deploy.postgres import PostgresServer, find_bindir  # noqa: E402
from deploy.proxy import (  # noqa: E402 (step4_production is on the path only from here)
    INSTALL_HINT,
    SERVER_COMMAND,
    Nginx,
    find_nginx,
    make_certificate,
    render,
)

NAME = "run-step4-proxy"
# Where collectstatic put the files that nginx serves.
SHOW_STATIC_ROOT = "from django.conf import settings; print(settings.STATIC_ROOT)"


def say(line):
    demo.say(line, prefix=NAME)


def fail(message):
    say(message)
    sys.exit(1)


def environment(redis_url):
    """The servers' settings: DEBUG off, HTTPS behind the proxy, HSTS for a minute only."""
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
    env.update(DJANGO_DEBUG="0", DJANGO_HTTPS="1")
    env.setdefault("DJANGO_HSTS_SECONDS", "60")
    if not env.get("DJANGO_SECRET_KEY"):
        # A key for this run: sessions end with it. Set DJANGO_SECRET_KEY to keep them.
        env["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)
    return env


def manage(*arguments, env):
    result = subprocess.run(
        [sys.executable, "manage.py", *arguments], cwd=STEP_DIR, env=env, capture_output=True,
        text=True,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {arguments[0]} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--proxy-port", type=int, default=8443)
    parser.add_argument("--http-port", type=int, default=8080)
    parser.add_argument("--ports", nargs=2, type=int, default=[8001, 8002], metavar="PORT")
    parser.add_argument(
        "--postgres", action="store_true", help="on a PostgreSQL cluster made for this run"
    )
    options = parser.parse_args()
    ports = [options.proxy_port, options.http_port, *options.ports]
    if len(set(ports)) != len(ports):
        fail("nginx and the two servers need four different ports")
    if find_nginx() is None:
        fail(INSTALL_HINT)
    if not os.environ.get("REDIS_URL") and shutil.which("redis-server") is None:
        fail(demo.INSTALL_HINT.replace("run-step4-redis", NAME))
    if options.postgres and find_bindir() is None:
        fail(POSTGRES_INSTALL_HINT)
    for port in ports:
        if not demo.port_is_free(port):
            fail(
                f"port {port} is in use. Stop what uses it, or pick other ports: "
                "make run-step4-proxy PROXY_PORT=9443 HTTP_PORT=9080 PORT1=9001 PORT2=9002"
            )

    demo.stop_on_signals()

    folder = tempfile.mkdtemp(prefix="chat-proxy-")
    servers, redis_process, nginx, postgres = [], None, None, None
    try:
        redis_url = os.environ.get("REDIS_URL", "")
        if redis_url:
            if error := demo.redis_reachable(redis_url):
                fail(f"REDIS_URL={redis_url} does not answer: {error}")
        else:
            redis_port = demo.free_port()
            command = [shutil.which("redis-server"), "--port", str(redis_port)]
            command += ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            redis_process = demo.start("redis", command, quiet=True)
            demo.wait_until_listening(redis_process, redis_port)
            redis_url = f"redis://127.0.0.1:{redis_port}/0"
        env = environment(redis_url)
        if options.postgres:
            postgres = PostgresServer().start()
            env["DATABASE_URL"] = postgres.url()
            database = f"PostgreSQL at {postgres.url()}, made for this run"
        elif env.get("DATABASE_URL"):
            database = "DATABASE_URL"
        else:
            database = "step4_production/db.sqlite3"
        say(f"Redis at {redis_url}; database: {database}")
        manage("migrate", "--noinput", env=env)
        manage("collectstatic", "--noinput", env=env)
        static_root = manage("shell", "-c", SHOW_STATIC_ROOT, env=env).splitlines()[-1]

        for port in options.ports:
            command = [sys.executable, "-m", *SERVER_COMMAND, "--host", "127.0.0.1"]
            servers.append(demo.start(str(port), [*command, "--port", str(port)], env=env))
        for port, server in zip(options.ports, servers, strict=True):
            demo.wait_until_listening(server, port)

        certificate, key, authority = make_certificate(folder)
        config = render(
            {
                "PROXY_PORT": options.proxy_port,
                "HTTP_PORT": options.http_port,
                "SERVER_PORT_1": options.ports[0],
                "SERVER_PORT_2": options.ports[1],
                "CERTIFICATE": certificate,
                "CERTIFICATE_KEY": key,
                "STATIC_ROOT": static_root,
            }
        )
        nginx = Nginx(folder, config, options.proxy_port).start()

        url = f"https://127.0.0.1:{options.proxy_port}/"
        say(f"nginx serves the chat at {url} in front of servers on ports {options.ports}.")
        say(f"http://127.0.0.1:{options.http_port}/ redirects there.")
        say(f"The certificate is made for this run: the browser warns once. Or trust {authority}.")
        say(f"nginx's logs (upstream= is the server that answered): {folder}/access.log")
        say("Open it in two windows, enter the same room and chat. Ctrl-C stops all.")
        while True:
            for process in [*servers, redis_process]:
                if process is not None and process.poll() is not None:
                    raise RuntimeError(f"{process.name} exited with code {process.returncode}")
            if nginx.process.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{nginx.error_log()}")
            time.sleep(0.2)
    except demo.Stop as stopped:
        say(f"{stopped}: stopping nginx, the servers, then Redis")
        code = 0
    except (RuntimeError, OSError) as error:
        say(f"{error}\nStopping everything.")
        demo.print_log(redis_process)
        code = 1
    finally:
        demo.ignore_signals()
        if nginx is not None:
            nginx.stop()
        for server in servers:
            demo.stop(server, signal.SIGTERM)
        if redis_process is not None:
            demo.stop(redis_process, signal.SIGTERM)
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(folder, ignore_errors=True)
    say("Stopped.")
    return code


if __name__ == "__main__":
    sys.exit(main())
