{#- salt-run state.orchestrate deploy.region pillar='{"release": "ID", "env": "ENV", "mode": "bootstrap|upgrade|major"}'
    The steps, their order and targets come from the deploy.plan runner; this file only runs them. #}
{%- set plan = salt['saltutil.runner']('deploy.plan', release=pillar.get('release'), env=pillar.get('env'),
                                       mode=pillar.get('mode'), settings=pillar.get('deploy', {})) %}
{%- if plan.get('error') %}
deploy-region-plan:
  test.fail_without_changes:
    - name: "HALTED before any node was touched: {{ plan.error }}"
    - failhard: True
{%- else %}
{%- for step in plan.steps %}

{{ step.id }}:
  deploy.step:
    - step: {{ step | json }}
    - failhard: True
{%- endfor %}

deploy-region-record-verified:
  salt.runner:
    - name: release.verify
    - arg: [{{ plan.release | json }}]
    - kwarg: {env: {{ plan.env | json }}}
    - failhard: True
{%- endif %}
