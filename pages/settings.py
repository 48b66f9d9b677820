"""Settings page: backend, Ollama host, models, generation parameters."""

from app.ui.common import get_services
from app.ui.settings import settings_page

settings_page(get_services())
