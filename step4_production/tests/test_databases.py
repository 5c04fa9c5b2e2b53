"""Step 4 on both of its databases, SQLite and PostgreSQL: two processes writing one room at once
number every message once, with no gap, and a message sent twice is saved once."""

import json
import subprocess
import sys

import pytest

from tests.postgres import django_environment, migrated_database, run_django
from tests.servers import STEP_DIR

MESSAGES_EACH = 60
SHARED = 20

# One writer process: its own messages, and SHARED messages that the other writer sends too
# (the same client_id, as a browser resending to another server would).
WRITER = f"""
import sys
import django
django.setup()
from chat import store
name = sys.argv[1]
for n in range({MESSAGES_EACH}):
    store.save_message("shared", f"{{name}} {{n}}", name, client_id=f"{{name}}-{{n}}")
    if n < {SHARED}:
        store.save_message("shared", f"both {{n}}", name, client_id=f"both-{{n}}")
"""

READER = """
import json
import django
django.setup()
from django.db import connection
from chat.models import Message, Room
room = Room.objects.get(url="shared")
print(json.dumps({
    "database": connection.vendor,
    "last_sequence": room.last_sequence,
    "messages": list(room.messages.order_by("sequence").values_list("sequence", "client_id")),
}))
"""


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_two_processes_writing_one_room_number_each_message_once(kind, tmp_path):
    """Two processes save into one room at the same time: sequences 1..N with no gap and no
    repeat, every client_id saved exactly once, the room's counter at N."""
    with migrated_database(kind, tmp_path) as variables:
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, name],
                cwd=STEP_DIR,
                env=django_environment(variables),
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in ("first", "second")
        ]
        for writer in writers:
            _, errors = writer.communicate(timeout=120)
            assert writer.returncode == 0, errors
        result = run_django(["-c", READER], variables)
        assert result.returncode == 0, result.stderr

    saved = json.loads(result.stdout)
    assert saved["database"] == kind
    total = 2 * MESSAGES_EACH + SHARED
    sequences = [sequence for sequence, _ in saved["messages"]]
    client_ids = [client_id for _, client_id in saved["messages"]]
    assert sequences == list(range(1, total + 1))
    assert saved["last_sequence"] == total
    assert sorted(client_ids) == sorted(
        [f"{name}-{n}" for name in ("first", "second") for n in range(MESSAGES_EACH)]
        + [f"both-{n}" for n in range(SHARED)]
    )


# What a socket reads on connecting, through the plain SELECTs of store.py and identity.py.
READS = """
import json
import django
django.setup()
from django.contrib.auth import get_user_model
from chat import store
from chat.identity import is_registered_name
get_user_model().objects.create_user("Alice", password="unused-password")
store.save_message("lobby", "one", "bob")
store.save_message("lobby", "two", "bob")
room = store.room_for("lobby")
print(json.dumps({
    "registered": [is_registered_name(name) for name in ("alice", "ALICE", "Alic", "alice_")],
    "room": [room.url, room.last_sequence, store.room_for("empty").pk],
    "history": [message.body for message in store.history(room)],
    "replay": [message.body for message in store.history(room, after=1)],
}))
"""


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_plain_selects_of_joining_read_the_same_on_both_databases(kind, tmp_path):
    """A registered name is found in any case and only whole (LIKE's _ is no wildcard); the
    room, its history and a replay read back as saved."""
    with migrated_database(kind, tmp_path) as variables:
        result = run_django(["-c", READS], variables)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "registered": [True, True, False, False],
        "room": ["lobby", 2, None],
        "history": ["one", "two"],
        "replay": ["two"],
    }
