"""Two worker nodes that share only the database and an S3 server (moto), each with its
own data dir, as two Render instances would: every item is processed exactly once and no
object is written twice.

The bucket is versioned, so S3 itself keeps every write: a key written twice has two
versions, one written and deleted has a delete marker. Each worker logs one
``<stage> <table> <id>: done`` line per item it finished; across both logs each must
appear once.
"""

from __future__ import annotations

import re
from collections import Counter

import boto3

import mediaml
from mediaml.catalog import clips
from tests.pipeline.conftest import ALL_QUEUES, wait_for
from tests.support.media import Shot, make_multishot_video

VIDEOS = 10
DONE = re.compile(r"^.*\b(\w+) (source_videos|clips) (\d+): done in", re.MULTILINE)


def _s3(endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _count(db, query: str) -> int:  # type: ignore[no-untyped-def]
    with db.transaction() as conn:
        return int(next(iter(conn.execute(query).fetchone().values())))


def test_two_nodes_process_every_item_exactly_once(
    db, start_worker, s3_endpoint, s3_bucket, tmp_path
):
    from tests.support.embed import write_tiny_clip_model

    s3 = _s3(s3_endpoint)
    s3.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    write_tiny_clip_model(tmp_path / "models")
    sources = []
    for i in range(VIDEOS):
        path = tmp_path / "sources" / f"video {i}.mp4"
        path.parent.mkdir(exist_ok=True)
        make_multishot_video(path, [Shot("testsrc2", 20), Shot("smptebars", 20)], audio=False)
        sources.append(path)

    nodes = []
    for name in ("node-a", "node-b"):
        nodes.append(
            start_worker(
                MEDIAML_DATA_DIR=str(tmp_path / name),  # nothing on disk is shared
                MEDIAML_QUEUES=ALL_QUEUES,
                PROD_S3_BUCKET_NAME=s3_bucket,
                MEDIAML_S3_ENDPOINT_URL=s3_endpoint,
                AWS_ACCESS_KEY_ID="testing",
                AWS_SECRET_ACCESS_KEY="testing",
                AWS_REGION="us-east-1",
                MEDIAML_MODEL_DIR=str(tmp_path / "models"),
                HF_HUB_OFFLINE="1",
            )
        )
    video_ids = [int(v) for v in mediaml.ingest(sources)["video_id"]]
    assert len(set(video_ids)) == VIDEOS

    def logs() -> str:
        return "\n".join(node.output() for node in nodes)

    wait_for(
        lambda: _count(db, "SELECT count(*) FROM source_videos WHERE state = 'done'") == VIDEOS,
        timeout=240,
        what="every video done",
        worker=nodes[0],
    )
    mediaml.pipeline.run.approve_pending(db, video_ids, "tester")
    clip_count = _count(db, "SELECT count(*) FROM clips")
    assert clip_count == 2 * VIDEOS, clips()
    wait_for(
        lambda: set(clips()["state"]) == {"embedded"},
        timeout=240,
        what=f"every clip embedded; states now {clips()['state'].value_counts().to_dict()}",
        worker=nodes[1],
    )

    # Each stage finished each item once, whichever node ran it, and both nodes worked.
    done = [m.groups() for node in nodes for m in DONE.finditer(node.output())]
    repeated = {k: n for k, n in Counter(done).items() if n > 1}
    assert not repeated, f"items finished more than once: {repeated}\n{logs()[-4000:]}"
    per_node = [len(DONE.findall(node.output())) for node in nodes]
    assert all(per_node), f"one node did nothing: {per_node}"
    stages = Counter(stage for stage, _, _ in done)
    assert stages["embed"] == clip_count and stages["keyframes"] == clip_count, stages
    assert _count(db, "SELECT count(*) FROM embeddings") == clip_count
    assert _count(db, "SELECT count(DISTINCT clip_id) FROM embeddings") == clip_count

    # Every object was written once: one version per key, and nothing deleted.
    versions: Counter[str] = Counter()
    deleted = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=s3_bucket):
        versions.update(v["Key"] for v in page.get("Versions", []))
        deleted.extend(m["Key"] for m in page.get("DeleteMarkers", []))
    twice = {key: n for key, n in versions.items() if n > 1}
    assert not twice, f"objects written more than once: {twice}"
    assert not deleted, f"objects written and deleted again: {deleted}"
    prefixes = Counter(key.split("/")[0] for key in versions)
    assert prefixes["originals"] == VIDEOS and prefixes["proxies"] == VIDEOS, prefixes
    keyframes = _count(db, "SELECT count(*) FROM clip_artifacts WHERE kind = 'keyframe'")
    assert sum(1 for k in versions if "keyframes/" in k and k.endswith(".jpg")) == keyframes > 0
    # With each keyframe, its model-sized rendition for the CLIP model, written once too.
    renditions = [key for key in versions if "keyframes/" in key and key.endswith(".png")]
    assert len(renditions) == keyframes, renditions
