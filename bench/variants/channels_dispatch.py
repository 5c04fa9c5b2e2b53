"""Step 4 with Channels' own dispatch(): a trip to the database thread before every handler."""

import django
from channels.consumer import AsyncConsumer

django.setup()  # The consumer's models need the app registry.

from bench.variants import application_with  # noqa: E402
from chat.consumers import ChatConsumer  # noqa: E402


class ChannelsDispatchConsumer(ChatConsumer):
    dispatch = AsyncConsumer.dispatch


application = application_with(ChannelsDispatchConsumer)
