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


def test_the_defaults_are_the_documented_ones():
    config = rt_config.load({})
    assert (config.store, config.cache, config.environments, config.volatile_environments) == (
        "/srv/releasetrain", "/var/cache/releasetrain", ("test", "staging", "production"), ("volatile",))
    assert (config.lock_timeout, config.keep_trees) == (600, 3)
    assert rt_config.load({"releasetrain": None}) == config


@pytest.mark.parametrize("value", [0, 0.5, 1, 3600, 1e9])
def test_a_lock_timeout_is_seconds_from_zero(value):
    assert rt_config.load({"releasetrain": {"lock_timeout": value}}).lock_timeout == value


@pytest.mark.parametrize("value", [1, 3, 1000])
def test_keep_trees_is_a_whole_number_from_one(value):
    assert rt_config.load({"releasetrain": {"keep_trees": value}}).keep_trees == value


@pytest.mark.parametrize("key, value, expected", [
    *[("lock_timeout", value, "releasetrain:lock_timeout must be a number of seconds from 0 to 1e+09, e.g. 600")
      for value in ["abc", "600", -1, float("nan"), float("inf"), -float("inf"), 10 ** 400, True, False, None,
                    [600], {"a": 1}]],
    *[("keep_trees", value, "releasetrain:keep_trees must be a whole number, 1 or more, e.g. 3")
      for value in ["3", 0, -2, 2.5, 3.0, float("nan"), True, None, [3]]],
    *[(key, value, f"releasetrain:{key} must be a folder path, e.g. {rt_config.DEFAULTS[key]}")
      for key in ("store", "cache") for value in [None, "", "  ", 5, True, ["/srv"], {"a": 1}, "/srv/\x00x"]],
    *[(key, value, f"releasetrain:{key} must be a list of environment names")
      for key in ("environments", "volatile_environments")
      for value in ["test", 5, True, {"test": 1}, ["test", 5], ["a b"], ["-x"], ["x" * 65], [None]]],
    ("environments", None, "releasetrain:environments must be a list of environment names"),
    ("environments", [], "releasetrain:environments must list at least one environment"),
    ("colour", "red", "releasetrain:colour is not a setting (known: store, cache, environments, "
                      "volatile_environments, lock_timeout, keep_trees, gerrit, pipeline, lab)"),
    (5, 1, "releasetrain:5 is not a setting"),
    ("a\nb", 1, "releasetrain:'a\\nb' is not a setting"),
])
def test_a_wrong_value_is_one_line_naming_the_key_and_what_it_must_be(key, value, expected):
    with pytest.raises(ReleaseTrainError) as error:
        rt_config.load({"releasetrain": {key: value}})
    assert str(error.value).startswith(expected) and "\n" not in str(error.value)


@pytest.mark.parametrize("section", [[], "store: /srv", 5, True])
def test_a_section_that_is_not_a_mapping_is_one_line(section):
    with pytest.raises(ReleaseTrainError, match=r"^releasetrain must be a mapping of settings"):
        rt_config.load({"releasetrain": section})


def test_sections_other_modules_read_are_left_to_them():
    section = {"gerrit": {"projects": {}}, "pipeline": {"deploy_kit": "/srv/kit"}, "lab": {"state_dir": "/x"}}
    assert rt_config.load({"releasetrain": section}).raw["pipeline"] == {"deploy_kit": "/srv/kit"}
    assert rt_config.load({"releasetrain": {"volatile_environments": None}}).volatile_environments == ()
