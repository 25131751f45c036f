{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import openstack with context %}
{%- from tplroot ~ "/libs/component.jinja" import config with context %}
{{ config(openstack, 'placement') }}
