"""The README's main job: a demo of OmniQ on the embedded SQLite default.

Run it with ``python -m omniq.demo``.
"""
