"""tg_parser.storage."""
