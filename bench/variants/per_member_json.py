"""Step 4 sending the message's fields in the group event and building the JSON text once per
member, as the tutorial does, instead of once for the room."""

import django

django.setup()  # The consumer's models need the app registry.

from bench.variants import application_with  # noqa: E402
from chat.consumers import ChatConsumer  # noqa: E402
from chat.protocol import dumps  # noqa: E402


class PerMemberJsonConsumer(ChatConsumer):
    async def send_to_room(self, message):
        frame = message.to_frame()
        event = {"type": "chat.message", "sequence": message.sequence, "frame": frame}
        await self.channel_layer.group_send(self.room_group_name, event)

    async def chat_message(self, event):
        if "frame" in event:
            event = {**event, "text": dumps(event["frame"])}
        await super().chat_message(event)


application = application_with(PerMemberJsonConsumer)
