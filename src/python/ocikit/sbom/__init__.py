"""Software bills of materials for built images: the facts an image's build knows (`model`),
the SPDX 2.3 JSON document made of them (`spdx`), and the readers that find third-party
packages: Python distributions (`pypi`, `licenses`) and a base image's Debian packages
(`dpkg`, read in a worker process: `worker`)."""
