"""The README's configuration table lists every setting, and starts with the two commands."""

from pathlib import Path

from shared.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_readme_table() -> None:
    text = README.read_text()
    missing = [
        f"CSMS_{name.upper()}"
        for name in Settings.model_fields
        if f"| `CSMS_{name.upper()}` |" not in text
    ]
    assert missing == []


def test_readme_starts_with_the_two_commands() -> None:
    text = README.read_text()
    first_block = text.split("```bash", 1)[1].split("```", 1)[0]
    assert [line.split()[0:2] for line in first_block.strip().splitlines()] == [
        ["make", "run"],
        ["make", "test"],
    ]
