"""A small service's entry point: greets the name it is given (bytes in any encoding, which
charset-normalizer, a wheel with a native extension built for the image's Python, decodes), and
says which Python runs it."""

import argparse
import os
import sys

import charset_normalizer
from charset_normalizer import md

from greeter.greeting import greeting


def main() -> int:
    parser = argparse.ArgumentParser(prog="greeter")
    parser.add_argument("--name", default="world")
    args = parser.parse_args()
    raw = os.fsencode(args.name)
    print(greeting(str(charset_normalizer.from_bytes(raw).best() or raw.decode())))
    print(f"python {sys.version.split()[0]} at {sys.executable}; native: {os.path.basename(md.__file__)}")
    return 0
