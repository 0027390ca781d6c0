"""The `cache` group: where the project's cache is, what it holds and how big (`info`), and removing it (`clean`)."""

from __future__ import annotations

import typer

from portraitcraft.cli.contract import Program

cache_app = Program(help=("The project's cache ($PORTRAITCRAFT_CACHE, else ~/.cache/portraitcraft): what it holds and "
                          "how big, and removing it. Everything in it is made again when needed."),
                    no_args_is_help=True)


@cache_app.command("info")
def info() -> None:
    """Where the cache is and the size of each part: the default lab, DatasetDicts opened as data, assess's records,
    the lab-trained baseline."""
    from portraitcraft.cache import cache_parts, human_size
    from portraitcraft.sources import default_cache_dir

    parts = cache_parts()
    typer.echo(f"cache: {default_cache_dir()} (set PORTRAITCRAFT_CACHE to move it)")
    for part in parts:
        typer.echo(f"  {part.name:<14} {human_size(part.size):>9}  {part.files:>6} file(s)  {part.what}")
    typer.echo(f"  {'total':<14} {human_size(sum(p.size for p in parts)):>9}")


@cache_app.command("clean")
def clean(
    parts: list[str] = typer.Argument(None, help="Parts to remove (default: all): lab-default, from-datasets, assess, "
                                                 "baseline."),
) -> None:
    """Remove the cache's parts (all, or those named); they are made again when next needed. Only the project's own
    folders are removed, never the cache folder or anything else in it."""
    from portraitcraft.cache import clean as remove
    from portraitcraft.cache import human_size

    removed = remove(parts or ())
    for part in removed:
        typer.echo(f"removed {part.path} ({human_size(part.size)})", err=True)
    if not removed:
        typer.echo("nothing to remove", err=True)
