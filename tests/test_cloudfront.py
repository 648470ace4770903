import base64
import datetime as dt
import json
from urllib.parse import parse_qs, urlparse

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mediaml.errors import ConfigError
from mediaml.storage.cloudfront import CloudFrontUrlSigner


def cf_b64decode(text: str) -> bytes:
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"))


@pytest.fixture(scope="module")
def keypair():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return key.public_key(), pem


def test_signed_url_verifies_and_expires(keypair):
    public, pem = keypair
    signer = CloudFrontUrlSigner("https://d111.cloudfront.net/", "KEYID123", pem)
    now = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
    url = signer.url("proxies/1-a b.mp4", expires=600, now=now)
    parsed = urlparse(url)
    assert parsed.scheme == "https" and parsed.netloc == "d111.cloudfront.net"
    assert parsed.path == "/proxies/1-a%20b.mp4"
    q = parse_qs(parsed.query)
    assert q["Key-Pair-Id"] == ["KEYID123"]
    expires = int(q["Expires"][0])
    assert expires == int((now + dt.timedelta(seconds=600)).timestamp())
    # Canned policy: CloudFront verifies this exact JSON against the signature.
    resource = url.split("?")[0]
    policy = json.dumps(
        {
            "Statement": [
                {"Resource": resource, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}
            ]
        },
        separators=(",", ":"),
    ).encode()
    public.verify(cf_b64decode(q["Signature"][0]), policy, padding.PKCS1v15(), hashes.SHA1())
    # A later expiry makes a different policy, which the signature does not cover.
    later = policy.replace(str(expires).encode(), str(expires + 1).encode())
    with pytest.raises(InvalidSignature):
        public.verify(cf_b64decode(q["Signature"][0]), later, padding.PKCS1v15(), hashes.SHA1())


def test_private_key_from_file(keypair, tmp_path):
    _, pem = keypair
    path = tmp_path / "cf.pem"
    path.write_text(pem)
    assert "Signature=" in CloudFrontUrlSigner("d1.cloudfront.net", "K", str(path)).url(
        "masters/1-a.mp4"
    )


@pytest.mark.parametrize(
    "bad", ["-----BEGIN PRIVATE KEY-----\nnonsense\n-----END PRIVATE KEY-----", "/no/such/file.pem"]
)
def test_bad_private_key_is_a_clear_error(bad):
    with pytest.raises(ConfigError, match="CLOUDFRONT_PRIVATE_KEY"):
        CloudFrontUrlSigner("d1.cloudfront.net", "K", bad)
