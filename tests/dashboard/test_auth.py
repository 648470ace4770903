"""Login configuration: parsing users, production refusing to run without logins."""

import json

import pytest

from dashboards.auth import auth_config, parse_users
from mediaml.config import load_settings
from mediaml.errors import ConfigError

PRODUCTION = {
    "MEDIAML_ENV": "production",
    "DATABASE_URL": "postgresql://u:p@db.invalid/x",
    "PUBLIC_HOST": "review.example.com",
    "PROD_S3_BUCKET_NAME": "media-bucket",
    "PROD_CLOUDFRONT_DOMAIN": "d111.cloudfront.net",
    "CLOUDFRONT_KEY_PAIR_ID": "K123",
    "CLOUDFRONT_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----",
    "AWS_ACCESS_KEY_ID": "a",
    "AWS_SECRET_ACCESS_KEY": "b",
    "AWS_REGION": "eu-west-1",
    "SECRET_KEY_BASE": "s" * 40,
}


def test_pairs_and_json_files(tmp_path):
    assert parse_users("alice:pw1, bob:p:w2") == {"alice": "pw1", "bob": "p:w2"}
    path = tmp_path / "users.json"
    path.write_text(json.dumps({"carol": "secret"}))
    assert parse_users(str(path)) == {"carol": "secret"}


@pytest.mark.parametrize("value", ["alice", "alice:", ":pw", "a:b,,c:d"])
def test_malformed_pairs_are_refused_without_echoing_passwords(value):
    with pytest.raises(ConfigError, match="MEDIAML_AUTH_USERS") as info:
        parse_users(value)
    assert "pw" not in str(info.value)


def test_malformed_json_file(tmp_path):
    path = tmp_path / "users.json"
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="object of user name"):
        parse_users(str(path))
    with pytest.raises(ConfigError, match="not a readable JSON file"):
        parse_users(str(tmp_path / "missing.json"))


def test_production_needs_logins():
    with pytest.raises(ConfigError, match="MEDIAML_AUTH_USERS"):
        auth_config(load_settings(PRODUCTION))
    config = auth_config(load_settings({**PRODUCTION, "MEDIAML_AUTH_USERS": "ann:pw"}))
    assert config is not None and config.users == {"ann": "pw"}
    assert config.cookie_secret == "s" * 40 and "pw" not in repr(config)


def test_development_is_open_unless_users_are_set(tmp_path):
    base = {"MEDIAML_DATA_DIR": str(tmp_path)}
    assert auth_config(load_settings(base)) is None
    config = auth_config(load_settings({**base, "MEDIAML_AUTH_USERS": "dev:pw"}))
    assert config is not None and len(config.cookie_secret) >= 32
