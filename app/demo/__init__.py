"""The demo workspace: a small set of real public material (see data/SOURCES.md) and questions to start with."""
