{#- Test formula for deploy.region: records "node stage release db_sync=... time" in
    <trace_dir>/trace.log once per node, stage and release; fails while the file
    <trace_dir>/fault-<node>-<stage> (or fault-<node>-<stage>-<release>) exists, and does not even render while
    <trace_dir>/broken-<node> exists (like a broken pillar).
    trace_dir comes from the minion's grains. #}
{%- set deploy = pillar.get('deploy', {}) %}
{%- set stage = deploy.get('stage', 'none') %}
{%- set node = grains['id'] %}
{%- set dir = grains['trace_dir'] %}
{%- if salt['file.file_exists'](dir ~ '/broken-' ~ node) %}
{{- raise('broken pillar for ' ~ node) }}
{%- endif %}

trace-fault-{{ stage }}:
  cmd.run:
    - name: echo "injected fault for {{ node }} in {{ stage }}" >&2; exit 1
    - onlyif: test -e {{ dir }}/fault-{{ node }}-{{ stage }} || test -e {{ dir }}/fault-{{ node }}-{{ stage }}-{{ deploy.get('release') }}

trace-done-{{ stage }}:
  file.managed:
    - name: {{ dir }}/done/{{ node }}-{{ stage }}
    - contents: {{ deploy.get('release') }}
    - makedirs: True
    - require:
      - cmd: trace-fault-{{ stage }}

trace-log-{{ stage }}:
  cmd.run:
    - name: echo "{{ node }} {{ stage }} {{ deploy.get('release') }} db_sync={{ deploy.get('db_sync', False) }} $(date +%s.%N)" >> {{ dir }}/trace.log
    - onchanges:
      - file: trace-done-{{ stage }}
