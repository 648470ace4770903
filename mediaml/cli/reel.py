"""``mediaml reel``: join clips into one MP4."""

from __future__ import annotations

import click

from mediaml.cli import friendly_errors


@click.command("reel")
@click.argument("clip_ids", nargs=-1, required=True, type=click.IntRange(min=1))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, writable=True),
    help="The MP4 to write.",
)
@click.option(
    "--crossfade",
    type=click.FloatRange(min=0),
    default=0.5,
    show_default=True,
    help="Seconds each clip fades in over the previous one (0: hard cuts).",
)
@click.option(
    "--captions/--no-captions",
    default=True,
    show_default=True,
    help="Draw each clip's video title, id and start time on it.",
)
@click.option("--title", help="A title card shown before the first clip.")
@friendly_errors
def reel(
    clip_ids: tuple[int, ...], output: str, crossfade: float, captions: bool, title: str | None
) -> None:
    """Join CLIP_IDS, in that order, into one MP4 (frame-exact clips, sound kept).

    \b
    Examples:
      mediaml reel 12 15 31 -o best.mp4
      mediaml reel 3 4 5 -o cuts.mp4 --crossfade 0 --no-captions --title "Day one"
    """
    import mediaml

    path = mediaml.reel(list(clip_ids), output, crossfade=crossfade, captions=captions, title=title)
    click.echo(f"wrote {path}")
