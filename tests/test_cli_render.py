"""``mail2fax render MAIL.eml``, run as an operator runs it on mails as real clients build them."""

from __future__ import annotations

from pathlib import Path

from pypdf import PdfReader

from tests.cli_runner import run_cli
from tests.corpus.clients import corpus
from tests.corpus.model import Case


def case(name: str) -> Case:
    return next(found for found in corpus() if found.name == name)


async def test_render_writes_what_would_be_faxed_in_fax_order(tmp_path: Path) -> None:
    mail = tmp_path / "invoice.eml"
    mail.write_bytes(case("outlook-logo-and-invoice").raw)
    result = await run_cli(None, "render", "--json", str(mail), env={"MAIL2FAX_BODY": "always"}, cwd=tmp_path)
    assert result.code == 0, result.stderr
    documents = result.json["documents"]
    assert [(d["filename"], d["pages"]) for d in documents] == [("message.pdf", 1), ("Invoice 42.pdf", 1)]
    written = [Path(d["file"]) for d in documents]
    assert [path.name for path in written] == ["01-message.pdf", "02-Invoice 42.pdf"]
    body = PdfReader(tmp_path / written[0])
    assert "Invoice attached" in body.pages[0].extract_text()
    assert len(body.pages[0].images) == 1  # the signature logo, in place
    assert {"label": "image001.png", "reason": "shown in place in the HTML text"} in result.json["left_out"]
    assert result.json["pages"] == 2


async def test_render_says_in_one_line_why_a_mail_would_be_refused(tmp_path: Path) -> None:
    mail = tmp_path / "secret.eml"
    mail.write_bytes(case("smime-encrypted").raw)
    result = await run_cli(None, "render", str(mail), cwd=tmp_path)
    assert result.code == 1
    assert result.error.endswith(
        "would be refused: 554 5.6.1 encrypted mail cannot be faxed; send it unencrypted"
    )
    assert list(tmp_path.iterdir()) == [mail]
