"""The example's helper scripts, run for real with a stand-in `docker` on PATH."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_cluster_key_pair_is_made_once_with_the_images_ssh_keygen_and_then_reused(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    # Records its arguments and makes the two files ssh-keygen would write into the mounted folder.
    fake.write_text(
        '#!/bin/sh\necho "$@" >> "$CALLS"\n'
        'for a in "$@"; do case "$a" in *:/k) d="${a%:/k}";; esac; done\n'
        'echo private > "$d/id_ed25519"; echo public > "$d/id_ed25519.pub"\n'
    )
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "POSTDOCK_IMAGE"}
    env.update(PATH=f"{fake.parent}:{os.environ['PATH']}", CALLS=str(calls))
    keys = tmp_path / "conf" / "ssh"

    def run() -> str:
        script = str(ROOT / "scripts" / "cluster-key.sh")
        return subprocess.run(["bash", script, str(keys)], env=env, capture_output=True, text=True, check=True).stdout

    assert run() == f"cluster key pair: made in {keys} (keep it: every container of the cluster mounts it)\n"
    assert (keys / "id_ed25519").read_text() == "private\n" and keys.stat().st_mode & 0o777 == 0o700
    [call] = calls.read_text().splitlines()
    assert "--entrypoint ssh-keygen postdock/postdock:latest -q -t ed25519 -N  -C postdock-cluster" in call
    assert run() == f"cluster key pair: reusing {keys}\n"
    assert len(calls.read_text().splitlines()) == 1  # not made again
