{#- Cell host discovery: maps the compute hosts that registered since the
    last run (run on the controller after the compute stages). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import openstack with context %}
{%- from tplroot ~ "/libs/require.jinja" import require_pillar %}
{{- require_pillar(openstack, 'nova_discover', 'openstack.nova.discover') }}

openstack-nova-discover-cmd-run-discover-hosts:
  cmd.run:
    - name: |
        out=$(runuser -u nova -- {{ openstack.nova_discover.command }}) || exit 1
        echo "$out" >&2
        if echo "$out" | grep -q 'Creating host mapping'; then
          echo "changed=yes comment='mapped new compute hosts'"
        else
          echo "changed=no comment='every compute host is mapped'"
        fi
    - stateful: true
