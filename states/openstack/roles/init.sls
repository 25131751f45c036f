{#- Every stage of every role in this node's "roles" grain, in stage order. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- import_yaml tplroot ~ "/stages.yaml" as plan %}
{%- from tplroot ~ "/libs/roles.jinja" import node_stages with context %}
{%- set stages = node_stages(plan) | load_json %}
include:
{%- for stage in stages %}
  - {{ stage.sls }}
{%- else %}
  []
{%- endfor %}
