"""Message gets a foreign key to its Room, filled from the many-to-many Room.messages.

The next migration drops Room.messages and makes the key required; the data moves in between,
in a migration of its own, because PostgreSQL refuses to alter a table whose rows were updated
earlier in the same transaction.
"""

import django.db.models.deletion
from django.db import migrations, models


def fill_message_room(apps, schema_editor):
    """Each message goes to the room that first held it; a message in no room is deleted.

    The chat only ever put a message in one room. A message that the admin linked to a second
    room stays in the first: a second copy would need a sequence number of its own there.
    """
    Message = apps.get_model("chat", "Message")
    Link = apps.get_model("chat", "Room").messages.through
    for link in Link.objects.order_by("-id").iterator():
        Message.objects.filter(pk=link.message_id).update(room_id=link.room_id)
    Message.objects.filter(room=None).delete()


def fill_room_messages(apps, schema_editor):
    """Backwards: each message is held by its room again."""
    Message = apps.get_model("chat", "Message")
    Link = apps.get_model("chat", "Room").messages.through
    Link.objects.bulk_create(
        Link(room_id=room_id, message_id=message_id)
        for message_id, room_id in Message.objects.values_list("id", "room_id").iterator()
    )


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="room",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="chat.room",
            ),
        ),
        migrations.RunPython(fill_message_room, fill_room_messages),
    ]
