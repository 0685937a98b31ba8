"""The embedded AWS (moto, in-process) that runs Deckwatch's real wiring locally, and the `deckwatch` CLI.

Needs the `local` extra (`pip install deckwatch[local]`); nothing here is imported by Lambda handlers.
"""
