"""Images & audio page: read the text in an image; transcribe an upload or a recording with timestamps."""

from app.ui.common import get_services
from app.ui.media import media_page

media_page(get_services())
