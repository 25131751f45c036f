"""Secrets for a region of the OpenStack formula: passwords and fernet/credential keys.

The formula reads them from pillar (``openstack:secrets``), never from a
deploy-kit.  :func:`make_secrets` makes a fresh set (the tests make one per
run); :func:`write_pillar` writes one set into a pillar SLS once, readable by
its owner only, and keeps it on later runs so a deployed region keeps working.
"""

import base64
import os

import yaml

#: Every secret the formula's stages read (``pillar/openstack.sls.example``).
SECRET_NAMES = ("rabbitmq", "admin", "keystone_db", "glance_db", "placement_db", "nova_db",
                "neutron_db", "glance", "placement", "nova", "neutron", "metadata")


def make_secrets():
    """A fresh set of secrets: random passwords, two fernet keys and two credential keys."""
    def key():
        return base64.urlsafe_b64encode(os.urandom(32)).decode()

    secrets = {name: base64.urlsafe_b64encode(os.urandom(12)).decode() for name in SECRET_NAMES}
    secrets.update(fernet_keys=[key(), key()], credential_keys=[key(), key()])
    return secrets


def write_pillar(path):
    """Write ``{openstack: {secrets: ...}}`` to ``path`` (mode 0600) unless it exists; True when written."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("# Made by releasetrain.secrets for this region; keep it out of kits and git.\n")
        yaml.safe_dump({"openstack": {"secrets": make_secrets()}}, handle, sort_keys=False)
    return True
