"""Reports: a conversation as a self-contained HTML or PDF file whose answers can be checked against the audit trail."""
