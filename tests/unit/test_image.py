"""The Dockerfile's shape: a plain `docker build -f images/Dockerfile .` builds the product."""

import re
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[2] / "images" / "Dockerfile"


def test_the_last_stage_is_the_product_and_the_other_images_are_named_targets() -> None:
    stages = re.findall(r"^FROM\s+(\S+)\s+AS\s+(\S+)\s*$", DOCKERFILE.read_text(), re.M | re.I)
    names = [name for _, name in stages]
    assert names[-1] == "postdock"
    assert {"extended", "prometheus"} <= set(names)
    assert all(base.startswith("debian:trixie") or base in names for base, _ in stages)
