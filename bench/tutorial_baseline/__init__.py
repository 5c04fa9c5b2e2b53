"""The baseline: the official Channels tutorial's chat, as a learner would have it after part 3.

https://channels.readthedocs.io/en/stable/tutorial/part_3.html (the async consumer). No
persistence, no presence, no validation: JSON in, group_send, the handler sends JSON.
"""
