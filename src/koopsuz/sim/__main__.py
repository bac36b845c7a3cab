"""``python -m koopsuz.sim``: the simulator without the rest of the CLI (same options as ``koopsuz sim``)."""

import typer

from koopsuz.sim.command import register

app = typer.Typer(add_completion=False, rich_markup_mode="rich")
register(app)

if __name__ == "__main__":
    app()
