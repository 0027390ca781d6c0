"""`python -m portraitcraft`: the same program as the `portraitcraft` command."""

from portraitcraft.cli import main

main()
