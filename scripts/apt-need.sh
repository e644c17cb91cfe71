# Sourced by the setup scripts: apt_need PKG:PROBE ... installs the packages whose probe is missing
# (a command name, or an absolute path), with one apt-get update, and nothing when all are there.
apt_need() {
  need=""
  for p in "$@"; do
    pkg=${p%%:*}; what=${p#*:}
    case "$what" in
      /*) [ -e "$what" ] || need="$need $pkg" ;;
      *) command -v "$what" >/dev/null 2>&1 || need="$need $pkg" ;;
    esac
  done
  [ -n "$need" ] || return 0
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages:$need (run this with sudo, or apt-get install them)" >&2
    return 1
  fi
  echo "setup: apt-get install$need"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
}
