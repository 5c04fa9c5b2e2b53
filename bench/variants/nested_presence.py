"""Step 4 with presence events as before: the member as a nested dict, which the in-memory layer
deep-copies for every member, and each member encoding the user.joined frame itself."""

import django

django.setup()  # The consumer's models need the app registry.

from bench.variants import application_with  # noqa: E402
from chat import consumers  # noqa: E402
from chat.consumers import ChatConsumer  # noqa: E402


def nested_joined_event(member):
    return {"type": "presence.join", "member_id": member["id"], "member": member}


class NestedPresenceConsumer(ChatConsumer):
    async def presence_join(self, event):
        if event["member_id"] != self.member["id"]:
            await self.send_json({"type": "user.joined", "user": event["member"]})


consumers.joined_event = nested_joined_event  # What ChatConsumer.enter_roster() sends.
application = application_with(NestedPresenceConsumer)
