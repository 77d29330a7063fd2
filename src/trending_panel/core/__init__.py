"""The project's vocabulary, pure: settings from the environment, the variables (tags) and
their file, time windows, rows and their time units, M4 buckets with their moments, step
vertices, the exactly-once ledger, and the project's exceptions.

No I/O beyond reading the environment and a configuration file; no database, no Panel, no
Bokeh. Imports nothing else of the package.
"""
