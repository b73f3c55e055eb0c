# Sourced by scripts/test: makes sure the `pgbouncer` program the `pgbouncer` tests run is
# installed (Debian's package), and fails loudly when it cannot be.
#
#   . scripts/pgbouncer.sh && ensure_pgbouncer
#
# The tests start PgBouncers of their own (tests/common/pgbouncer.rs), never a system-wide one:
# the package's service is left stopped and disabled, as the machine was before.

. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

# Where Debian puts the program (/usr/sbin is not on every user's PATH), else PATH.
pgbouncer_find() {
  if [ -x /usr/sbin/pgbouncer ]; then
    printf '%s\n' /usr/sbin/pgbouncer
    return 0
  fi
  command -v pgbouncer
}

ensure_pgbouncer() {
  if ! pgbouncer_find >/dev/null; then
    echo "installing the PgBouncer test dependency: pgbouncer"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
      sudo="sudo"
    fi
    # Remember whether a system-wide PgBouncer was running before, so that the one the package
    # may start is stopped again and nothing else is.
    local was_running=0
    if pgrep -x pgbouncer >/dev/null 2>&1; then
      was_running=1
    fi
    if ! apt_install pgbouncer; then
      echo "error: could not install the pgbouncer package: the pgbouncer tests need it" >&2
      return 1
    fi
    # The package enables its service (and starts it where policy-rc.d allows): stop and
    # disable it, so that no PgBouncer listens on 6432 or starts at boot because of the tests.
    if [ "$was_running" -eq 0 ]; then
      if command -v systemctl >/dev/null 2>&1; then
        $sudo systemctl stop pgbouncer >/dev/null 2>&1 || true
        $sudo systemctl disable pgbouncer >/dev/null 2>&1 || true
      fi
      if command -v update-rc.d >/dev/null 2>&1; then
        $sudo update-rc.d pgbouncer disable >/dev/null 2>&1 || true
      fi
      # Without a service manager (a container), the init script or the pidfile.
      if pgrep -x pgbouncer >/dev/null 2>&1; then
        $sudo /etc/init.d/pgbouncer stop >/dev/null 2>&1 || true
      fi
      if pgrep -x pgbouncer >/dev/null 2>&1 && [ -f /var/run/postgresql/pgbouncer.pid ]; then
        $sudo kill "$(cat /var/run/postgresql/pgbouncer.pid)" 2>/dev/null || true
      fi
      if pgrep -x pgbouncer >/dev/null 2>&1; then
        echo "warning: a system-wide pgbouncer is still running after the install: $(pgrep -ax pgbouncer)" >&2
      fi
    fi
  fi
  local program
  if ! program="$(pgbouncer_find)"; then
    echo "error: no pgbouncer program after installing the pgbouncer package" >&2
    return 1
  fi
  echo "PgBouncer present: $program ($("$program" --version | head -n 1))"
}
