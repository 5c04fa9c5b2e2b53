"""The floor: the least a chat server must do, written with the `websockets` library alone.

JSON in; the frame for the room is built once and written to every member's socket, the sender
included. No framework, no channel layer, no database, no origin check: whatever a framework
adds on top of this costs CPU, and the benchmark measures how much.

    python bench/floor_server.py --port 8765
"""

import argparse
import asyncio
import json
import signal
from collections import defaultdict

from websockets.asyncio.server import broadcast, serve

rooms = defaultdict(set)


async def chat(connection):
    """One socket in /ws/chat/<room>/: every text frame goes out to the whole room."""
    room_name = connection.request.path.split("?")[0].strip("/").split("/")[-1]
    room = rooms[room_name]
    room.add(connection)
    try:
        async for text in connection:
            try:
                frame = json.loads(text)
                message = {
                    "type": "chat.message",
                    "message": frame["message"],
                    "username": frame["username"],
                }
            except (ValueError, TypeError, KeyError):
                continue
            broadcast(room, json.dumps(message, ensure_ascii=False))
    finally:
        room.discard(connection)
        if not room:
            del rooms[room_name]


async def main(host, port):
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    # No compression and no size cap: the same work as the Django servers do.
    async with serve(chat, host, port, compression=None, max_size=None):
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.host, arguments.port))
