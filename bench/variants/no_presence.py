"""Step 4 without telling the room who joined: each socket gets a user list of itself only.
Not a change to ship: it measures what presence costs a join (the reconnect storm's rows)."""

import django

django.setup()  # The consumer's models need the app registry.

from bench.variants import application_with  # noqa: E402
from chat.consumers import ChatConsumer  # noqa: E402


class NoPresenceConsumer(ChatConsumer):
    async def enter_roster(self):
        return [self.member]


application = application_with(NoPresenceConsumer)
