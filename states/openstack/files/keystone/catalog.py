#!/usr/bin/python3
"""Make keystone's catalog match OPENSTACK_CATALOG; print a Salt stateful line.

Runs with the admin credentials in OS_* variables.  OPENSTACK_CATALOG is JSON:
{"region", "project", "role", "users": {name: password},
 "services": {name: {"type", "url"}}}; every service gets public, internal
and admin endpoints at its URL.  The last line of output says whether
anything changed, as Salt's cmd states with ``stateful: true`` expect.
"""

import json
import os
import shlex
import sys
import time

import openstack
from keystoneauth1 import exceptions as ks_exceptions

INTERFACES = ("public", "internal", "admin")


def connect_admin(deadline_seconds=120):
    """The admin connection, once keystone answers (it may just have started)."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        try:
            conn = openstack.connect()
            conn.authorize()
            return conn
        except (ks_exceptions.ConnectFailure, ks_exceptions.ServiceUnavailable):
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def password_works(user, password, project):
    try:
        openstack.connect(
            auth_url=os.environ["OS_AUTH_URL"],
            username=user,
            password=password,
            project_name=project,
            user_domain_name="Default",
            project_domain_name="Default",
        ).authorize()
        return True
    except ks_exceptions.Unauthorized:
        return False


def ensure_project(conn, name, changes):
    project = conn.identity.find_project(name, domain_id="default")
    if project is None:
        project = conn.identity.create_project(
            name=name, domain_id="default", description="OpenStack services"
        )
        changes.append(f"project {name} created")
    return project


def ensure_user(conn, name, password, project, role, changes):
    user = conn.identity.find_user(name, domain_id="default")
    if user is None:
        user = conn.identity.create_user(
            name=name, password=password, domain_id="default", default_project_id=project.id
        )
        changes.append(f"user {name} created")
    has_role = list(
        conn.identity.role_assignments(user_id=user.id, scope_project_id=project.id, role_id=role.id)
    )
    if not has_role:
        conn.identity.assign_project_role_to_user(project, user, role)
        changes.append(f"user {name} given role {role.name} on {project.name}")
    if not password_works(name, password, project.name):
        conn.identity.update_user(user, password=password)
        changes.append(f"user {name} password set")


def ensure_service(conn, name, kind, url, region, changes):
    service = next((s for s in conn.identity.services(type=kind) if s.name == name), None)
    if service is None:
        service = conn.identity.create_service(name=name, type=kind, enabled=True)
        changes.append(f"service {name} ({kind}) created")
    for interface in INTERFACES:
        endpoints = list(
            conn.identity.endpoints(service_id=service.id, interface=interface, region_id=region)
        )
        if not endpoints:
            conn.identity.create_endpoint(
                service_id=service.id, interface=interface, url=url, region_id=region
            )
            changes.append(f"{name} {interface} endpoint created")
        elif endpoints[0].url != url:
            conn.identity.update_endpoint(endpoints[0], url=url)
            changes.append(f"{name} {interface} endpoint moved to {url}")


def main():
    wanted = json.loads(os.environ["OPENSTACK_CATALOG"])
    conn = connect_admin()
    changes = []
    project = ensure_project(conn, wanted["project"], changes)
    role = conn.identity.find_role(wanted["role"])
    for name, password in sorted(wanted["users"].items()):
        ensure_user(conn, name, password, project, role, changes)
    for name, service in sorted(wanted["services"].items()):
        ensure_service(conn, name, service["type"], service["url"], wanted["region"], changes)
    for change in changes:
        print(change)
    comment = "; ".join(changes) if changes else "catalog already as wanted"
    print(f"changed={'yes' if changes else 'no'} comment={shlex.quote(comment)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
