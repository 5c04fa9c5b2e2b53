"""Run deploy/nginx.conf from a folder of its own: its ports and paths filled in, a certificate
made for the run, nginx in the foreground. make run-step4-proxy and the proxy tests use it.

On a server you fill in the few ${NAME}s of nginx.conf by hand, once, with a real certificate.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import trustme

# Each server behind nginx: the production command (docs/reliability.md) with one worker, as
# nginx spreads the sockets over several servers, trusting X-Forwarded-For and -Proto from
# nginx's address only. Add --host 127.0.0.1 --port N.
SERVER_COMMAND = (
    "uvicorn learning.asgi:application --lifespan off"
    " --proxy-headers --forwarded-allow-ips 127.0.0.1"
    " --ws-max-size 65536 --ws-ping-interval 20 --ws-ping-timeout 20"
).split()
TEMPLATE = Path(__file__).with_name("nginx.conf")
# ${SERVER_PORT_1}: upper case, so nginx's own variables ($host, $http_upgrade) are left alone.
PLACEHOLDER = re.compile(r"\$\{([A-Z0-9_]+)\}")
INSTALL_HINT = """nginx is not installed. Install it, then run this again:
  Debian, Ubuntu, WSL:  sudo apt-get install nginx
  Fedora:               sudo dnf install nginx
  macOS (Homebrew):     brew install nginx"""


def render(values, template=TEMPLATE):
    """nginx.conf with each ${NAME} outside comments replaced by values[NAME]; every name that
    the file uses must be given, and no other."""
    lines = Path(template).read_text(encoding="utf-8").splitlines(keepends=True)
    wanted = {
        name
        for line in lines
        if not line.lstrip().startswith("#")
        for name in PLACEHOLDER.findall(line)
    }
    if wanted != set(values):
        raise KeyError(f"nginx.conf needs exactly {sorted(wanted)}, was given {sorted(values)}")
    return "".join(
        line
        if line.lstrip().startswith("#")
        else PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), line)
        for line in lines
    )


def make_certificate(folder):
    """A certificate for 127.0.0.1 and localhost, signed by a certificate authority made now.

    Returns the paths of (certificate, key, authority): a client that trusts the authority's
    file trusts this server; a browser that does not warns, as it should.
    """
    folder = Path(folder)
    authority = trustme.CA(organization_name="Chat workshop, this run only")
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    paths = folder / "certificate.pem", folder / "key.pem", folder / "authority.pem"
    # The whole chain, server first, as nginx's ssl_certificate wants it.
    paths[0].write_bytes(b"".join(blob.bytes() for blob in certificate.cert_chain_pems))
    certificate.private_key_pem.write_to_path(str(paths[1]))
    paths[1].chmod(0o600)
    authority.cert_pem.write_to_path(str(paths[2]))
    return paths


def find_nginx():
    """The nginx program (NGINX names it, or it is found), or None. Debian installs it in
    /usr/sbin, which is often not on a user's PATH."""
    if named := os.environ.get("NGINX"):
        return named if os.access(named, os.X_OK) else None
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)),
        None,
    )


class Nginx:
    """nginx running `config` (the text of a rendered nginx.conf) from `folder`.

    The folder holds the config, nginx.pid, error.log and access.log. start() returns once
    nginx listens on `port`; stop() ends it.
    """

    def __init__(self, folder, config, port):
        self.folder = Path(folder)
        self.config = config
        self.port = port
        self.process = None

    def start(self):
        program = find_nginx()
        if program is None:
            raise FileNotFoundError(INSTALL_HINT)
        # Run as root, nginx's workers drop to the user nobody, who must reach these files.
        self.folder.chmod(0o755)
        config_path = self.folder / "nginx.conf"
        config_path.write_text(self.config, encoding="utf-8")
        command = [program, "-p", str(self.folder), "-c", str(config_path), "-e", "error.log"]
        tested = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
        if tested.returncode != 0:
            raise RuntimeError(f"nginx refused its configuration:\n{tested.stderr}")
        # A session of its own: Ctrl-C in a terminal reaches the script that started nginx,
        # which stops it in turn.
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited at start:\n{self.error_log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"nginx did not listen on {self.port}") from None
                time.sleep(0.05)

    def stop(self):
        """SIGTERM: nginx's fast shutdown, which closes open sockets at once."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def error_log(self):
        return self.read("error.log")

    def access_log(self, containing="", timeout=5):
        """The access log, once it holds `containing` (or after `timeout` seconds): nginx writes
        a request's line after the answer has gone out, so a client can be ahead of it."""
        deadline = time.monotonic() + timeout
        while containing not in (log := self.read("access.log")) and time.monotonic() < deadline:
            time.sleep(0.05)
        return log

    def read(self, name):
        path = self.folder / name
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
