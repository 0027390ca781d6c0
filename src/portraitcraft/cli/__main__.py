"""`python -m portraitcraft.cli`: the same program as the `portraitcraft` command (torchrun and accelerate launch
start it this way)."""

from portraitcraft.cli import main

main()
