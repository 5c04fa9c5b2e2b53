"""Step 4 saving each message before it reads the next frame, as before: one transaction and
one trip to the database thread per message, never several together."""

import django

django.setup()  # The consumer's models need the app registry.

from bench.variants import application_with  # noqa: E402
from chat.consumers import ChatConsumer  # noqa: E402


class OneAtATimeConsumer(ChatConsumer):
    async def receive(self, text_data=None, bytes_data=None):
        await super().receive(text_data, bytes_data)
        if self.saving is not None:
            await self.saving  # The next frame is read once this one is saved and sent.


application = application_with(OneAtATimeConsumer)
