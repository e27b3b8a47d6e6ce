"""tg_parser.sources."""
