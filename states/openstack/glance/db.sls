{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import openstack with context %}
{%- from tplroot ~ "/libs/component.jinja" import db_sync with context %}
include:
  - .config
{{ db_sync(openstack, 'glance', 'db') }}
