"""Audit page: filter the request records, open one turn's evidence, verify the chain, export."""

from app.ui.audit import audit_page
from app.ui.common import get_services

audit_page(get_services())
