"""learning.asgi.application plus the static files, for a browser test's server.

`manage.py runserver` serves static files in development; Daphne started on its own does not,
so the page would load without room.js. Django's handler for that, as Channels' own
ChannelsLiveServerTestCase uses it: it answers /static/ requests and passes on the rest.
"""

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from learning.asgi import application as chat_application

application = ASGIStaticFilesHandler(chat_application)
