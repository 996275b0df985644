"""The Call page: one model call in detail."""
