"""Debian packages as image layers, without running a container or dpkg: read an archive's
Packages index (`index`), compare versions as dpkg does (`version`), resolve a closure
(`resolve`), pin it in a lockfile (`lockfile`), fetch checked .debs (`archive`) and turn them
into deterministic layers (`deb`, `layer`); `worker` is the `python -m ocikit deb-*` commands.
"""
