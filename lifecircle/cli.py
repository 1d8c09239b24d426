"""Command-line interface (placeholder until the pipeline lands)."""

import typer

app = typer.Typer()
