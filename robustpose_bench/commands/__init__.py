"""Explicit list of subcommand modules; each exposes ``register(subparsers)``.

A module's ``register`` adds its parser and sets ``func`` (a callable taking the parsed
args and returning the exit status).
"""
from . import build_cmd, download_cmd, list_cmd, score_cmd, table_cmd, verify_cmd
from . import eval_cmd, eval_external_cmd, inspect_cmd, merge_cmd
from . import export_cmd, train_cmd
from . import leaderboard_cmd, plot_cmd, submit_cmd
from . import demo_cmd, docs_cmd

# The order of `robustpose-bench --help`: the pipeline, from getting the data to the leaderboard, then
# training, the demo that runs it all, and the listings.
COMMANDS = (
    download_cmd,
    build_cmd,
    verify_cmd,
    inspect_cmd,
    eval_cmd,
    eval_external_cmd,
    merge_cmd,
    score_cmd,
    table_cmd,
    plot_cmd,
    submit_cmd,
    leaderboard_cmd,
    train_cmd,
    export_cmd,
    demo_cmd,
    list_cmd,
    docs_cmd,
)
