"""The Documents page tells how this session's uploads went: a cancelled upload is said as cancelled (the user's
own choice), not drawn as an error (AppTest, real job store)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from app.container import build_services
from app.settings import load_settings
from app.ui.documents import KEY_JOBS
from tests.fixtures import pdf_factory as pf
from tests.fixtures.paths import ROOT


def test_a_cancelled_upload_is_shown_as_cancelled_not_as_an_error(data_dir) -> None:
    services = build_services(load_settings())
    try:
        job = services.jobs.submit_uploads([("manual.pdf", pf.text_pdf([["Page one of the manual."]]))])
        assert services.jobs.cancel(job.id).state == "cancelled"
    finally:
        services.close()
    at = AppTest.from_file(str(ROOT / "pages" / "documents.py"), default_timeout=60)
    at.session_state[KEY_JOBS] = [job.id]
    at.run()
    assert not at.exception
    assert "Cancelled before it started" in [i.value for i in at.info]
    assert not [e.value for e in at.error]
