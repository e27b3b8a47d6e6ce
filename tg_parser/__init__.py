"""tg_parser: Telegram channels to structured, topic-grouped documents for RAG."""

__version__ = "0.1.0"
