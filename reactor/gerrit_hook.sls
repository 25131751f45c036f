#!py
"""salt/netapi/hook/gerrit/... from salt-api: hand the hook to ``pipeline.handle_hook``.

Salt's py renderer sets ``tag`` and ``data`` (the event, as salt-api put it on the bus) on this
module and calls ``run()``. They reach the runner as the same Python objects: no Jinja or YAML
parser ever reads a Gerrit event, so no character in one (control characters, U+FFFE, ``{{``,
``: ``, ``!!python/object``...) can fail the render and lose the event. The runner checks the
secret before it reads anything else.
"""


def run():
    hook_tag, hook = tag, data  # noqa: F821 (set by the py renderer)
    return {"releasetrain-gerrit-hook": {"runner.pipeline.handle_hook": [{"args": [{"tag": hook_tag}, {"data": hook}]}]}}
