"""`python -m charter.cli`: the same command line as the `charter` script."""

from charter.cli.main import main

main()
