"""Account events (issue 16): low-balance and lifecycle events read off the tables' DynamoDB streams.

The charge path writes nothing for them: the streams (NEW_AND_OLD_IMAGES) of the users and
credits tables carry every change, ``stream_records`` turns a record into domain events (pure),
and a publisher (``publishers``) delivers them: an EventBridge custom bus when deployed
(``handler``, the stream consumer Lambda), a webhook or a JSON-lines log locally (local/events.py).
"""
