"""Everything that talks to PostgreSQL: the store (its connections on a loop of their own,
the reads, the change census, the CSV's ``COPY``, the writes of the simulator), a window's
rows reduced to buckets a slice at a time (``scan``), the catalog's rules, and the diagnosis
of a failed connection.

May import ``core``.
"""
