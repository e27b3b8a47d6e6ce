"""``python -m tg_parser.cli``: the same as the ``tg-parser`` script."""

from tg_parser.cli import main

main()
