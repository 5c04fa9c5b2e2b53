from django.contrib import admin

from .models import Message, Room


class MessageInline(admin.TabularInline):
    """A room's messages, on the room's own admin page, in the room's order."""

    model = Message
    extra = 0
    fields = ["sequence", "sentBy", "body", "announcement", "createdAt"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        # A message is numbered by store.save_message, in its room's transaction.
        return False


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["url", "client", "agent", "last_sequence", "createdAt"]
    search_fields = ["url", "client"]
    readonly_fields = ["last_sequence"]
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["sentBy", "body", "room", "sequence", "announcement", "createdAt"]
    list_filter = ["room", "announcement", "createdAt"]
    list_select_related = ["room"]
    search_fields = ["body", "sentBy", "room__url"]
    readonly_fields = ["room", "sequence", "client_id"]

    def has_add_permission(self, request):
        # A message is numbered by store.save_message, in its room's transaction.
        return False
