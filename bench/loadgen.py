"""The load generator: many WebSocket clients in one process, driven by the runner over a pipe.

Each client is the `websockets` library's sans-I/O ClientProtocol under a plain asyncio
Protocol: a received frame is handled in the same callback that read it from the socket, with
no task switch per frame, so a few processes can read what a fast server writes.

Every chat message carries its sender, its number and the time it was sent (monotonic clock,
nanoseconds: the same clock in every process on one Linux machine) in its text:
"bench <sender> <number> <sent_at_ns>". A receiver finds that text with one regex, whatever
else the server put in the frame, and records the end-to-end latency.
"""

import asyncio
import json
import re
import time
from array import array

from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

MESSAGE = re.compile(rb'"message": ?"bench (\d+) (\d+) (\d+)"')
HISTORY = re.compile(rb'^\{"type": ?"history"')
CONNECT_CONCURRENCY = 20


def chat_frame(sender, number, username):
    """The text frame a sender writes: the payload holds the time it was sent."""
    text = f"bench {sender} {number} {time.monotonic_ns()}"
    return json.dumps({"message": text, "username": username}).encode()


class Client(asyncio.Protocol):
    """One WebSocket client; counts the chat messages it receives, once each."""

    def __init__(self, worker, url, origin, sender=None, room=None, username="", cookie=None):
        self.worker = worker
        self.cookie = cookie  # a Cookie header: the socket is a signed-in user's
        self.username = username  # the name in its URL: a chat server may hold it to that
        self.protocol = ClientProtocol(parse_uri(url), origin=origin, max_size=None)
        self.sender = sender  # this client's sender id, or None for a receiver
        self.room = room
        self.after = None  # the sequence number it asked for the messages after, if it did
        self.opened_at = self.history_at = 0
        self.opened = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        # The first history frame: the sequence numbers it holds (a server without one: never).
        self.history = asyncio.get_running_loop().create_future()
        self.transport = None
        self.fragments = []
        self.reset()

    def reset(self):
        self.seen = set()
        self.received = 0
        self.duplicates = 0
        self.errors = 0
        self.signed = 0  # messages heard as a signed-in user's ("authenticated": true)
        self.in_flight = {}  # number -> sent_at_ns, for this client's own messages

    # asyncio.Protocol callbacks

    def connection_made(self, transport):
        self.transport = transport
        request = self.protocol.connect()
        if self.cookie:
            request.headers["Cookie"] = self.cookie
        self.protocol.send_request(request)
        self.flush()

    def data_received(self, data):
        self.worker.frames_at = time.monotonic()
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                if self.protocol.handshake_exc is None:
                    self.opened_at = time.monotonic_ns()
                    self.opened.set_result(None)
                else:
                    self.opened.set_exception(self.protocol.handshake_exc)
            elif event.opcode is Opcode.TEXT or event.opcode is Opcode.CONT:
                self.fragments.append(event.data)
                if event.fin:
                    data = b"".join(self.fragments) if len(self.fragments) > 1 else event.data
                    self.fragments = []
                    self.on_text(data)
        self.flush()

    def eof_received(self):
        self.protocol.receive_eof()
        self.flush()

    def connection_lost(self, exc):
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)
        self.worker.clients_lost += not self.worker.closing

    # Frames

    def on_text(self, data):
        if HISTORY.match(data):
            if not self.history.done():
                messages = json.loads(data)["messages"]
                self.history_at = time.monotonic_ns()
                self.history.set_result([message["sequence"] for message in messages])
            return
        match = MESSAGE.search(data)
        if match is None:
            if b'"type": "error"' in data or b'"type":"error"' in data:
                self.errors += 1
            return
        now = time.monotonic_ns()
        sender, number, sent_at = int(match[1]), int(match[2]), int(match[3])
        key = (sender, number)
        if key in self.seen:
            self.duplicates += 1
            return
        self.seen.add(key)
        self.received += 1
        self.signed += b'"authenticated": true' in data
        worker = self.worker
        worker.latencies.append(now - sent_at)
        worker.last_receive = now
        if sender == self.sender:
            self.in_flight.pop(number, None)
            worker.sender_wakeup.set()

    def send(self, data):
        if self.protocol.state is not State.OPEN:
            return  # closed by the server: the missing deliveries show in the results
        self.protocol.send_text(data)
        self.flush()

    def flush(self):
        for data in self.protocol.data_to_send():
            if data:
                self.transport.write(data)
            elif self.transport.can_write_eof():
                self.transport.write_eof()

    async def close(self, timeout):
        if self.transport is None or self.closed.done():
            return
        try:
            self.protocol.send_close()
            self.flush()
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except (TimeoutError, Exception):
            self.transport.abort()


class Worker:
    """The clients of one process and the commands the runner sends them."""

    def __init__(self):
        self.clients = []
        self.senders = []
        self.latencies = array("q")
        self.last_receive = 0
        self.frames_at = time.monotonic()
        self.sender_wakeup = asyncio.Event()
        self.clients_lost = 0
        self.closing = False
        self.cpu_at_reset = time.process_time()

    async def connect(
        self,
        host,
        port,
        origin,
        rooms,
        senders=(),
        concurrency=CONNECT_CONCURRENCY,
        after=None,
        cookie=None,
    ):
        """Open sockets: `rooms` is [(room, count)]; `senders` are [(room, sender_id)], signed
        in with the Cookie header `cookie` if there is one.

        With `after` (the storm), every second socket of a room asks for the messages after
        that sequence number, as a reconnecting page does, and the others for the history
        (histories() then waits for the frames).
        """
        loop = asyncio.get_running_loop()
        limit = asyncio.Semaphore(concurrency)
        self.closing = False

        async def open_one(room, number, sender=None, cookie=None):
            username = f"u{number}"
            url = f"ws://{host}:{port}/ws/chat/{room}/?username={username}"
            asks = after if after is not None and number % 2 else None
            if asks is not None:
                url += f"&after={asks}"
            async with limit:
                for attempt in range(3):
                    try:
                        _, client = await asyncio.wait_for(
                            loop.create_connection(
                                lambda: Client(self, url, origin, sender, room, username, cookie),
                                host,
                                port,
                            ),
                            10,
                        )
                        await asyncio.wait_for(asyncio.shield(client.opened), 20)
                        client.after = asks
                        return client
                    except Exception as error:  # noqa: BLE001 - reported to the runner
                        failure = f"{type(error).__name__}: {error}"
                        await asyncio.sleep(0.2 * (attempt + 1))
                return failure

        started = time.monotonic_ns()
        jobs = [open_one(room, i) for room, count in rooms for i in range(count)]
        jobs += [open_one(room, 1_000_000 + sender, sender, cookie) for room, sender in senders]
        results = await asyncio.gather(*jobs)
        opened = [client for client in results if isinstance(client, Client)]
        failures = [result for result in results if not isinstance(result, Client)]
        self.clients += opened
        self.senders += [client for client in opened if client.sender is not None]
        return {
            "opened": len(opened),
            "failed": len(failures),
            "errors": failures[:3],
            "started": started,
            "last_open": max((client.opened_at for client in opened), default=0),
        }

    async def histories(self, seconds):
        """When the last socket got its history frame; per socket, the `after` it asked with and
        the sequence numbers the frame held (None: no frame)."""
        clients = list(self.clients)
        await asyncio.wait([client.history for client in clients], timeout=seconds)
        return {
            "last_at": max((client.history_at for client in clients), default=0),
            "sockets": [
                (client.after, client.history.result() if client.history.done() else None)
                for client in clients
            ],
        }

    async def send_each_room(self, count):
        """The first socket of each room of this process sends `count` messages into it."""
        first = {}
        for client in self.clients:
            first.setdefault(client.room, client)
        start = time.monotonic_ns()
        for number in range(count):
            for sender, client in enumerate(first.values()):
                client.send(chat_frame(sender, number, client.username))
            await asyncio.sleep(0)
        return {"sent": count * len(first), "first_send": start}

    async def quiet(self, seconds, limit):
        """Wait until no frame arrived for `seconds` (the join traffic has died down)."""
        start = time.monotonic()
        while time.monotonic() - start < limit:
            idle = time.monotonic() - self.frames_at
            if idle >= seconds:
                break
            await asyncio.sleep(seconds - idle)
        return {"waited": time.monotonic() - start}

    async def reset(self):
        for client in self.clients:
            client.reset()
        self.latencies = array("q")
        self.last_receive = 0
        self.clients_lost = 0
        self.cpu_at_reset = time.process_time()
        return {}

    def sender(self, sender_id):
        return next(client for client in self.senders if client.sender == sender_id)

    async def status(self):
        """How many of this process's sockets the server closed, so far."""
        return {"lost_sockets": self.clients_lost, "clients": len(self.clients)}

    async def send_window(self, duration, window, max_messages, sender):
        """One sender keeps at most `window` messages in flight for `duration` seconds.

        A message is in flight until its sender hears it back; one unheard for 2 s counts as
        lost, so a server that drops messages cannot stall the sender for ever.
        """
        client = self.sender(sender)
        first = time.monotonic_ns()
        end = time.monotonic() + duration
        sent = 0
        while sent < max_messages and time.monotonic() < end:
            if len(client.in_flight) >= window:
                self.sender_wakeup.clear()
                try:
                    await asyncio.wait_for(self.sender_wakeup.wait(), 2)
                except TimeoutError:
                    stale = time.monotonic_ns() - 2_000_000_000
                    for number, sent_at in list(client.in_flight.items()):
                        if sent_at < stale:
                            del client.in_flight[number]
                continue
            client.in_flight[sent] = time.monotonic_ns()
            client.send(chat_frame(client.sender, sent, client.username))
            sent += 1
        return {"sent": sent, "first_send": first, "last_send": time.monotonic_ns()}

    async def send_rate(self, rate, duration, sender):
        """One sender writes `rate` messages a second, on a fixed schedule, for `duration` s."""
        client = self.sender(sender)
        first = time.monotonic_ns()
        start = time.monotonic()
        total = int(rate * duration)
        for number in range(total):
            delay = start + number / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            client.send(chat_frame(client.sender, number, client.username))
        return {"sent": total, "first_send": first, "last_send": time.monotonic_ns()}

    async def send_burst(self, count):
        """Every sender of this process writes `count` messages as fast as it can."""
        first = time.monotonic_ns()
        for number in range(count):
            for client in self.senders:
                client.send(chat_frame(client.sender, number, client.username))
            await asyncio.sleep(0)  # let the sockets' reads run between rounds
        return {
            "sent": count * len(self.senders),
            "first_send": first,
            "last_send": time.monotonic_ns(),
        }

    async def drain(self, expected, idle, deadline):
        """Wait until every client heard `expected` messages, or nothing came for `idle` s."""
        start = time.monotonic()
        while time.monotonic() - start < deadline:
            if all(client.received >= expected for client in self.clients):
                break
            if time.monotonic() - self.frames_at >= idle:
                break
            await asyncio.sleep(0.02)
        received = [client.received for client in self.clients]
        return {
            "received": sum(received),
            "clients": len(received),
            "complete": sum(count >= expected for count in received),
            "fewest": min(received, default=0),
            "duplicates": sum(client.duplicates for client in self.clients),
            "errors": sum(client.errors for client in self.clients),
            "signed": sum(client.signed for client in self.clients),
            "lost_sockets": self.clients_lost,
            "last_receive": self.last_receive,
            "latencies": self.latencies.tobytes(),
            "cpu": time.process_time() - self.cpu_at_reset,
        }

    async def close(self, timeout=10):
        self.closing = True
        clients, self.clients, self.senders = self.clients, [], []
        await asyncio.gather(*(client.close(timeout) for client in clients))
        self.clients_lost = 0
        return {"closed": len(clients)}


async def serve(connection):
    """Run the runner's commands, one at a time, until it says exit or goes away."""
    loop = asyncio.get_running_loop()
    worker = Worker()
    while True:
        try:
            command, arguments = await loop.run_in_executor(None, connection.recv)
        except EOFError:
            command, arguments = "exit", {}
        if command == "exit":
            await worker.close(timeout=2)
            return
        try:
            result = await getattr(worker, command)(**arguments)
        except Exception as error:  # noqa: BLE001 - the runner reports it
            result = {"error": f"{type(error).__name__}: {error}"}
        connection.send(result)


def worker_main(connection):
    """The entry point of a load-generator process (multiprocessing, spawn)."""
    asyncio.run(serve(connection))


def latencies(data):
    """The latencies (ns) a worker's drain answer holds, as an array."""
    values = array("q")
    values.frombytes(data)
    return values
