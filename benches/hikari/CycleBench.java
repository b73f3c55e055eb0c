// The connection cycle against HikariCP, for `cargo bench --bench cycle`: each thread loops
// getConnection() + close() against a stub DataSource that does no I/O, exactly as the Rust
// peers do in benches/cycle.rs (same batches of 64 between looks at the stop flag, same start
// barrier, same clock: the round ends when the last thread has finished its batch).
//
// cycle.rs compiles this file with `javac` into <out>/hikari/ and starts ONE JVM for the whole
// run in server mode, so that HikariCP's rounds alternate with the Rust peers' rounds while its
// JIT-compiled code stays warm:
//
//     java -cp <out>/hikari:HikariCP.jar:slf4j-api.jar[:slf4j-nop.jar] CycleBench --serve
//
//     <- ready <hikaricp version> <java version>
//     -> run <pool> <threads> <millis>           (a fresh HikariDataSource per round, closed after)
//     <- ops <pool> <threads> <ops per second>
//     -> quit
//
// Standalone, for a look by hand (one warm-up round, then the measured rounds):
//
//     java -cp ... CycleBench <pool> <threads> <millis> <rounds>
//
// The pool is configured as HikariCP's own benchmark configures it: maximumPoolSize = pool,
// minimumIdle 0, connectionTimeout 8000 ms, no connectionTestQuery (so HikariCP validates with
// Connection.isValid, and only for a connection unused for longer than its 500 ms bypass
// window); every other setting is HikariCP's default.

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Proxy;
import java.net.URL;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.util.Locale;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicReference;
import java.util.jar.JarFile;
import java.util.logging.Logger;
import javax.sql.DataSource;

public final class CycleBench {
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

    /** A DataSource whose connections are stubs. */
    static final class StubDataSource implements DataSource {
        private int loginTimeout;

        @Override
        public Connection getConnection() {
            return (Connection) Proxy.newProxyInstance(
                    CycleBench.class.getClassLoader(), new Class<?>[] {Connection.class}, STUB_CONNECTION);
        }

        @Override
        public Connection getConnection(String user, String password) {
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

    static HikariDataSource pool(int size) {
        HikariConfig config = new HikariConfig();
        config.setDataSource(new StubDataSource());
        config.setMaximumPoolSize(size);
        config.setMinimumIdle(0);
        config.setConnectionTimeout(8000);
        config.setPoolName("cycle");
        return new HikariDataSource(config);
    }

    /** One round with a fresh pool: `threads` threads cycle for `millis`; returns ops per second. */
    static double round(int size, int threads, long millis) throws Exception {
        try (HikariDataSource ds = pool(size)) {
            return run(ds, threads, millis);
        }
    }

    static final class Round {
        volatile boolean stop;
    }

    static double run(DataSource ds, int threads, long millis) throws Exception {
        Round r = new Round();
        CyclicBarrier startLine = new CyclicBarrier(threads + 1);
        long[] counts = new long[threads];
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread[] workers = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            final int me = t;
            workers[t] = new Thread(() -> {
                try {
                    startLine.await();
                    long n = 0;
                    while (!r.stop) {
                        for (int i = 0; i < 64; i++) {
                            Connection c = ds.getConnection();
                            c.close();
                        }
                        n += 64;
                    }
                    counts[me] = n;
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                    r.stop = true;
                }
            });
            workers[t].start();
        }
        startLine.await();
        long started = System.nanoTime();
        Thread.sleep(millis);
        r.stop = true;
        for (Thread w : workers) {
            w.join();
        }
        // Threads finish their last batch after `stop`; count the time they took to do so.
        double seconds = (System.nanoTime() - started) / 1e9;
        if (failure.get() != null) {
            throw new RuntimeException("a cycling thread failed", failure.get());
        }
        long total = 0;
        for (long n : counts) {
            total += n;
        }
        return total / seconds;
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

    public static void main(String[] args) throws Exception {
        if (args.length == 1 && args[0].equals("--serve")) {
            serve();
        } else if (args.length == 4) {
            int size = Integer.parseInt(args[0]);
            int threads = Integer.parseInt(args[1]);
            long millis = Long.parseLong(args[2]);
            int rounds = Integer.parseInt(args[3]);
            System.out.println("HikariCP " + hikariVersion() + ", Java " + System.getProperty("java.version"));
            System.out.printf(Locale.ROOT, "warm-up pool %d threads %d: %.0f ops/s%n", size, threads, round(size, threads, millis));
            for (int i = 0; i < rounds; i++) {
                System.out.printf(Locale.ROOT, "ops %d %d %.1f%n", size, threads, round(size, threads, millis));
            }
        } else {
            System.err.println("usage: CycleBench --serve | CycleBench <pool> <threads> <millis> <rounds>");
            System.exit(2);
        }
    }

    static void serve() throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        System.out.println("ready " + hikariVersion() + " " + System.getProperty("java.version"));
        System.out.flush();
        String line;
        while ((line = in.readLine()) != null) {
            String[] words = line.trim().split("\\s+");
            if (words[0].equals("quit")) {
                break;
            } else if (words[0].equals("run") && words.length == 4) {
                int size = Integer.parseInt(words[1]);
                int threads = Integer.parseInt(words[2]);
                long millis = Long.parseLong(words[3]);
                double ops = round(size, threads, millis);
                System.out.printf(Locale.ROOT, "ops %d %d %.1f%n", size, threads, ops);
                System.out.flush();
            } else {
                System.err.println("CycleBench: unknown command: " + line);
                System.exit(2);
            }
        }
    }
}
