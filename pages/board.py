"""Board page: the workspace's pinned SQL-backed answers, refreshed on today's tables."""

from app.ui.board import board_page
from app.ui.common import get_services

board_page(get_services())
