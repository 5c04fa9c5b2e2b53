"""The one rule for room names, shared by every route that takes one."""


class RoomNameConverter:
    """1 to 64 ASCII letters, digits, hyphens and underscores.

    Anything else does not match the route, so Django answers 404 instead of
    reaching a view with a name it cannot use.
    """

    regex = "[A-Za-z0-9_-]{1,64}"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value
