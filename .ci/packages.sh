# Sourced by ./run-tests and .ci/run. The Debian packages that the real-part tests (and the
# benchmark) need are listed once, in tests/debian-packages.txt: a package, then the command or
# file the tests use from it. A package counts as present when that command or file is.

_test_packages_file="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/debian-packages.txt"

# An executable file, given by its path or found on PATH.
_have_executable() {
  local path=$1
  [[ $path == /* ]] || path=$(command -v "$path" 2>/dev/null) || return 1
  [[ -f $path && -x $path ]]
}

# Prints the missing packages, space-separated, on one line (nothing when all are present).
missing_test_packages() {
  local package tool missing=()
  while read -r package tool _; do
    [[ -z $package || $package == \#* ]] && continue
    _have_executable "$tool" || missing+=("$package")
  done <"$_test_packages_file"
  echo "${missing[*]}"
}

# ensure_test_packages WHO: returns 0 when every package is present, and the skopeo with
# sigstore that .ci/sigstore-skopeo.sh unpacks beside them. Otherwise installs what is missing,
# quietly, when running as root with apt-get; else prints one line naming them and the command
# that installs them, and returns 1.
ensure_test_packages() {
  _ensure_debian_packages "$1" && _ensure_sigstore_skopeo "$1"
}

_ensure_sigstore_skopeo() {
  local who=$1 script
  script="$(dirname "$_test_packages_file")/../.ci/sigstore-skopeo.sh"
  "$script" >/dev/null && return 0
  echo "$who: could not unpack Debian trixie's skopeo (sigstore) with $script" >&2
  return 1
}

_ensure_debian_packages() {
  local who=$1 missing
  missing=$(missing_test_packages)
  [[ -z $missing ]] && return 0
  if [[ $(id -u) -eq 0 ]] && _have_executable apt-get; then
    echo "$who: installing $missing" >&2
    # shellcheck disable=SC2086  # one word per package
    if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null; then
      missing=$(missing_test_packages)
      [[ -z $missing ]] && return 0
    fi
    echo "$who: could not install: $missing" >&2
    return 1
  fi
  echo "$who: missing Debian packages: $missing; install them with: sudo apt-get install -y $missing" \
    "(or run ./run-tests --allow-skips to skip the tests needing them)" >&2
  return 1
}
