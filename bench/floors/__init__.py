"""Floor apps: what the same HTTP work costs without Palaver.

``bare``: Sanic parses the REST payload and answers with a bot message.
``stack``: the same plus the minimum I/O of the production stack per message
(one Redis lock acquire/release, one indexed PostgreSQL read of the latest
events, one multi-row insert). Palaver's numbers are reported as ratios to
these, measured in the same run on the same machine.
"""
