{#- salt-run state.orchestrate deploy.region pillar='{"release": "ID", "env": "ENV", "mode": "bootstrap|upgrade|major|downgrade"}'
    The steps, their order and targets come from the deploy.plan runner; this file only runs them.
    deploy.begin opens the run's record and API probe, deploy.finish closes it (a halting step closes it itself). #}
{%- set plan = salt['saltutil.runner']('deploy.plan', release=pillar.get('release'), env=pillar.get('env'),
                                       mode=pillar.get('mode'), settings=pillar.get('deploy', {})) %}
{%- if plan.get('error') %}
deploy-region-plan:
  test.fail_without_changes:
    - name: {{ ("HALTED before any node was touched: " ~ plan.error) | json }}
    - failhard: True
{%- else %}

deploy-region-begin:
  deploy.begin:
    - run: {{ plan.run | json }}
    - failhard: True
{%- for step in plan.steps %}

{{ step.id }}:
  deploy.step:
    - step: {{ step | json }}
    - run: {{ plan.run.id | json }}
    - failhard: True
{%- endfor %}

deploy-region-record-verified:
  salt.runner:
    - name: release.verify
    - arg: [{{ plan.release | json }}]
    - kwarg: {env: {{ plan.env | json }}}
    - failhard: True

deploy-region-finish:
  deploy.finish:
    - run: {{ plan.run.id | json }}
{%- endif %}
