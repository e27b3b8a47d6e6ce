"""tg_parser.llm."""
