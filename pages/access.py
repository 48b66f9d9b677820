"""Users & workspaces page (admins): accounts, roles, shared workspaces and their members."""

from app.ui.access import access_page
from app.ui.common import get_services

access_page(get_services())
