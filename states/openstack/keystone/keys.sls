{#- Fernet and credential key repositories, from secrets:fernet_keys and
    secrets:credential_keys (list index = key file name); other keys go. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import openstack with context %}
{%- from tplroot ~ "/libs/require.jinja" import require_pillar %}
{{- require_pillar(openstack, 'keystone', 'openstack.keystone.keys') }}
include:
  - .package
{%- for secret, directory in openstack.keystone.key_repositories | dictsort %}
{%-   for key in openstack.secrets[secret] %}

openstack-keystone-keys-file-managed-{{ secret | replace('_', '-') }}-{{ loop.index0 }}:
  file.managed:
    - name: {{ directory }}/{{ loop.index0 }}
    - contents: {{ key | string | tojson }}
    - contents_newline: false
    - user: keystone
    - group: keystone
    - mode: '0600'
    - makedirs: true
    - dir_mode: '0700'
    - show_changes: false
    - require:
      - pkg: openstack-keystone-package-pkg-installed
    - require_in:
      - file: openstack-keystone-keys-file-directory-{{ secret | replace('_', '-') }}
{%-   endfor %}

openstack-keystone-keys-file-directory-{{ secret | replace('_', '-') }}:
  file.directory:
    - name: {{ directory }}
    - user: keystone
    - group: keystone
    - mode: '0700'
    - clean: true
{%- endfor %}
