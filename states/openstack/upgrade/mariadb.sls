{#- After the packages: MariaDB running (the mariadb component's services)
    and its system tables upgraded with mariadb-upgrade, unless
    "mariadb-upgrade --check-if-upgrade-is-needed" says they are current
    (it exits 0 when an upgrade is needed). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import openstack with context %}
{%- set tool = openstack.upgrade.mariadb.upgrade %}
include:
  - .distribution
{%- for name in openstack.mariadb.services %}

openstack-upgrade-mariadb-service-running-{{ name }}:
  service.running:
    - name: {{ name }}
    - require:
      - cmd: openstack-upgrade-distribution-cmd-run-full-upgrade
    - require_in:
      - cmd: openstack-upgrade-mariadb-cmd-run-upgrade
{%- endfor %}

openstack-upgrade-mariadb-cmd-run-upgrade:
  cmd.run:
    - name: {{ tool }}
    - onlyif: {{ tool }} --check-if-upgrade-is-needed
    - require:
      - cmd: openstack-upgrade-distribution-cmd-run-full-upgrade
