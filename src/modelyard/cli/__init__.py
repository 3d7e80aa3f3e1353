"""Command-line interface (Typer + Rich)."""

from modelyard.cli.app import app, main

__all__ = ["app", "main"]
