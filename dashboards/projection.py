"""2D maps of embedding vectors: PCA always, UMAP when ``umap-learn`` is installed."""

from __future__ import annotations

import importlib.util

import numpy as np

from mediaml.errors import MediamlError


def umap_available() -> bool:
    """Whether the optional ``umap-learn`` package is installed (``pip install mediaml[umap]``)."""
    return importlib.util.find_spec("umap") is not None


def methods() -> list[str]:
    """The projection methods usable here."""
    return ["PCA", "UMAP"] if umap_available() else ["PCA"]


def project(vectors: np.ndarray, method: str = "PCA", *, seed: int = 0) -> np.ndarray:
    """Project ``n x d`` vectors to ``n x 2`` points.

    PCA: the first two principal components (0 where the data has fewer dimensions of
    variation). UMAP: cosine metric, neighbours scaled to the number of points.

    Raises:
        MediamlError: UMAP asked for without ``umap-learn``, or an unknown method.
    """
    data = np.asarray(vectors, dtype=np.float64)
    n = data.shape[0]
    if n == 0:
        return np.zeros((0, 2))
    if method == "PCA":
        centered = data - data.mean(axis=0)
        if n == 1:
            return np.zeros((1, 2))
        _, _, vt = np.linalg.svd(centered, full_matrices=False)
        xy = centered @ vt[:2].T
        if xy.shape[1] < 2:
            xy = np.hstack([xy, np.zeros((n, 2 - xy.shape[1]))])
        return xy
    if method == "UMAP":
        if not umap_available():
            raise MediamlError("UMAP needs the umap-learn package: pip install 'mediaml[umap]'")
        if n < 4:
            return project(data, "PCA")
        import umap

        reducer = umap.UMAP(
            n_components=2, metric="cosine", n_neighbors=min(15, n - 1), random_state=seed
        )
        return np.asarray(reducer.fit_transform(data), dtype=np.float64)
    raise MediamlError(f"unknown projection {method!r}; use one of {', '.join(methods())}")
