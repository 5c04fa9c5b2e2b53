import re

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from . import store
from .consumers import room_group_name
from .converters import RoomNameConverter
from .protocol import FrameError, read_message


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
    """A room. Its messages come and go over the WebSocket that room.js opens."""
    return render(request, "chat/room.html", {"room_name": room_name})


@require_POST
def announce(request, room_name):
    """Staff post an announcement into a room from ordinary, synchronous Django code."""
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can post announcements.")
    try:
        text = read_message(request.POST)
    except FrameError as error:
        return HttpResponseBadRequest(error.detail)
    saved = store.save_message(room_name, text, request.user.username, request.user)
    # group_send is a coroutine; async_to_sync runs it to completion from this sync view.
    async_to_sync(get_channel_layer().group_send)(room_group_name(room_name), saved)
    return redirect("chat:room", room_name=room_name)
