import re

from django.shortcuts import redirect, render

from .converters import RoomNameConverter

MAX_MESSAGE_LENGTH = 2000


def lobby(request):
    """The lobby: pick a display name and a room.

    Without JavaScript the form arrives here as ?room_name=...; a valid name
    redirects to the room, anything else shows the lobby again with an error.
    """
    room_name = request.GET.get("room_name", "").strip()
    error = ""
    if room_name:
        if re.fullmatch(RoomNameConverter.regex, room_name):
            return redirect("chat:room", room_name=room_name)
        error = "A room name is 1 to 64 letters, digits, hyphens or underscores."
    return render(request, "chat/index.html", {"error": error})


def room(request, room_name):
    """A room. A POSTed message comes back in the page that answers the request."""
    messages, error = [], ""
    if request.method == "POST":
        message = request.POST.get("message", "").strip()
        if not message:
            error = "Type a message first."
        elif len(message) > MAX_MESSAGE_LENGTH:
            error = f"A message is at most {MAX_MESSAGE_LENGTH} characters."
        else:
            messages.append(message)
    return render(
        request,
        "chat/room.html",
        {"room_name": room_name, "messages": messages, "error": error},
    )
