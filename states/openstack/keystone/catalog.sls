{#- Service project, service users and the catalog of the other services
    (files/keystone/catalog.py: reports a change only when it made one). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import openstack with context %}
{%- from tplroot ~ "/libs/require.jinja" import require_pillar %}
{%- from tplroot ~ "/libs/keystone.jinja" import admin_credentials with context %}
{{- require_pillar(openstack, 'keystone', 'openstack.keystone.catalog') }}
{%- set catalog = openstack.keystone.catalog %}
{%- set wanted = {'region': openstack.region, 'project': catalog.project,
                  'role': catalog.role, 'users': {}, 'services': {}} %}
{%- for name, service in catalog.services | dictsort %}
{%-   do wanted.services.update({name: {'type': service.type, 'url': service.url.format(**openstack)}}) %}
{%-   if service.user %}
{%-     do wanted.users.update({service.user: openstack.secrets[service.user] | string}) %}
{%-   endif %}
{%- endfor %}
{%- set environment = dict(admin_credentials, OPENSTACK_CATALOG=wanted | tojson) %}
include:
  - .bootstrap

openstack-keystone-catalog-cmd-script-catalog:
  cmd.script:
    - source: salt://{{ tplroot }}/files/keystone/catalog.py
    - stateful: true
    - env: {{ environment | tojson }}
    - require:
      - cmd: openstack-keystone-bootstrap-cmd-run-bootstrap
