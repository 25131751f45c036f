{#- The admin user, project, role and identity endpoints (keystone-manage
    bootstrap, skipped once the admin can get a token), and an openrc. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import openstack with context %}
{%- from tplroot ~ "/libs/require.jinja" import require_pillar %}
{%- from tplroot ~ "/libs/keystone.jinja" import admin_credentials, identity_url with context %}
{{- require_pillar(openstack, 'keystone', 'openstack.keystone.bootstrap') }}
include:
  - .db
  - .service

openstack-keystone-bootstrap-cmd-run-bootstrap:
  cmd.run:
    - name: >-
        runuser -u keystone -- keystone-manage bootstrap
        --bootstrap-password="$OS_PASSWORD"
        --bootstrap-admin-url {{ identity_url }}
        --bootstrap-internal-url {{ identity_url }}
        --bootstrap-public-url {{ identity_url }}
        --bootstrap-region-id {{ openstack.region }}
    - env: {{ admin_credentials | tojson }}
    - unless: openstack token issue -f value -c id
    - require:
      - cmd: openstack-keystone-db-cmd-run-sync
      - sls: {{ tplroot }}.keystone.service

openstack-keystone-bootstrap-file-managed-admin-openrc:
  file.managed:
    - name: /root/admin-openrc
    - user: root
    - group: root
    - mode: '0600'
    - show_changes: false
    - contents: |
{%- for name, value in admin_credentials | dictsort %}
        export {{ name }}='{{ value | replace("'", "'\\''") }}'
{%- endfor %}
