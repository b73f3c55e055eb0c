# Sourced by scripts/test and scripts/bench: makes sure the local PostgreSQL and MariaDB run,
# starting them when they are down, and fails (never skips) when they cannot be reached. It
# changes nothing in them: no role, user, pg_hba.conf line or setting.
ensure_services() {
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  fi
  if ! mariadb-admin --protocol=tcp -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1; then
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  fi
  for _ in $(seq 60); do
    if pg_isready -q -h 127.0.0.1 -p 5432 && mariadb-admin --protocol=tcp -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1; then
      break
    fi
    sleep 1
  done
  pg_isready -h 127.0.0.1 -p 5432
  mariadb-admin --protocol=tcp -h 127.0.0.1 -P 3306 -u root ping

  # The tests that restart, stop, freeze or reconfigure a server start throwaway servers of their
  # own from these programs (tests/common/throwaway.rs); the servers above are only queried.
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v pg_config >/dev/null; then
    echo "error: no initdb under /usr/lib/postgresql/*/bin: the throwaway PostgreSQL servers need it" >&2
    return 1
  fi
  for program in mariadb-install-db mariadbd; do
    if ! command -v "$program" >/dev/null && [ ! -x "/usr/sbin/$program" ]; then
      echo "error: no $program: the throwaway MariaDB servers need it" >&2
      return 1
    fi
  done
}
