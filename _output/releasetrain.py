"""
Outputter for releasetrain results: an error is one line, anything else is
shown as Salt's ``nested`` outputter would show it.
"""

import salt.output.nested


def output(data, **kwargs):  # pylint: disable=unused-argument
    if isinstance(data, dict) and set(data) <= {"error", "retcode", "outputter"} and "error" in data:
        return f"ERROR: {data['error']}"
    if isinstance(data, dict):
        data = {key: value for key, value in data.items() if key != "outputter"}
    return salt.output.nested.output(data, **kwargs)
