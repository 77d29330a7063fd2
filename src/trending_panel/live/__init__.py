"""What a process shares among all its viewers: the live feed (one poll a tick), the summary
of every table's history, the convergence detector, the slots that bound concurrent work, and
the hub that holds one of each.

May import ``db`` and ``core``.
"""
