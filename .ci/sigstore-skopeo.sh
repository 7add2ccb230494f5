#!/usr/bin/env bash
# Installs a skopeo that reads and writes sigstore signatures, for the tests that check ours with
# containers/image's own policy code (tests/registry/sigstore_policy.py).
#
# Debian bookworm builds containers/image with sigstore disabled ("Debian-local change: sigstore
# disabled"), in skopeo, podman and buildah alike. Debian trixie's skopeo has it. It needs a
# newer glibc than bookworm's, so its packages are unpacked side by side (never installed: the
# machine's own libc stays) and a wrapper runs it with trixie's dynamic loader.
#
# apt fetches the packages from the Debian mirror this machine's apt uses, with its own
# index directory, so the archive's signature (debian-archive-keyring) and each package's
# SHA-256 are checked the way apt always checks them.
#
#   .ci/sigstore-skopeo.sh        prints the wrapper's path; installs it once per machine
set -euo pipefail

cache=${PANTS_OCI_CACHE:-$HOME/.cache/pants-oci}
home=$cache/skopeo-sigstore
wrapper=$home/skopeo
if [[ -x $wrapper ]]; then
  echo "$wrapper"
  exit 0
fi

mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)[[:space:]]*$/\1/p' \
  /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
mirror=${mirror:-http://deb.debian.org/debian}
case $(uname -m) in
  x86_64) multiarch=x86_64-linux-gnu loader=ld-linux-x86-64.so.2 ;;
  aarch64) multiarch=aarch64-linux-gnu loader=ld-linux-aarch64.so.1 ;;
  *) echo "sigstore-skopeo: no trixie skopeo for $(uname -m)" >&2; exit 1 ;;
esac
packages=(skopeo libc6 libgpgme11t64 libsqlite3-0 libassuan9 libgpg-error0)

work=$(mktemp -d "${TMPDIR:-/tmp}/sigstore-skopeo.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/root"
cat >"$work/trixie.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
apt=(apt-get -qq -o "Dir::Etc::SourceList=$work/trixie.sources" -o "Dir::Etc::SourceParts=$work/none"
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o Debug::NoLocking=1
  -o APT::Sandbox::User=root)
"${apt[@]}" update >&2
(cd "$work/debs" && "${apt[@]}" download "${packages[@]}" >&2)
for deb in "$work"/debs/*.deb; do
  dpkg-deb -x "$deb" "$work/root"
done

partial=$home.partial
rm -rf "$partial"
mkdir -p "$partial"
mv "$work/root" "$partial/root"
cat >"$partial/skopeo" <<WRAPPER
#!/bin/sh
# Debian trixie's skopeo (sigstore enabled), on trixie's glibc: see .ci/sigstore-skopeo.sh.
root=\$(dirname "\$0")/root
libs=\$root/usr/lib/$multiarch:\$root/lib/$multiarch
exec "\$root/usr/lib/$multiarch/$loader" --library-path "\$libs" "\$root/usr/bin/skopeo" "\$@"
WRAPPER
chmod +x "$partial/skopeo"
"$partial/skopeo" --version >&2
rm -rf "$home"
mv "$partial" "$home"
echo "$wrapper"
