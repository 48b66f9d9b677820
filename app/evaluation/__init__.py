"""Evaluation: load a question set, run it through the app's services, score, store and compare runs.

Modules: `loader` (JSONL sets), `scoring` (model-free metrics, shared with bench/), `judge` (the
model-judged faithfulness), `runner` (one run over the services), `store` (run history in SQLite),
`metrics` (aggregation, comparison, regression warnings). `app.evaluation.service` ties them together.
"""
