"""Audit page: filter the request records, open one turn's evidence, verify the chain, export."""

from app.ui import get_services
from app.ui_audit import audit_page

audit_page(get_services())
