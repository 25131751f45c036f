{#- The offline upgrade's first change: the control plane's services stopped
    and disabled, so that no package upgrade starts them on an old schema
    (deb-systemd-invoke leaves disabled units alone). The components come
    from upgrade:stop, their services from each component's map; the
    controller stages enable and start them again. MariaDB, RabbitMQ and
    memcached stay up: the migrations need the database. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import openstack with context %}
{%- set services = [] %}
{%- for component in openstack.upgrade.stop %}
{%-   do services.extend(openstack[component].services) %}
{%- endfor %}
{%- for name in services | unique %}

openstack-upgrade-stop-service-dead-{{ name }}:
  service.dead:
    - name: {{ name }}
    - enable: false
{%- else %}

openstack-upgrade-stop-test-nop:
  test.nop: []
{%- endfor %}
