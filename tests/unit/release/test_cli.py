from releasetrain import cli
from releasetrain.loader import loader_dirs, tree_path


def test_loader_entry_point_lists_existing_folders():
    dirs = loader_dirs()
    assert set(dirs) >= {"runners", "modules", "states", "engines", "output"}
    assert dirs["runners"] == [tree_path("_runners")]


def test_master_config_serves_each_environment_tree(capsys):
    assert cli.main(["master-config", "--store", "/srv/rt", "--environments", "dev,prod"]) == 0
    out = capsys.readouterr().out
    snippet = cli.master_config(store="/srv/rt", environments=["dev", "prod"])
    assert snippet["file_roots"]["dev"] == ["/srv/rt/envs/dev/states", tree_path("orchestrate")]
    assert snippet["pillar_roots"]["prod"] == ["/srv/rt/envs/prod/pillar"]
    assert snippet["releasetrain"]["environments"] == ["dev", "prod"]
    assert "/srv/rt/envs/dev/states" in out


def test_master_config_wires_the_shipped_reactors():
    reactors = cli.master_config()["reactor"]
    assert reactors == [
        {"salt/netapi/hook/gerrit*": [tree_path("reactor") + "/gerrit_hook.sls"]},
        {"releasetrain/gerrit/*": [tree_path("reactor") + "/gerrit_event.sls"]},
    ]
