from django.contrib import admin

from .models import Message, Room


class RoomMessageInline(admin.TabularInline):
    """A room's messages, on the room's own admin page."""

    model = Room.messages.through
    extra = 0
    verbose_name = "message"
    verbose_name_plural = "messages"
    fields = ["message"]
    readonly_fields = ["message"]
    can_delete = False


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["url", "client", "agent", "last_sequence", "createdAt"]
    search_fields = ["url", "client"]
    exclude = ["messages"]
    readonly_fields = ["last_sequence"]
    inlines = [RoomMessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["sentBy", "body", "room_names", "sequence", "announcement", "createdAt"]
    list_filter = ["rooms", "announcement", "createdAt"]
    search_fields = ["body", "sentBy", "rooms__url"]
    readonly_fields = ["sequence", "client_id"]

    @admin.display(description="rooms")
    def room_names(self, message):
        return ", ".join(room.url for room in message.rooms.all())

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("rooms")
