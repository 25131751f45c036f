"""releasetrain.secrets: every secret the formula reads, written once and owner-only."""

import base64
import os
import stat

import yaml

from releasetrain import secrets


def test_make_secrets_has_every_name_and_valid_fernet_keys():
    made = secrets.make_secrets()
    assert set(secrets.SECRET_NAMES) <= set(made)
    for name in secrets.SECRET_NAMES:
        assert isinstance(made[name], str) and len(made[name]) >= 16
    for key in (*made["fernet_keys"], *made["credential_keys"]):
        assert len(base64.urlsafe_b64decode(key)) == 32
    assert secrets.make_secrets()["admin"] != made["admin"]


def test_write_pillar_writes_once_with_mode_0600(tmp_path):
    path = tmp_path / "pillar" / "openstack" / "secrets" / "lab.sls"
    assert secrets.write_pillar(str(path)) is True
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    first = path.read_text()
    data = yaml.safe_load(first)
    assert set(secrets.SECRET_NAMES) <= set(data["openstack"]["secrets"])
    assert secrets.write_pillar(str(path)) is False
    assert path.read_text() == first
