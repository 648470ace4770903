"""``mediaml embed | search``."""

from __future__ import annotations

import click
import numpy as np

from mediaml.cli import friendly_errors
from mediaml.cli.output import emit


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--model", help="Model name (default: MEDIAML_EMBED_MODEL).")
@click.option("--out", type=click.Path(dir_okay=False), help="Save the vectors as .npy.")
@click.option("--json", "as_json", is_flag=True, help="Print the vectors as JSON.")
@friendly_errors
def embed(images: tuple[str, ...], model: str | None, out: str | None, as_json: bool) -> None:
    """Embed image files with an embedding model.

    \b
    Examples:
      mediaml embed frame1.jpg frame2.jpg --out vectors.npy
      mediaml embed still.png --model mediaml-descriptor-v1 --json
    """
    import mediaml

    vectors = mediaml.embed_images(list(images), model=model)
    if out:
        np.save(out, vectors)
    if as_json:
        emit({"model": model, "vectors": vectors.tolist()}, True)
    else:
        click.echo(
            f"{vectors.shape[0]} image(s) -> {vectors.shape[1]}-dim vectors"
            + (f", saved to {out}" if out else "")
        )


@click.command()
@click.argument("clip_id", required=False, type=int)
@click.option("--text", help="Search by text instead of by a clip.")
@click.option("-k", default=10, show_default=True, help="How many results.")
@click.option("--model", help="Model name (default: MEDIAML_EMBED_MODEL).")
@click.option("--strategy", help="Generation strategy (default: MEDIAML_EMBED_STRATEGY).")
@click.option("--video", type=int, help="Only clips of this source video.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@friendly_errors
def search(
    clip_id: int | None,
    text: str | None,
    k: int,
    model: str | None,
    strategy: str | None,
    video: int | None,
    as_json: bool,
) -> None:
    """Find clips similar to CLIP_ID, or matching --text.

    \b
    Examples:
      mediaml search 42 -k 5
      mediaml search --text "a red car at night"
    """
    import mediaml

    if (clip_id is None) == (text is None):
        raise click.UsageError("give either a CLIP_ID or --text")
    if text is not None:
        frame = mediaml.search_text(text, k, model=model, strategy=strategy, source_video=video)
    else:
        frame = mediaml.similar(clip_id, k, model=model, strategy=strategy, source_video=video)
    emit(frame, as_json)
    if frame.empty and not as_json:
        click.echo("no results (are clips embedded with this model and strategy?)", err=True)
