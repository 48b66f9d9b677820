"""Documents page: add PDFs, images and recordings, the library, re-index and delete, search."""

from app.ui.common import get_services
from app.ui.documents import documents_page

documents_page(get_services())
