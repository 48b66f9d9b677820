"""Tables page: load files, browse the schema, ask a question or write SQL, see the result, chart, download."""

from app.ui.common import get_services
from app.ui.tables import tables_page

tables_page(get_services())
