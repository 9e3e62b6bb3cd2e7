"""The example's helper scripts, run for real with a stand-in `docker` on PATH."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_cluster_keys_are_made_once_with_the_images_ssh_keygen_and_then_reused(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    # Records its arguments and makes the two files ssh-keygen would write into the mounted folder.
    fake.write_text(
        '#!/bin/sh\necho "$@" >> "$CALLS"\n'
        'for a in "$@"; do case "$a" in *:/k) d="${a%:/k}";; /k/*) f="${a#/k/}";; esac; done\n'
        'echo "private $f" > "$d/$f"; echo "public $f" > "$d/$f.pub"\n'
    )
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "POSTDOCK_IMAGE"}
    env.update(PATH=f"{fake.parent}:{os.environ['PATH']}", CALLS=str(calls))
    keys = tmp_path / "conf" / "ssh"

    def run() -> str:
        script = str(ROOT / "scripts" / "cluster-key.sh")
        return subprocess.run(["bash", script, str(keys)], env=env, capture_output=True, text=True, check=True).stdout

    made = f"in {keys} (keep them: every container of the cluster mounts them)\n"
    assert run() == f"cluster keys: made id_ed25519 host_ca {made}"
    assert (keys / "id_ed25519").read_text() == "private id_ed25519\n" and keys.stat().st_mode & 0o777 == 0o700
    assert (keys / "host_ca.pub").read_text() == "public host_ca\n"
    login, authority = calls.read_text().splitlines()
    assert "--entrypoint ssh-keygen postdock/postdock:latest -q -t ed25519 -N  -C postdock-cluster" in login
    assert login.endswith("-f /k/id_ed25519") and authority.endswith("-C postdock-host-ca -f /k/host_ca")
    assert run() == f"cluster keys: reusing {keys}\n"
    assert len(calls.read_text().splitlines()) == 2  # not made again
    # A folder made before the host authority existed gets it, and keeps its login pair.
    (keys / "host_ca").unlink()
    assert run() == f"cluster keys: made host_ca {made}"
    assert (keys / "id_ed25519").read_text() == "private id_ed25519\n"
