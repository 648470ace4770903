"""The mean vector of each video's clips, per (model, strategy) variant.

A search reads the videos whose mean lies nearest its query and ranks every clip of them
exactly, next to what its walk over the clips' own index finds
(:mod:`mediaml.embed.nearest`): the best matches of a query cluster by video, and an
HNSW walk over a million clips often reaches only part of a video, or misses it. The
means live in ``video_vectors`` (migration 0011), one row per video and variant, with
an HNSW index per variant like the clips' (:func:`mediaml.embed.store.ensure_index`).

A mean only routes a search; it never decides a result or a score. Every write of clip
vectors recomputes the means of the videos it touched, in the same transaction, so a
mean is exact once its writers have committed, except when two workers write clips of
one video at once: the later one's mean may then miss the other's clips until the
video's next write, which only makes the routing a little less sharp.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from mediaml.db.database import Connection


def refresh_video_vectors(
    conn: Connection,
    video_ids: Sequence[int] | None = None,
    model_name: str | None = None,
    strategy: str | None = None,
    *,
    removed: bool = True,
) -> int:
    """Recompute the mean vectors of some videos (default: every video) for one variant
    (default: every variant), in the caller's transaction.

    With ``removed`` (vectors may have been deleted), a video left without vectors of a
    variant loses its mean for that variant; a caller that only wrote vectors passes
    False and saves that statement.

    Returns:
        The number of means written.
    """
    where: list[sql.Composable] = []
    params: dict[str, object] = {"videos": list(video_ids) if video_ids is not None else None}
    if video_ids is not None:
        where.append(sql.SQL("video_id = ANY(%(videos)s)"))
    if model_name is not None:
        where.append(sql.SQL("model_name = %(model)s"))
        params["model"] = model_name
    if strategy is not None:
        where.append(sql.SQL("generation_strategy = %(strategy)s"))
        params["strategy"] = strategy
    scope = sql.SQL(" AND ").join(where) if where else sql.SQL("true")
    if removed:
        conn.execute(
            sql.SQL(
                "DELETE FROM video_vectors WHERE {} AND NOT EXISTS (SELECT 1 FROM embeddings e"
                " JOIN clips c ON c.id = e.clip_id WHERE c.video_id = video_vectors.video_id"
                " AND e.model_name = video_vectors.model_name"
                " AND e.generation_strategy = video_vectors.generation_strategy)"
            ).format(scope),
            params,
        )
    # Through clips (video_id) to the clips' vectors, a video at a time; ordered by
    # video so concurrent writers lock the rows they share in one order.
    return conn.execute(
        sql.SQL(
            "INSERT INTO video_vectors AS v"
            " (video_id, model_name, generation_strategy, dim, embedding, clips)"
            " SELECT video_id, model_name, generation_strategy, dim, avg(embedding),"
            " count(DISTINCT clip_id) FROM ("
            " SELECT c.video_id, e.model_name, e.generation_strategy, e.dim, e.embedding,"
            " e.clip_id FROM clips c JOIN embeddings e ON e.clip_id = c.id) m"
            " WHERE {}"
            " GROUP BY video_id, model_name, generation_strategy, dim ORDER BY video_id"
            " ON CONFLICT (model_name, generation_strategy, video_id) DO UPDATE SET"
            " dim = EXCLUDED.dim, embedding = EXCLUDED.embedding, clips = EXCLUDED.clips,"
            " updated_at = now()"
        ).format(scope),
        params,
    ).rowcount
