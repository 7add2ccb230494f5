"""A small service's entry point: greets the name it is given, and says which Python runs it."""

import argparse
import sys

from greeter.greeting import greeting


def main() -> int:
    parser = argparse.ArgumentParser(prog="greeter")
    parser.add_argument("--name", default="world")
    args = parser.parse_args()
    print(greeting(args.name))
    print(f"python {sys.version.split()[0]} at {sys.executable}")
    return 0
