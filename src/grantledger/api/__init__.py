"""The HTTP surface: Togai's wire format over FastAPI."""
