"""tg_parser.export."""
