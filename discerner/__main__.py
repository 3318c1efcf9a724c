"""Run the command line as `python -m discerner`."""

from discerner.cli import main

main()
