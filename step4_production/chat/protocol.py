"""What a frame from the browser must look like, and the errors it gets when it does not."""

import json
import re
import time

MAX_MESSAGE_LENGTH = 2000
MAX_USERNAME_LENGTH = 32
CLIENT_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


class FrameError(Exception):
    """A frame the server refuses: the code and sentence that go back to its sender."""

    def __init__(self, code, detail):
        super().__init__(detail)
        self.code = code
        self.detail = detail

    def as_frame(self, client_id=None):
        frame = {"type": "error", "code": self.code, "detail": self.detail}
        if client_id is not None:
            # Which of the browser's messages failed, when it gave the message an id.
            frame["client_id"] = client_id
        return frame


def read_frame(text_data=None, bytes_data=None):
    """The JSON object a text frame carries."""
    if text_data is None:
        raise FrameError("unsupported_frame", "Binary frames are not supported: send JSON text.")
    try:
        frame = json.loads(text_data)
    except (ValueError, RecursionError):
        raise FrameError("invalid_json", "The frame is not valid JSON.") from None
    if not isinstance(frame, dict):
        raise FrameError("invalid_json", 'The frame must be a JSON object, like {"message": "hi"}.')
    return frame


def read_message(frame):
    """The frame's message, trimmed."""
    message = frame.get("message")
    if not is_text(message) or not message.strip():
        raise FrameError("invalid_message", 'Send {"message": "..."} with some text in it.')
    message = message.strip()
    if len(message) > MAX_MESSAGE_LENGTH:
        raise FrameError("too_long", f"A message is at most {MAX_MESSAGE_LENGTH} characters.")
    return message


def read_username(frame):
    """The display name an anonymous sender gives, trimmed."""
    username = frame.get("username")
    if not is_text(username) or not username.strip():
        raise FrameError("invalid_username", 'Give your name: {"username": "alice", ...}.')
    username = username.strip()
    if len(username) > MAX_USERNAME_LENGTH:
        raise FrameError("invalid_username", f"A name is at most {MAX_USERNAME_LENGTH} characters.")
    return username


def read_client_id(frame):
    """The optional id the browser gives a message, so that a resend is recognised."""
    client_id = frame.get("client_id")
    if client_id is None:
        return None
    if not isinstance(client_id, str) or not CLIENT_ID_PATTERN.fullmatch(client_id):
        raise FrameError(
            "invalid_message", "client_id is 1 to 64 letters, digits, hyphens or underscores."
        )
    return client_id


def client_id_of(text_data):
    """The client_id of a frame that failed, if it had a valid one; otherwise None."""
    try:
        return read_client_id(read_frame(text_data))
    except FrameError:
        return None


class TokenBucket:
    """Allows `rate` frames a second on average, and bursts of up to twice that (at least one
    frame, so that a rate under 0.5 still lets a frame through now and then).

    https://en.wikipedia.org/wiki/Token_bucket. A rate of 0 allows everything. `clock` gives
    the time in seconds; tests pass one they move by hand.
    """

    def __init__(self, rate, clock=time.monotonic):
        self.rate = rate
        self.capacity = max(1, 2 * rate)
        self.tokens = self.capacity
        self.clock = clock
        self.updated = clock()

    def allow(self):
        if not self.rate:
            return True
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def is_text(value):
    """A string that can be written as UTF-8 (JSON allows lone surrogates like "\\ud800")."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def dumps(content):
    """JSON text as UTF-8 characters, not \\u escapes: a third of the size for emoji."""
    return json.dumps(content, ensure_ascii=False)
