"""The workspace board: SQL-backed answers pinned with their query, refreshed on today's tables (not the model)."""
