"""Step 4 with presence events as before: the members as nested dicts, which the in-memory layer
deep-copies for every member, and each member encoding the user.joined frames itself."""

import django

django.setup()  # The consumer's models need the app registry.

from bench.variants import application_with, replace  # noqa: E402
from chat import presence  # noqa: E402
from chat.consumers import ChatConsumer  # noqa: E402


def nested_joined_event(members):
    return {
        "type": "presence.join",
        "member_ids": [member["id"] for member in members],
        "members": members,
    }


class NestedPresenceConsumer(ChatConsumer):
    async def presence_join(self, event):
        if self.member["id"] not in event["member_ids"]:
            for member in event["members"]:
                await self.send_json({"type": "user.joined", "user": member})


replace(presence, "joined_event", nested_joined_event)  # What Presence.list_arrivals() sends.
application = application_with(NestedPresenceConsumer)
