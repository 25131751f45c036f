{#- salt/netapi/hook/gerrit/... from salt-api: the runner checks the secret before anything else #}
releasetrain-gerrit-hook:
  runner.pipeline.handle_hook:
    - args:
      - tag: {{ tag | json }}
      - data: {{ data | json }}
