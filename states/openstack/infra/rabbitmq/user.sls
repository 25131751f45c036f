{#- The message queue user every OpenStack service connects as. rabbitmqctl reads
    the password on stdin: as an argument, one that starts with '-' is taken for an
    option, and it would show in the process list.  No -q where it reads stdin:
    RabbitMQ 4.0's rabbitmqctl then waits for a password forever. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import openstack with context %}
{%- from tplroot ~ "/libs/require.jinja" import require_pillar %}
{{- require_pillar(openstack, 'rabbitmq', 'openstack.infra.rabbitmq.user') }}
{%- set user = openstack.rabbitmq.user %}
include:
  - .service

openstack-infra-rabbitmq-user-cmd-run-add-user:
  cmd.run:
    - name: >-
        printf '%s\n' "$RABBITMQ_PASSWORD" | rabbitmqctl add_user {{ user }} ||
        printf '%s\n' "$RABBITMQ_PASSWORD" | rabbitmqctl change_password {{ user }}
    - env:
      - RABBITMQ_PASSWORD: {{ openstack.secrets.rabbitmq | string | tojson }}
    - unless: printf '%s\n' "$RABBITMQ_PASSWORD" | rabbitmqctl authenticate_user {{ user }}
    - require:
      - service: openstack-infra-rabbitmq-service-service-running-rabbitmq-server

openstack-infra-rabbitmq-user-cmd-run-set-permissions:
  cmd.run:
    - name: rabbitmqctl set_permissions {{ user }} '.*' '.*' '.*'
    - unless: rabbitmqctl -q list_user_permissions {{ user }} | grep -qxF "$(printf '/\t.*\t.*\t.*')"
    - require:
      - cmd: openstack-infra-rabbitmq-user-cmd-run-add-user
