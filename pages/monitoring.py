"""Monitoring page: latency percentiles, speed, tokens and rates per model, and charts over time."""

from app.ui.common import get_services
from app.ui.monitoring import monitoring_page

monitoring_page(get_services())
