"""Step 4 with one change undone, for the ablation rows of the full run.

Each variant is step 4 as shipped with one settings module or one consumer subclass swapped
in (the modules of this package), run on Daphne with the in-memory layer next to step 4 as
shipped: what a change buys is the ratio of the two, measured in the same run.
"""

from bench.servers import ServerSpec

# The measurements a variant is run for: the room of two and the room of 50, or the storm.
ROOMS = ("saturation_2", "saturation_50")
STORM = ("storm",)


def variant(label, settings="", application="", only=ROOMS):
    """Step 4 with the settings module or the ASGI application of a module of this package."""
    return ServerSpec(
        "step4",
        "daphne",
        "memory",
        settings=f"bench.variants.{settings}" if settings else "bench.step4_settings",
        application=f"bench.variants.{application}:application"
        if application
        else "learning.asgi:application",
        label=f"step4 {label}",
        only=only,
    )


ABLATION = [
    variant("saving each message before reading the next frame", application="one_at_a_time"),
    variant("saving with the ORM", application="orm_save"),
    variant("with Channels' dispatch()", application="channels_dispatch"),
    variant("building the JSON once per member", application="per_member_json"),
    variant("without gc.freeze()", application="no_gc_freeze"),
    variant(
        "with Python's collector thresholds (a pass every 700 new objects)",
        application="default_gc_thresholds",
        only=(*ROOMS, *STORM),
    ),
    variant("with CONN_MAX_AGE = 0", settings="conn_max_age_0"),
    variant(
        "with Channels' AuthMiddlewareStack", application="channels_auth", only=(*ROOMS, *STORM)
    ),
    variant(
        "with Channels' InMemoryChannelLayer",
        settings="channels_memory_layer",
        only=(*ROOMS, *STORM),
    ),
    variant("joining with the ORM's queries", application="orm_join", only=STORM),
    variant("with nested presence events", application="nested_presence", only=STORM),
    variant(
        "with a trip to the database for each joining socket",
        application="trip_per_socket",
        only=STORM,
    ),
    # Not changes to ship: what a join's parts cost, presence first, then the database too.
    variant("without presence (not shippable)", application="no_presence", only=STORM),
    variant(
        "without presence or reads on joining (not shippable)",
        application="no_join_reads",
        only=STORM,
    ),
    # All of them at once, measured like step 4 as shipped: what "today" was.
    variant(
        "before (ORM save one at a time and join, a trip per socket, nested presence, Channels'"
        " layer and auth stack, Python's collector thresholds)",
        settings="channels_memory_layer",
        application="before",
        only=("storm", "saturation_2", "saturation_10", "saturation_50", "steady", "burst"),
    ),
]


def replace(module, name, value):
    """Put `value` in the place of `module.name`, which must be there: a variant that replaced
    a function the code no longer calls would measure step 4 as shipped under another name."""
    if not hasattr(module, name):
        raise AttributeError(f"{module.__name__} has no {name} for a variant to replace")
    setattr(module, name, value)


def chat_routes(application):
    """The routes inside step 4's socket stack, and the number of each one a ChatConsumer (or a
    variant's subclass of it) serves: [(number, route)]."""
    from channels.routing import URLRouter

    from chat.consumers import ChatConsumer

    router = application.application_mapping["websocket"]
    while not isinstance(router, URLRouter):
        router = getattr(router, "inner", None) or router.application
    return router.routes, [
        (number, route)
        for number, route in enumerate(router.routes)
        if issubclass(getattr(route.callback, "consumer_class", object), ChatConsumer)
    ]


def application_with(consumer_class):
    """Step 4's ASGI application, its chat route served by `consumer_class` instead (in place of
    ChatConsumer, or of the subclass of a variant imported before this one, as in before.py).

    The origin check, the session and the routes stay as shipped: only the consumer changes.
    """
    from django.urls import URLPattern

    from learning.asgi import application

    routes, chat = chat_routes(application)
    for number, route in chat:
        callback = consumer_class.as_asgi()
        routes[number] = URLPattern(route.pattern, callback, route.default_args, route.name)
    return application
