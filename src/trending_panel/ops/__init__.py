"""The commands: ``trending-panel`` and its subcommands, ``check``, the demo and the
simulated plant.

May import every layer. Nothing imports ``ops``.
"""
