"""tg_parser.topics."""
