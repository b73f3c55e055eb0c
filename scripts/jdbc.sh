# Sourced by scripts/test: makes sure a JVM and the JDBC driver jars the `jdbc` tests and
# example use are installed (Debian packages), and fails loudly when they cannot be.
#
#   . scripts/jdbc.sh && ensure_jdbc_drivers

. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

# The jars the tests load, from /usr/share/java, and the package that provides each.
JDBC_JARS=(
  "h2.jar:libh2-java"
  "hsqldb1.8.0.jar:libhsqldb1.8.0-java"
  "derby.jar:libderby-java"
  "sqlite-jdbc.jar:libxerial-sqlite-jdbc-java"
  "postgresql.jar:libpostgresql-jdbc-java"
  "mariadb-java-client.jar:libmariadb-java"
)

# Where a libjvm.so may be: JAVA_HOME, the Debian default, any JDK under /usr/lib/jvm.
jdbc_find_libjvm() {
  local candidate
  for candidate in ${JAVA_HOME:+"$JAVA_HOME"/lib/server/libjvm.so} \
    /usr/lib/jvm/default-java/lib/server/libjvm.so /usr/lib/jvm/*/lib/server/libjvm.so; do
    if [ -f "$candidate" ]; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 1
}

ensure_jdbc_drivers() {
  local entry jar package missing=()
  for entry in "${JDBC_JARS[@]}"; do
    jar="${entry%%:*}"
    package="${entry#*:}"
    if [ ! -f "/usr/share/java/$jar" ]; then
      missing+=("$package")
    fi
  done
  if ! jdbc_find_libjvm >/dev/null && ! command -v java >/dev/null; then
    missing+=("default-jre-headless")
  fi
  # The test that compares the embedded Bridge.class with its source compiles it.
  if ! command -v javac >/dev/null; then
    missing+=("default-jdk-headless")
  fi
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing JDBC test dependencies: ${missing[*]}"
    if ! apt_install libh2-java libhsqldb1.8.0-java libderby-java libxerial-sqlite-jdbc-java \
      libpostgresql-jdbc-java libmariadb-java "${missing[@]}"; then
      echo "error: could not install the JDBC driver packages (${missing[*]}): the jdbc tests need them" >&2
      return 1
    fi
  fi
  for entry in "${JDBC_JARS[@]}"; do
    jar="${entry%%:*}"
    if [ ! -f "/usr/share/java/$jar" ]; then
      echo "error: /usr/share/java/$jar is still missing after installing ${entry#*:}" >&2
      return 1
    fi
  done
  local libjvm
  if ! libjvm="$(jdbc_find_libjvm)"; then
    if command -v java >/dev/null; then
      libjvm="(found through $(command -v java))"
    else
      echo "error: no JVM: no libjvm.so under JAVA_HOME or /usr/lib/jvm, and no java on PATH" >&2
      return 1
    fi
  fi
  # millpond looks in JAVA_HOME first: point it at the JDK found when it is unset.
  if [ -z "${JAVA_HOME:-}" ] && [ -f "$libjvm" ]; then
    JAVA_HOME="$(dirname "$(dirname "$(dirname "$libjvm")")")"
    export JAVA_HOME
  fi
  echo "JDBC drivers present; libjvm: $libjvm"
}
