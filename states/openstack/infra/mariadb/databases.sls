{#- The OpenStack databases and their users; the check logs in as the user. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import openstack with context %}
{%- from tplroot ~ "/libs/require.jinja" import require_pillar %}
{{- require_pillar(openstack, 'mariadb', 'openstack.infra.mariadb.databases') }}
include:
  - .service
{%- for database, owner in openstack.mariadb.databases | dictsort %}
{%-   set password = openstack.secrets[owner.secret] | string %}
{%-   set quoted = "'" ~ password | replace('\\', '\\\\') | replace("'", "\\'") ~ "'" %}

openstack-infra-mariadb-databases-cmd-run-create-{{ database | replace('_', '-') }}:
  cmd.run:
    - name: mariadb --protocol=socket
    - stdin: |
        CREATE DATABASE IF NOT EXISTS `{{ database }}`;
        CREATE USER IF NOT EXISTS '{{ owner.user }}'@'%' IDENTIFIED BY {{ quoted }};
        ALTER USER '{{ owner.user }}'@'%' IDENTIFIED BY {{ quoted }};
        GRANT ALL PRIVILEGES ON `{{ database }}`.* TO '{{ owner.user }}'@'%';
    - env:
      - MYSQL_PWD: {{ password | tojson }}
    - unless: mariadb --protocol=tcp -h {{ openstack.controller.address }} -u {{ owner.user }} -e 'SELECT 1' {{ database }}
    - require:
      - service: openstack-infra-mariadb-service-service-running-mariadb
{%- endfor %}
