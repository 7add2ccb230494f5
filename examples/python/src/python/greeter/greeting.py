"""How the greeter greets: its words come from a resource shipped with the code."""

import json
from importlib import resources

import humanize


def greeting(name: str) -> str:
    data = json.loads(resources.files("greeter").joinpath("greeting.json").read_text())
    served = humanize.intword(data["files_served"])
    return f"{data['greeting']}, {name}! ({served} files served)"
