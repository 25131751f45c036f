{#- RabbitMQ 4 refuses to start on the database of a 3.x whose feature flags
    are not all enabled (bookworm's 3.10 to trixie's 4.0): when the upgrade
    the sources now offer crosses upgrade:rabbitmq:reset_below, the broker is
    stopped and its database moved aside before the packages are upgraded
    (<mnesia>.before-<release>), so the new one starts empty; the infra stage
    then recreates the OpenStack user and its permissions. Queues hold
    nothing worth keeping once the control plane is stopped.
    A re-run moves nothing: the installed broker is past the reset by then. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import openstack with context %}
{%- set r = openstack.upgrade.rabbitmq %}
{%- set package = openstack.rabbitmq.pkgs[0] %}
{%- set limit = r.reset_below | string ~ '~' %}
{%- set aside = r.mnesia ~ '.before-' ~ (salt['pillar.get']('deploy:release') or 'upgrade') %}
include:
  - .distribution

openstack-upgrade-rabbitmq-cmd-run-move-database-aside:
  cmd.run:
    - name: |
        systemctl stop {{ openstack.rabbitmq.services | join(' ') }} || exit 1
        dest={{ aside }}
        if [ -e "$dest" ]; then dest="$dest.$(date +%Y%m%dT%H%M%S)"; fi
        mv {{ r.mnesia }} "$dest" && echo "RabbitMQ database moved to $dest"
    - onlyif:
      - test -d {{ r.mnesia }}
      - {{ ("installed=$(dpkg-query -W -f='${Version}' " ~ package ~ ") && dpkg --compare-versions \"$installed\" lt " ~ limit) | tojson }}
      - {{ ("candidate=$(apt-cache policy " ~ package ~ " | sed -n 's/^ *Candidate: *//p') && dpkg --compare-versions \"$candidate\" ge " ~ limit) | tojson }}
    - require:
      - cmd: openstack-upgrade-distribution-cmd-run-apt-update
    - require_in:
      - cmd: openstack-upgrade-distribution-cmd-run-full-upgrade
