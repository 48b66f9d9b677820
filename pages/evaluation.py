"""Evaluation page: run a question set with a model, see the scores, the history and how two runs compare."""

from app.ui.common import get_services
from app.ui.evaluation import evaluation_page

evaluation_page(get_services())
