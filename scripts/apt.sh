# Sourced by the scripts that install what a fresh machine lacks: one way to install Debian
# packages, as root or through sudo, without questions.
#
#   . scripts/apt.sh && apt_install valgrind pgbouncer

# Installs the packages; returns non-zero (apt-get's own message above) when it cannot.
apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@"
}
