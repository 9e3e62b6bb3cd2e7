"""The README's variable table is the generated one: it cannot drift from the settings code."""

from pathlib import Path

from postdock_supervisor.docs import BEGIN, END, env_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_variable_table_is_generated_from_the_settings() -> None:
    text = README.read_text()
    block = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert block == env_table(), "regenerate with: python -m postdock_supervisor docs env"
