"""The leaderboard: one validated JSON entry per (dataset, model), checked against its results
file and rendered into Markdown, LaTeX, CSV and a static HTML page. See docs/leaderboard.md."""
