"""A viewer's page: the session's state (parameters, loads, the tick) and its helpers (URL,
viewport, live statistics, notes, notebook data), the Bokeh sources it streams into, the views
and the layout, the plots, the theme, and the page's HTML and browser-side components.

May import ``read``, ``live``, ``db`` and ``core``. The state knows no CSS: the views and
the header decide how things look.
"""
