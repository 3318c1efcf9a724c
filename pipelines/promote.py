"""Entry point `promote`: point the champion alias at a registered version, by hand.

Inputs: `--version`, the registered model name, the alias and a reason. Outputs: the alias
moved in the registry; `decision` and `reason` tags on the version; a line naming the change.
"""

from __future__ import annotations

import argparse
import logging

from discerner import config, tracking
from discerner.tracking import registry


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and run `discerner.tracking.registry.promote`."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.promote", description=__doc__)
    parser.add_argument("--version", required=True, help="The version to promote.")
    parser.add_argument("--name", default=config.MODEL_NAME, help="Registered model name.")
    parser.add_argument("--alias", default=config.CHAMPION_ALIAS, help="The alias to move.")
    parser.add_argument("--reason", default="promoted by hand", help="Recorded on the version.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    tracking.setup()
    version = registry.promote(args.version, name=args.name, alias=args.alias, reason=args.reason)
    print(f"{args.name}@{args.alias} -> version {version.version}")


if __name__ == "__main__":
    main()
