{#- Every stage of every role in this node's "roles" grain, in stage order. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- import_yaml tplroot ~ "/stages.yaml" as plan %}
{%- set roles = grains.get('roles', []) %}
{%- set roles = [roles] if roles is string else roles %}
{%- set unknown = roles | reject('in', plan.roles) | list %}
{%- if unknown %}
{{-   raise("unknown role(s) " ~ unknown | join(', ') ~ " in the roles grain of " ~ grains['id'] ~ "; known: " ~ plan.roles | join(', ')) }}
{%- endif %}
include:
{%- for stage in plan.stages if stage.role in roles %}
  - {{ stage.sls }}
{%- else %}
  []
{%- endfor %}
