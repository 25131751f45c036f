{#- The package repository the OpenStack packages come from, when the
    distribution's own archive is not enough (the OS maps set "repo"). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import openstack with context %}
{%- if openstack.repo %}

openstack-repo-pkg-installed-keyring:
  pkg.installed:
    - name: {{ openstack.repo.keyring_pkg }}

openstack-repo-pkgrepo-managed:
  pkgrepo.managed:
    - name: {{ openstack.repo.name }}
    - file: {{ openstack.repo.file }}
    - refresh: true
    - require:
      - pkg: openstack-repo-pkg-installed-keyring
{%- else %}

openstack-repo-test-nop:
  test.nop: []
{%- endif %}
