"""tg_parser.services."""
