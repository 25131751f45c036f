{#- releasetrain/gerrit/<type>: a normalised, signed event (from pipeline.handle_hook or the gerrit_stream engine) #}
releasetrain-gerrit-event:
  runner.pipeline.on_event:
    - args:
      - event: {{ data | json }}
