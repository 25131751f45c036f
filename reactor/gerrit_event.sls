#!py
"""releasetrain/gerrit/<type>: a normalised, signed event (from pipeline.handle_hook or the
gerrit_stream engine), handed to ``pipeline.on_event``.

Rendered by Salt's py renderer (which sets ``data`` on this module): the event reaches the runner
as the same Python object, never through a Jinja or YAML parser, whatever its strings hold.
"""


def run():
    event = data  # noqa: F821 (set by the py renderer)
    return {"releasetrain-gerrit-event": {"runner.pipeline.on_event": [{"args": [{"event": event}]}]}}
