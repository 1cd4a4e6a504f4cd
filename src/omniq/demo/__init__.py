"""The README's main job: a demo of OmniQ on the embedded SQLite default.

Run it with ``omniq demo`` (the command is :mod:`omniq.cli.demo`); ``python -m omniq.demo``
runs the same command. Its task functions live in :mod:`omniq.demo.tasks`.
"""
