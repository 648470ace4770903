"""S3 backend (s3fs for data, boto3 for presigned URLs), also for S3-compatible servers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import s3fs
from botocore.config import Config

from mediaml.errors import ConfigError, StorageError
from mediaml.storage.cache import ObjectCache
from mediaml.storage.cloudfront import CloudFrontUrlSigner
from mediaml.storage.keys import validate_bucket_name
from mediaml.storage.store import ObjectStore


class S3Store(ObjectStore):
    """Objects in one bucket; URLs are CloudFront signed URLs when a distribution is
    configured, else S3 presigned URLs."""

    name = "s3"

    def __init__(
        self,
        bucket: str,
        cache_dir: Path,
        *,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        cloudfront: CloudFrontUrlSigner | None = None,
        cache: ObjectCache | None = None,
    ) -> None:
        validate_bucket_name(bucket)
        session = boto3.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
        )
        if session.get_credentials() is None:
            raise ConfigError(
                "S3 storage needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        client_kwargs: dict[str, Any] = {"region_name": region}
        if endpoint_url:
            client_kwargs["endpoint_url"] = endpoint_url
        fs = s3fs.S3FileSystem(
            key=access_key_id,
            secret=secret_access_key,
            client_kwargs=client_kwargs,
            use_listings_cache=False,
            skip_instance_cache=True,
        )
        super().__init__(fs, bucket, cache_dir, cache)
        self.bucket = bucket
        self._client = session.client(
            "s3", endpoint_url=endpoint_url, config=Config(signature_version="s3v4")
        )
        self.cloudfront = cloudfront

    def url(self, key: str, expires: int = 3600) -> str:
        """A signed URL valid for ``expires`` seconds."""
        self.path(key)
        if self.cloudfront is not None:
            return self.cloudfront.url(key, expires)
        return str(
            self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires
            )
        )

    def check(self) -> None:
        """Raise :class:`StorageError` unless the bucket exists and the credentials work."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except Exception as exc:  # botocore's ClientError and connection errors
            raise StorageError(
                f"S3 bucket {self.bucket!r} is not reachable with the configured credentials "
                f"({exc}); check PROD_S3_BUCKET_NAME, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
                "AWS_REGION and MEDIAML_S3_ENDPOINT_URL"
            ) from exc
