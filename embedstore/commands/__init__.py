"""Typer command groups, one file each: index, search, info, probe, project, frames."""
