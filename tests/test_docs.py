"""Documentation that is generated from, or must agree with, the code."""

import re
from pathlib import Path

from mediaml.config import SETTINGS, settings_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_settings_table_in_docs_is_current():
    text = (DOCS / "environment-operations.md").read_text()
    block = re.search(
        r"<!-- settings-table:start -->\n(.*?)\n<!-- settings-table:end -->", text, re.S
    )
    assert block, "docs/environment-operations.md lost its settings-table markers"
    assert block.group(1).strip() == settings_markdown().strip(), (
        "regenerate the table with mediaml.config.settings_markdown()"
    )


def test_every_setting_is_documented():
    text = (DOCS / "environment-operations.md").read_text()
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in text]
    assert not missing, f"undocumented settings: {missing}"
