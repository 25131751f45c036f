{#- The node's packages moved to the target distribution: every apt source
    naming the node's codename (grain oscodename; its -updates, -security and
    -backports suites too) switched to the target's, the package lists read,
    then "apt-get full-upgrade" with the upgrade:apt options (old config
    files kept: the stages write theirs again).
    The target: pillar deploy:distribution (deploy.region sets it), else
    openstack:distribution, else the node's own codename (then only the
    packages of its release are brought up to date).
    A re-run changes nothing on an upgraded node: the sources name the
    target already and the full-upgrade has nothing to install. An
    interrupted dpkg run is finished first ("dpkg --configure -a"). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import openstack with context %}
{%- set apt = openstack.upgrade.apt %}
{%- set current = grains.get('oscodename') or '' %}
{%- if not current %}
{{-   raise("grain oscodename is empty on " ~ grains['id'] ~ "; openstack.upgrade.distribution needs the node's codename") }}
{%- endif %}
{%- set target = salt['pillar.get']('deploy:distribution') or openstack.distribution or current %}
{%- set options = apt.options | join(' ') %}
{%- set dpkg_options = apt.options | select('match', 'Dpkg::Options::=') | map('replace', 'Dpkg::Options::=', '') | join(' ') %}
{%- set sources = [apt.sources_list] %}
{%- if salt['file.directory_exists'](apt.sources_dir) %}
{%-   for pattern in apt.sources_globs %}
{%-     do sources.extend(salt['file.find'](apt.sources_dir, name=pattern, type='f', maxdepth=1) | sort) %}
{%-   endfor %}
{%- endif %}
{%- for path in sources %}

openstack-upgrade-distribution-file-replace-{{ path.split('/')[-1] | replace('.', '-') }}:
  file.replace:
    - name: {{ path }}
    - pattern: '\b{{ current }}\b'
    - repl: {{ target }}
    - ignore_if_missing: true
    - backup: false
    - require_in:
      - cmd: openstack-upgrade-distribution-cmd-run-apt-update
{%- endfor %}

openstack-upgrade-distribution-cmd-run-apt-update:
  cmd.run:
    - name: apt-get -q {{ options }} update >&2 && echo "changed=no comment='package lists of {{ target }} read'"
    - stateful: true
    - env: {{ apt.env | tojson }}

openstack-upgrade-distribution-cmd-run-full-upgrade:
  cmd.run:
    - name: |
        dpkg {{ dpkg_options }} --configure -a >&2 || exit 1
        if apt-get -s {{ options }} full-upgrade | grep -qE '^(Inst|Remv) '; then
          apt-get -y -q {{ options }} full-upgrade >&2 || exit 1
          echo "changed=yes comment='packages upgraded ({{ current }} to {{ target }})'"
        else
          echo "changed=no comment='every package is at its {{ target }} version'"
        fi
    - stateful: true
    - env: {{ apt.env | tojson }}
    - require:
      - cmd: openstack-upgrade-distribution-cmd-run-apt-update
