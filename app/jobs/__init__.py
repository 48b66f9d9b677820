"""Background jobs: document ingestion and transcription that go on when the page is left, and survive restarts."""
