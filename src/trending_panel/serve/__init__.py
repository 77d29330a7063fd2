"""One Bokeh/Tornado process: the server with its warm-up and stop, the sign-in and
websocket origins, the CSV route, and the entry point for ``panel serve``.

May import ``web`` and everything below it.
"""
