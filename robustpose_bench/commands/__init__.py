"""Explicit list of subcommand modules; each exposes ``register(subparsers)``.

A module's ``register`` adds its parser and sets ``func`` (a callable taking the parsed
args and returning the exit status).
"""
from . import list_cmd

COMMANDS = (
    list_cmd,
)
