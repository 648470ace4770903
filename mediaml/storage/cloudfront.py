"""CloudFront signed URLs (canned policy) for media behind a distribution."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import quote

from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mediaml.errors import ConfigError


def load_private_key(value: str) -> rsa.RSAPrivateKey:
    """Parse ``CLOUDFRONT_PRIVATE_KEY``: PEM text, or a path to a PEM file.

    Raises:
        ConfigError: not an RSA private key in PEM form.
    """
    text = value
    if "-----BEGIN" not in value:
        path = Path(value).expanduser()
        if not path.is_file():
            raise ConfigError(
                "CLOUDFRONT_PRIVATE_KEY is neither PEM text nor the path of a readable file"
            )
        text = path.read_text()
    try:
        key = serialization.load_pem_private_key(text.replace("\\n", "\n").encode(), None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"CLOUDFRONT_PRIVATE_KEY is not a usable PEM private key: {exc}"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(
            "CLOUDFRONT_PRIVATE_KEY must be an RSA key (CloudFront signs with RSA-SHA1)"
        )
    return key


class CloudFrontUrlSigner:
    """Makes signed URLs for keys served by one CloudFront distribution."""

    def __init__(self, domain: str, key_pair_id: str, private_key: str) -> None:
        self.domain = domain.removeprefix("https://").removeprefix("http://").rstrip("/")
        self._key = load_private_key(private_key)
        self._signer = CloudFrontSigner(key_pair_id, self._sign)

    def _sign(self, message: bytes) -> bytes:
        return self._key.sign(message, padding.PKCS1v15(), hashes.SHA1())

    def url(self, key: str, expires: int = 3600, *, now: dt.datetime | None = None) -> str:
        """A URL for ``key`` valid for ``expires`` seconds from ``now``."""
        now = now or dt.datetime.now(dt.UTC)
        expiry = now + dt.timedelta(seconds=expires)
        return str(
            self._signer.generate_presigned_url(
                f"https://{self.domain}/{quote(key)}", date_less_than=expiry
            )
        )
