// What CycleBench.java and SpikeBench.java share: the stub connection and DataSource that do no
// I/O, the HikariCP pool built on a DataSource, and HikariCP's version. Compiled with them (every
// benches/hikari/*.java file is compiled together by benches/common/mod.rs).

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;

import java.io.File;
import java.io.PrintWriter;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Proxy;
import java.net.URL;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.util.jar.JarFile;
import java.util.logging.Logger;
import javax.sql.DataSource;

final class Stubs {
    private Stubs() {}

    /** A connection that is nothing at all: every call returns at once. */
    static final InvocationHandler STUB_CONNECTION = (proxy, method, args) -> {
        Class<?> type = method.getReturnType();
        // The hot path: HikariCP's ProxyConnection.close() calls clearWarnings() on every return.
        if (type == void.class) {
            return null;
        }
        switch (method.getName()) {
            case "isValid":
            case "getAutoCommit":
                return Boolean.TRUE;
            case "getTransactionIsolation":
                return Connection.TRANSACTION_READ_COMMITTED;
            case "getHoldability":
                return ResultSet.HOLD_CURSORS_OVER_COMMIT;
            case "hashCode":
                return System.identityHashCode(proxy);
            case "equals":
                return proxy == args[0];
            case "toString":
                return "StubConnection@" + Integer.toHexString(System.identityHashCode(proxy));
            default:
                break;
        }
        if (type == boolean.class) {
            return Boolean.FALSE; // isClosed, isReadOnly, isWrapperFor
        }
        if (type == int.class) {
            return 0; // getNetworkTimeout
        }
        if (type == long.class) {
            return 0L;
        }
        return null; // getCatalog, getSchema, getWarnings, ...
    };

    /** A connection whose every call goes to `handler`. */
    static Connection connection(InvocationHandler handler) {
        return (Connection) Proxy.newProxyInstance(
                Stubs.class.getClassLoader(), new Class<?>[] {Connection.class}, handler);
    }

    /** A DataSource whose connections are stubs; subclasses change what getConnection() does. */
    static class StubDataSource implements DataSource {
        private int loginTimeout;

        @Override
        public Connection getConnection() throws SQLException {
            return connection(STUB_CONNECTION);
        }

        @Override
        public Connection getConnection(String user, String password) throws SQLException {
            return getConnection();
        }

        @Override
        public PrintWriter getLogWriter() {
            return null;
        }

        @Override
        public void setLogWriter(PrintWriter out) {}

        @Override
        public void setLoginTimeout(int seconds) {
            loginTimeout = seconds;
        }

        @Override
        public int getLoginTimeout() {
            return loginTimeout;
        }

        @Override
        public Logger getParentLogger() throws SQLFeatureNotSupportedException {
            throw new SQLFeatureNotSupportedException();
        }

        @Override
        public <T> T unwrap(Class<T> iface) throws SQLException {
            throw new SQLException("not a wrapper");
        }

        @Override
        public boolean isWrapperFor(Class<?> iface) {
            return false;
        }
    }

    /** A HikariCP pool on `source`; every setting not given here is HikariCP's default. */
    static HikariDataSource pool(
            DataSource source, String name, int maximumPoolSize, int minimumIdle, long connectionTimeoutMs) {
        HikariConfig config = new HikariConfig();
        config.setDataSource(source);
        config.setMaximumPoolSize(maximumPoolSize);
        config.setMinimumIdle(minimumIdle);
        config.setConnectionTimeout(connectionTimeoutMs);
        config.setPoolName(name);
        return new HikariDataSource(config);
    }

    /** HikariCP's version, from its jar's manifest. */
    static String hikariVersion() {
        try {
            URL jar = HikariDataSource.class.getProtectionDomain().getCodeSource().getLocation();
            try (JarFile file = new JarFile(new File(jar.toURI()))) {
                String version = file.getManifest().getMainAttributes().getValue("Bundle-Version");
                return version == null ? "unknown" : version;
            }
        } catch (Exception e) {
            return "unknown";
        }
    }
}
