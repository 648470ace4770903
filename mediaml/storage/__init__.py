"""Object storage: a local directory by default, S3 (and CloudFront URLs) in production."""

from __future__ import annotations

from mediaml.config import Settings, get_settings
from mediaml.errors import required
from mediaml.storage.cache import ObjectCache, object_cache
from mediaml.storage.local import LocalStore
from mediaml.storage.store import ObjectStore

__all__ = ["LocalStore", "ObjectCache", "ObjectStore", "get_store", "make_store", "set_store"]


def make_store(settings: Settings) -> ObjectStore:
    """Build the object store that ``settings`` describe.

    Raises:
        ConfigError: bad bucket name, missing credentials or an unusable CloudFront key.
    """
    if not settings.s3_bucket:
        return LocalStore(settings.media_dir, settings.cache_dir)
    from mediaml.storage.cloudfront import CloudFrontUrlSigner
    from mediaml.storage.s3 import S3Store

    signer = None
    if settings.cloudfront_domain:
        # load_settings refuses a CloudFront domain without both of these.
        signer = CloudFrontUrlSigner(
            settings.cloudfront_domain,
            required(settings.cloudfront_key_pair_id, "CLOUDFRONT_KEY_PAIR_ID"),
            required(settings.cloudfront_private_key, "CLOUDFRONT_PRIVATE_KEY"),
        )
    return S3Store(
        settings.s3_bucket,
        settings.cache_dir,
        cache=object_cache(settings),
        access_key_id=settings.aws_access_key_id,
        secret_access_key=settings.aws_secret_access_key,
        region=settings.aws_region,
        endpoint_url=settings.s3_endpoint_url,
        cloudfront=signer,
    )


_store: ObjectStore | None = None


def get_store() -> ObjectStore:
    """The process's object store, built from the settings on first use."""
    global _store
    if _store is None:
        _store = make_store(get_settings())
    return _store


def set_store(store: ObjectStore | None) -> None:
    """Replace the process's object store (``None`` rebuilds it on next use)."""
    global _store
    _store = store
