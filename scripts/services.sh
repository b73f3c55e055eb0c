# Sourced by scripts/test and scripts/bench: makes sure the local PostgreSQL and MariaDB run,
# starting them when they are down, and fails (never skips) when they cannot be reached.
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

  # Every local PostgreSQL role logs in by trust; one role must give a password, so the tests can
  # show a wrong password is reported as the server's authentication error, never as a timeout.
  hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -n 1)
  if ! grep -q '^host all millpond_pw ' "$hba"; then
    sed -i '1i host all millpond_pw 127.0.0.1/32 scram-sha-256' "$hba"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main reload
  fi
  psql -q -h 127.0.0.1 -U postgres -d test -v ON_ERROR_STOP=1 -c \
    "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'millpond_pw') THEN
       CREATE ROLE millpond_pw LOGIN PASSWORD 'secret'; END IF; END \$\$"
}
