"""What one request reads: a window at a plot's pixel width (from the summary or the
database), a session's window load, a window's statistics, pandas frames for a notebook, and
the CSV's bytes.

May import ``live``, ``db`` and ``core``.
"""
