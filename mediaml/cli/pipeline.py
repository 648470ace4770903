"""``mediaml ingest | run | status | retry``."""

from __future__ import annotations

import sys

import click

from mediaml.cli import EXIT_ERROR, EXIT_PARTIAL, friendly_errors
from mediaml.cli.output import emit


@click.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--title", help="Title for a single source (default: its file name).")
@click.option("--no-check", is_flag=True, help="Do not probe local files before registering.")
@click.option(
    "--no-queue",
    is_flag=True,
    help="Only register; leave the videos for the dispatcher or `mediaml run`.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@friendly_errors
def ingest(
    sources: tuple[str, ...], title: str | None, no_check: bool, no_queue: bool, as_json: bool
) -> None:
    """Register videos: files, folders, globs, file://, s3:// or http(s):// URLs.

    Folders and globs leave out hidden files and mediaml's own data dir. The new videos
    are queued for the workers right away (`mediaml worker`); `mediaml run` processes
    them in this process instead. Exit status: 0 all registered, 3 some failed, 1 none
    registered.

    \b
    Examples:
      mediaml ingest ~/footage/
      mediaml ingest 'clips/*.mp4' s3://bucket/raw/a.mov https://example.com/b.mp4
    """
    import warnings

    import mediaml
    from mediaml.errors import IngestWarning

    with warnings.catch_warnings():
        # The sources that failed are listed below, one line each.
        warnings.simplefilter("ignore", IngestWarning)
        frame = mediaml.ingest(list(sources), title=title, check=not no_check)
    if not no_queue:
        from mediaml.jobs.tasks import queue_downloads

        queue_downloads([int(v) for v in frame["video_id"].dropna()])
    emit(frame, as_json)
    failed = int(frame["error"].notna().sum())
    if failed:
        for r in frame[frame["error"].notna()].itertuples():
            click.echo(f"could not ingest {r.source}: {r.error}", err=True)
        sys.exit(EXIT_ERROR if failed == len(frame) else EXIT_PARTIAL)


@click.command()
@click.argument("sources", nargs=-1)
@click.option(
    "--until",
    type=click.Choice(["downloaded", "encoded", "review", "exported", "keyframed", "embedded"]),
    default="embedded",
    show_default=True,
    help="Last state to reach.",
)
@click.option("--auto-approve", is_flag=True, help="Approve new clips without review.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def run(
    sources: tuple[str, ...], until: str, auto_approve: bool, as_json: bool, quiet: bool
) -> None:
    """Run the pipeline in this process (ingesting SOURCES first, if given).

    Exit status: 0 all steps done, 3 some failed.

    \b
    Examples:
      mediaml run ~/footage/ --until review
      mediaml run --auto-approve          # whatever is waiting, to embedded
    """
    import mediaml

    frame = mediaml.run_pipeline(
        list(sources) or None,
        until=until,
        auto_approve=auto_approve,
        progress=not quiet and not as_json,
    )
    if as_json:
        emit(frame, True)
    else:
        summary = frame.groupby(["stage", "result"]).size().rename("items").reset_index()
        emit(summary, False)
    failed = frame[frame["result"] == "failed"]
    for r in failed.itertuples():
        click.echo(
            f"{r.stage} {r.item_id if r.item_id is not None else ''} failed: {r.error}", err=True
        )
    if len(failed):
        sys.exit(EXIT_PARTIAL)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@friendly_errors
def status(as_json: bool) -> None:
    """Counts per state for videos and clips, failed items, queue depths, last runs.

    \b
    Example:
      mediaml status --json | jq .clips.pending_review
    """
    from mediaml.catalog import status as read_status

    data = read_status()
    if as_json:
        emit(data, True)
        return
    for kind in ("videos", "clips"):
        counts = {k: v for k, v in data[kind].items() if v}
        click.echo(f"{kind}: " + (", ".join(f"{k}={v}" for k, v in counts.items()) or "none"))
    click.echo("queues: " + ", ".join(f"{k}={v}" for k, v in data["queues"].items()))
    for job, run_ in data["last_runs"].items():
        click.echo(f"last {job}: {run_['finished_at']} on {run_['node']}")
    for f in data["failed"][:20]:
        if f["error_kind"] == "transient" and f["next_retry_at"]:
            when = f"transient, try {f['retry_count']}, next try at {f['next_retry_at']}"
        else:
            when = "permanent, waits for `mediaml retry`"
        click.echo(f"failed {f['kind']} {f['id']} ({f['state']}; {when}): {f['last_error']}")


@click.command()
@click.argument("ids", nargs=-1, type=int)
@click.option("--videos", "what", flag_value="videos", help="Only failed videos.")
@click.option("--clips", "what", flag_value="clips", help="Only failed clips.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@friendly_errors
def retry(ids: tuple[int, ...], what: str | None, as_json: bool) -> None:
    """Re-queue failed videos and clips (all of them, or the given IDS).

    \b
    Examples:
      mediaml retry                 # everything that failed
      mediaml retry --clips 12 13
    """
    import mediaml

    if ids and what is None:
        raise click.UsageError("say whether the ids are --videos or --clips")
    frame = mediaml.retry(what or "all", list(ids) or None)
    emit(frame, as_json)
    if not as_json:
        click.echo(f"{len(frame)} item(s) re-queued")
    missed = sorted(set(ids) - {int(i) for i in frame["id"]})
    if missed:
        kind = "video" if what == "videos" else "clip"
        click.echo(
            f"not re-queued: {kind}(s) {', '.join(map(str, missed))} do not exist or have "
            "not failed (mediaml status lists the failed ones)",
            err=True,
        )
        sys.exit(EXIT_ERROR if frame.empty else EXIT_PARTIAL)
