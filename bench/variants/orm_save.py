"""Step 4 saving each message with the ORM, as before: the room looked up by name, the sequence
updated and read back, the client_id looked up, the row created (six statements, not two)."""

import django
from channels.db import database_sync_to_async

django.setup()  # The consumer's models need the app registry.

from django.db import transaction  # noqa: E402
from django.db.models import F  # noqa: E402

from bench.variants import application_with  # noqa: E402
from chat import store  # noqa: E402
from chat.consumers import ChatConsumer  # noqa: E402
from chat.models import Message, Room  # noqa: E402


def save_message(room_name, body, username, user=None, client_id=None):
    room, _ = Room.objects.get_or_create(url=room_name)
    if client_id and (earlier := store.saved_before(room, client_id)):
        return earlier, False
    with transaction.atomic():
        Room.objects.filter(pk=room.pk).update(last_sequence=F("last_sequence") + 1)
        room.refresh_from_db(fields=["last_sequence"])
        message = Message.objects.create(
            room=room,
            body=body,
            sentBy=username,
            created_By=user,
            sequence=room.last_sequence,
            client_id=client_id,
        )
        if user is None and not room.client:
            Room.objects.filter(pk=room.pk, client="").update(client=username)
    return message, True


def save_messages(room_name, texts, username, user=None):
    return [save_message(room_name, body, username, user, client_id) for body, client_id in texts]


class OrmSaveConsumer(ChatConsumer):
    async def save(self, texts, username):
        user = self.user if self.user.is_authenticated else None
        return await database_sync_to_async(save_messages)(self.room_name, texts, username, user)


application = application_with(OrmSaveConsumer)
