"""The README cannot drift: its variable table is generated from the settings, its contents list
names every section, and its code map names every part of the package."""

import re
from pathlib import Path

from postdock_supervisor.docs import BEGIN, END, env_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_variable_table_is_generated_from_the_settings() -> None:
    text = README.read_text()
    block = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert block == env_table(), "regenerate with: python -m postdock_supervisor docs env"


def test_contents_list_every_section_with_a_working_anchor() -> None:
    text = README.read_text()
    sections = [line[3:] for line in text.splitlines() if line.startswith("## ") and line != "## Contents"]
    contents = re.findall(r"^- \[(.+)\]\(#([\w-]+)\)$", text.split("## Contents", 1)[1].split("\n## ", 1)[0], re.M)
    assert [title for title, _ in contents] == sections
    for title, anchor in contents:
        assert anchor == re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def test_code_map_names_every_part_of_the_package() -> None:
    text = README.read_text()
    code_map = text.split("## Code map", 1)[1].split("\n## ", 1)[0]
    first_cells = [line.split("|")[1] for line in code_map.splitlines() if line.startswith("| `")]
    named = {name for cell in first_cells for name in re.findall(r"`([\w.]+(?:/|\.py))`", cell)}
    package = README.parent / "postdock_supervisor"
    parts = {f"{p.name}/" for p in package.iterdir() if (p / "__init__.py").exists()}
    parts |= {p.name for p in package.glob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    assert parts <= named, f"not in the README's code map: {sorted(parts - named)}"
    assert named <= parts, f"in the code map but not in the package: {sorted(named - parts)}"
