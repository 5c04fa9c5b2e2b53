"""What a frame from the browser must look like, and the errors it gets when it does not."""

import json

MAX_MESSAGE_LENGTH = 2000
MAX_USERNAME_LENGTH = 32


class FrameError(Exception):
    """A frame the server refuses: the code and sentence that go back to its sender."""

    def __init__(self, code, detail):
        super().__init__(detail)
        self.code = code
        self.detail = detail

    def as_frame(self):
        return {"type": "error", "code": self.code, "detail": self.detail}


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
