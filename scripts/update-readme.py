"""Replace the README's generated variable table with `postdock docs env`."""

from pathlib import Path

from postdock_supervisor.docs import BEGIN, END, env_table

readme = Path(__file__).resolve().parents[1] / "README.md"
text = readme.read_text()
start, stop = text.index(BEGIN), text.index(END) + len(END)
readme.write_text(text[:start] + env_table() + text[stop:])
