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


def test_readme_lists_every_command_of_both_versions() -> None:
    """The README's command list names each command of each version by its path segment,
    and its counts are the API's."""
    from services.api.commands.schemas import SLUGS

    text = README.read_text()
    for version, label in (("ocpp1.6", "OCPP 1.6"), ("ocpp2.0.1", "OCPP 2.0.1")):
        line = text.split(f"- **{label}** (", 1)[1].split("\n  - ", 1)[0].split("\n\n", 1)[0]
        count, listed = line.split("):", 1)
        names = {name.strip().strip("`") for name in listed.replace("\n", " ").split(",")}
        assert names == set(SLUGS[version]), version
        assert int(count) == len(SLUGS[version])
