{#- API and cell databases: api_db sync, cell0 and cells, then db sync. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import openstack with context %}
{%- from tplroot ~ "/libs/component.jinja" import db_sync with context %}
{%- set list_cells = "runuser -u nova -- nova-manage cell_v2 list_cells" %}
include:
  - .config
{{ db_sync(openstack, 'nova_controller', 'db_api') }}

openstack-nova-controller-db-cmd-run-map-cell0:
  cmd.run:
    - name: runuser -u nova -- nova-manage cell_v2 map_cell0
    - unless: {{ list_cells }} | grep -q ' cell0 '
    - require:
      - cmd: openstack-nova-controller-db-cmd-run-api-sync
{%- for cell in openstack.nova_controller.cells %}

openstack-nova-controller-db-cmd-run-create-cell-{{ cell }}:
  cmd.run:
    - name: runuser -u nova -- nova-manage cell_v2 create_cell --name {{ cell }}
    - unless: {{ list_cells }} | grep -q ' {{ cell }} '
    - require:
      - cmd: openstack-nova-controller-db-cmd-run-map-cell0
    - require_in:
      - cmd: openstack-nova-controller-db-cmd-run-sync
{%- endfor %}
{{ db_sync(openstack, 'nova_controller', 'db') }}
