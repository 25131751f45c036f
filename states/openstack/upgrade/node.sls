{#- Mode major with deploy:major:together: one step moves every node to the
    new distribution at once, each with the SLS of its own roles. Pillar
    deploy:distribution_sls maps a role to its SLS (deploy.region passes its
    major:distribution); this node applies those of the roles in its "roles"
    grain, in the roles' order of stages.yaml, each SLS once. A node none of
    whose roles has any fails the render naming it; without the pillar (not
    applied by deploy.region) there is nothing to do. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- import_yaml tplroot ~ "/stages.yaml" as plan %}
{%- set by_role = salt['pillar.get']('deploy:distribution_sls', none) %}
{%- if by_role is none %}

openstack-upgrade-node-test-nop:
  test.nop:
    - name: deploy.region passes pillar deploy:distribution_sls; nothing to do without it
{%- else %}
{%- set roles = grains.get('roles', []) %}
{%- set roles = [roles] if roles is string else roles %}
{%- set chosen = [] %}
{%- for role in plan.roles if role in roles %}
{%-   for sls in by_role.get(role) or [] %}
{%-     if sls not in chosen %}
{%-       do chosen.append(sls) %}
{%-     endif %}
{%-   endfor %}
{%- endfor %}
{%- if not chosen %}
{{- raise("openstack.upgrade.node: pillar deploy:distribution_sls names no SLS for the roles of " ~ grains['id']
          ~ " (" ~ (roles | join(', ') or 'none') ~ ")") }}
{%- endif %}
include:
{%- for sls in chosen %}
  - {{ sls | string | tojson }}
{%- endfor %}
{%- endif %}
