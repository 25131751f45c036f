"""Health checks of an OpenStack node: API endpoints answer, services and agents are up.

Services are named directly or as components of the openstack formula
(``keystone``, ``nova_compute``, ...): the node reads their ``services`` from
its own merged map (``openstack/map.jinja``: defaults, OS maps, pillar), so a
gate asks Debian for ``keystone`` and Ubuntu for ``apache2``.

Self-contained (standard library and Salt only) because it runs on the
minions, which may get it through ``saltutil.sync_modules`` rather than an
installed ``releasetrain``.
"""

import json
import shlex
import urllib.error
import urllib.request

__virtualname__ = "openstack_health"


def __virtual__():
    return __virtualname__


def _result(name, ok, detail):
    return {"name": name, "ok": bool(ok), "detail": detail}


def _endpoint(name, url, timeout):
    """An API endpoint answers when it returns any HTTP status below 500 (401 included)."""
    url = url.format(id=__grains__.get("id", ""), fqdn=__grains__.get("fqdn", ""))
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as err:
        status = err.code
    except (urllib.error.URLError, OSError, ValueError) as err:
        return _result(f"endpoint:{name}", False, f"{url} does not answer: {getattr(err, 'reason', err)}")
    return _result(f"endpoint:{name}", status < 500, f"{url} answered HTTP {status}")


def _service(name):
    try:
        running = __salt__["service.status"](name)
    except Exception as err:  # pylint: disable=broad-except
        return _result(f"service:{name}", False, f"cannot query: {err}")
    return _result(f"service:{name}", running, "running" if running else "not running")


#: Renders this minion's merged formula map as JSON.
MAP_TEMPLATE = '{%- from "openstack/map.jinja" import openstack with context %}{{ openstack | tojson }}'


def _saltenv(saltenv):
    return saltenv or __opts__.get("saltenv") or "base"


def component_services(components, saltenv=None):
    """
    component -> the service names this minion's openstack formula map (in
    ``saltenv``) lists for it; ``[]`` for a component the map does not know.

    CLI Example:

    .. code-block:: bash

        salt cmp01 openstack_health.component_services '[nova_compute, neutron_compute]' saltenv=test
    """
    params = __salt__["slsutil.renderer"](
        string=MAP_TEMPLATE, default_renderer="jinja|json", saltenv=_saltenv(saltenv), tpldir="openstack"
    )
    found = {}
    for name in components:
        entry = params.get(name)
        found[name] = list(entry.get("services") or []) if isinstance(entry, dict) else []
    return found


def _component_checks(components, saltenv):
    """(the service names of ``components``, failed checks for those the map cannot give)."""
    try:
        found = component_services(components, saltenv)
    except Exception as err:  # pylint: disable=broad-except
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        return [], [_result("components", False, f"cannot read openstack/map.jinja from saltenv {saltenv}: {reason}")]
    names = [service for name in components for service in found[name]]
    unknown = [
        _result(f"component:{name}", False, f"the openstack formula map in saltenv {saltenv} lists no services for it")
        for name in components
        if not found[name]
    ]
    return names, unknown


def _openstack_json(command, openrc, timeout):
    source = f"if [ -r {shlex.quote(openrc)} ]; then . {shlex.quote(openrc)}; fi; " if openrc else ""
    ret = __salt__["cmd.run_all"](f"{source}{command} -f json", python_shell=True, timeout=timeout)
    if ret["retcode"] != 0:
        raise ValueError(f"{command!r} exited {ret['retcode']}: {(ret['stderr'] or ret['stdout']).strip()[-200:]}")
    return json.loads(ret["stdout"] or "[]")


AGENT_QUERIES = {
    "nova": ("openstack compute service list", lambda row: row.get("State") == "up"),
    "neutron": ("openstack network agent list", lambda row: row.get("Alive") in (True, ":-)")),
}


def _agents(hosts, kinds, openrc, timeout):
    """Nova services up and Neutron agents alive; each of ``hosts`` must run some of each kind."""
    results = []
    host_key = "Host"
    for kind in kinds:
        name = f"agents:{kind}"
        command, is_up = AGENT_QUERIES[kind]
        try:
            rows = _openstack_json(command, openrc, timeout)
        except ValueError as err:
            results.append(_result(name, False, str(err)))
            continue
        rows = [row for row in rows if not hosts or row.get(host_key) in hosts]
        down = sorted({f"{row.get(host_key)}/{row.get('Binary')}" for row in rows if not is_up(row)})
        missing = sorted(set(hosts or ()) - {row.get(host_key) for row in rows})
        ok = not down and not missing
        detail = f"{len(rows)} up" if ok else f"down: {', '.join(down) or '-'}; missing: {', '.join(missing) or '-'}"
        results.append(_result(name, ok, detail))
    return results


def check(
    endpoints=None, services=None, agents=None, openrc="/root/admin-openrc", timeout=10, components=None, saltenv=None
):
    """
    Check this node and say whether it is healthy.

    endpoints
        ``{name: url}``; each must answer with an HTTP status below 500.
        ``{id}`` and ``{fqdn}`` in a URL are replaced by this minion's.
    services
        Service names that must be running (``service.status``).
    components
        Components of the openstack formula (``keystone``, ``nova_compute``,
        ...) whose services must be running: the ``services`` this minion's
        merged map (``openstack/map.jinja`` in ``saltenv``) lists for each.
        A component without services there fails, named.
    saltenv
        Where the formula map is read (default: the minion's saltenv, else base).
    agents
        ``True`` or ``{"hosts": [...], "kinds": ["nova", "neutron"]}``: Nova
        services up and Neutron agents alive (each host listed must run some),
        asked through the ``openstack`` CLI with ``openrc`` sourced; run it on
        a controller.

    Returns ``{"healthy": bool, "checks": [{"name", "ok", "detail"}, ...]}``.

    CLI Example:

    .. code-block:: bash

        salt -G roles:controller openstack_health.check endpoints='{"keystone": "http://127.0.0.1:5000/v3"}'
        salt -G roles:controller openstack_health.check services='[nova-api]' agents=True
        salt -G roles:compute openstack_health.check components='[nova_compute, neutron_compute]' saltenv=test
    """
    checks = []
    for name, url in sorted((endpoints or {}).items()):
        checks.append(_endpoint(name, url, timeout))
    names = list(services or [])
    if components:
        from_map, unknown = _component_checks(components, _saltenv(saltenv))
        checks.extend(unknown)
        names = from_map + names
    for name in dict.fromkeys(names):  # once each: Ubuntu's keystone and placement are both apache2
        checks.append(_service(name))
    if agents:
        spec = agents if isinstance(agents, dict) else {}
        kinds = spec.get("kinds") or list(AGENT_QUERIES)
        checks.extend(_agents(spec.get("hosts") or [], kinds, openrc, max(timeout, 30)))
    return {"healthy": all(item["ok"] for item in checks), "checks": checks}
