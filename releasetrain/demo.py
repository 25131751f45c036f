"""The README's main job on a local default: a salt-master configuration under
``.local/demo`` (nothing in /etc), then package the example manifest, publish it
to ``test`` and show ``release.status`` -- all through the real ``salt-run``.

Run it with ``./run demo`` (or ``python -m releasetrain.demo [--manifest PATH]``).
"""

import argparse
import os
import subprocess
import sys

import yaml

from releasetrain.cli import master_config

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_master_config(root):
    """A self-contained master config under ``root``; returns the config dir."""
    for sub in ("pki", "cache/proc", "sock", "store", "gitcache", "log"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    config = master_config(store=os.path.join(root, "store"), cache=os.path.join(root, "gitcache"))
    config.update({
        "root_dir": root,
        "pki_dir": os.path.join(root, "pki"),
        "cachedir": os.path.join(root, "cache"),
        "sock_dir": os.path.join(root, "sock"),
        "log_file": os.path.join(root, "log", "master"),
        "user": "root" if os.geteuid() == 0 else os.environ.get("USER", "root"),
    })
    with open(os.path.join(root, "master"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    return root


def salt_run(config_dir, *args):
    command = [os.path.join(os.path.dirname(sys.executable), "salt-run"), "-c", config_dir, *args]
    print("$ salt-run " + " ".join(args), flush=True)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    sys.stdout.write(result.stdout)
    if result.returncode:
        raise SystemExit(f"salt-run {args[0]} failed (exit {result.returncode})")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.path.join(REPO_ROOT, ".local", "demo"))
    parser.add_argument("--manifest", default=os.path.join(REPO_ROOT, "examples", "manifest.yml"))
    parser.add_argument("--env", default="test")
    args = parser.parse_args(argv)
    config_dir = write_master_config(os.path.abspath(args.root))
    packaged = salt_run(config_dir, "--out=yaml", "release.package", f"manifest={args.manifest}")
    release = yaml.safe_load(packaged.stdout)["release"]
    salt_run(config_dir, "release.publish", release, f"env={args.env}")
    salt_run(config_dir, "release.status")
    print(f"\nrelease {release} is published to {args.env}; its tree is "
          f"{os.path.join(config_dir, 'store', 'envs', args.env)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
