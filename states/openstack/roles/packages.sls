{#- Only the packages of every stage of this node's roles: what a bootstrap can install on every
    node at once before the ordered stages (deploy:bootstrap_packages). The stages install the
    same packages again (a no-op then), so nothing depends on this having run. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- import_yaml tplroot ~ "/stages.yaml" as plan %}
{%- from tplroot ~ "/libs/roles.jinja" import node_stages with context %}
{%- set stages = node_stages(plan) | load_json %}
include:
{%- for stage in stages %}
{%-   for sls in stage.get('packages') or [] %}
  - {{ sls }}
{%-   endfor %}
{%- else %}
  []
{%- endfor %}
