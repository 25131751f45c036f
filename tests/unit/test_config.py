import pytest

from releasetrain import config as rt_config
from releasetrain.errors import ReleaseTrainError


def refused(**section):
    """The one line ``config.load`` refuses the ``releasetrain`` section ``section`` with."""
    with pytest.raises(ReleaseTrainError) as error:
        rt_config.load({"releasetrain": section})
    message = str(error.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("key", ["environments", "volatile_environments"])
def test_an_environment_name_with_a_trailing_newline_is_refused(key):
    assert f"releasetrain:{key} must be a list of environment names" in refused(**{key: ["test\n"]})
