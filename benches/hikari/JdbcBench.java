// HikariCP on a real JDBC driver, for `cargo bench --features jdbc --bench jdbc`: the same loads
// as benches/jdbc.rs runs through millpond's JDBC bridge, with the same driver jars, in ONE JVM
// started for the whole run and driven over a pipe (as CycleBench is), so that HikariCP's rounds
// alternate with millpond's while its JIT-compiled code stays warm. The same commands are taken
// through JNI too (`JdbcBench.command`), by HikariCP loaded into millpond's own JVM.
//
//     java -cp <out>/hikari:HikariCP.jar:slf4j-api.jar[:slf4j-nop.jar] JdbcBench --serve
//
//     <- ready <hikaricp version> <java version>
//     -> jar <path>                                       (a driver jar, loaded by a class loader
//     <- ok                                                of its own, as millpond loads it)
//     -> pool <id> <size> <driver class> <url> [user]     (a HikariDataSource, filled before use)
//     <- ok
//     -> exec <id> <sql…>                                 (one statement, on one connection)
//     <- ok
//     -> query <id> <threads> <millis> <rows> <table>     (the query load, see below)
//     <- ops <ops per second> <process CPU µs per op> <operations>
//     -> cycle <id> <threads> <millis>                    (checkout + return alone)
//     <- ops <ops per second> <process CPU µs per op> <operations>
//     -> close <id>
//     <- ok
//     -> quit
//
// The query load is what a JDBC application does per request: getConnection(),
// prepareStatement("SELECT name FROM <table> WHERE id = ?"), setLong with an id that varies (the
// BIGINT millpond binds its integers as: the same parameter type on both sides),
// executeQuery(), next(), getString(1), then close the result set, the statement and the
// connection. Each thread works in batches of 64 between looks at the stop flag, behind a start
// barrier, and the round ends when the last thread has finished its batch: as the Rust peers do.
//
// Every HikariCP setting not given here is its default: minimumIdle = maximumPoolSize, no
// connectionTestQuery (Connection.isValid, only for a connection unused for longer than its
// 500 ms bypass window), autocommit on.

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;

import java.io.BufferedReader;
import java.lang.management.ManagementFactory;
import java.io.File;
import java.io.InputStreamReader;
import java.net.URL;
import java.net.URLClassLoader;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

public final class JdbcBench {
    /** The driver jars given with `jar`, behind one class loader (HikariCP loads its driver
     *  class through the thread's context class loader). */
    static final List<URL> JARS = new ArrayList<>();

    static final Map<String, HikariDataSource> POOLS = new HashMap<>();

    /** What one worker does per operation. */
    interface Op {
        void run(HikariDataSource ds, int n) throws Exception;
    }

    static final class Round {
        volatile boolean stop;
    }

    /** The JVM's CPU time, every thread (the compiler and the collector included), in ns. */
    static long processCpu() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }

    /** One round: "ops/s CPU-µs-per-op operations". */
    static String run(HikariDataSource ds, int threads, long millis, Op op) throws Exception {
        long cpuBefore = processCpu();
        Round r = new Round();
        CyclicBarrier startLine = new CyclicBarrier(threads + 1);
        long[] counts = new long[threads];
        AtomicLong started = new AtomicLong();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread[] workers = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            final int me = t;
            workers[t] = new Thread(() -> {
                try {
                    startLine.await();
                    started.compareAndSet(0, System.nanoTime());
                    long n = 0;
                    // Each thread starts at its own place in the table.
                    int k = me * 7919;
                    while (!r.stop) {
                        for (int i = 0; i < 64; i++) {
                            op.run(ds, k++);
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
        // The clock starts when the first thread passes the start line (see `run_for` in
        // benches/common/mod.rs).
        started.compareAndSet(0, System.nanoTime());
        long left = millis * 1_000_000 - (System.nanoTime() - started.get());
        if (left > 0) {
            Thread.sleep(left / 1_000_000, (int) (left % 1_000_000));
        }
        r.stop = true;
        for (Thread w : workers) {
            w.join();
        }
        // Threads finish their last batch after `stop`; count the time they took to do so.
        double seconds = (System.nanoTime() - started.get()) / 1e9;
        if (failure.get() != null) {
            throw new RuntimeException("a worker failed", failure.get());
        }
        long total = 0;
        for (long n : counts) {
            total += n;
        }
        double cpuMicros = (processCpu() - cpuBefore) / 1e3;
        return String.format(Locale.ROOT, "%.1f %.3f %d", total / seconds, cpuMicros / Math.max(total, 1), total);
    }

    static HikariDataSource pool(String id, int size, String driverClass, String url, String user) {
        HikariConfig config = new HikariConfig();
        config.setPoolName(id);
        config.setDriverClassName(driverClass);
        config.setJdbcUrl(url);
        if (user != null) {
            config.setUsername(user);
        }
        config.setMaximumPoolSize(size);
        config.setConnectionTimeout(8000);
        return new HikariDataSource(config);
    }

    /** Waits until the pool has opened all its connections (HikariCP fills it in the background). */
    static void fill(HikariDataSource ds, int size) throws Exception {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (ds.getHikariPoolMXBean().getTotalConnections() < size) {
            if (System.nanoTime() > deadline) {
                throw new RuntimeException("the pool did not fill within 30 s");
            }
            Thread.sleep(5);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1 || !args[0].equals("--serve")) {
            System.err.println("usage: JdbcBench --serve (driven by benches/jdbc.rs)");
            System.exit(2);
        }
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        reply("ready " + Stubs.hikariVersion() + " " + System.getProperty("java.version"));
        String line;
        while ((line = in.readLine()) != null) {
            String answer = command(line);
            if (answer == null) {
                return;
            }
            reply(answer);
        }
    }

    /**
     * Carries out one command line (see the top of this file) and returns the answer, null
     * after {@code quit}. Called by {@link #main} for the JVM of its own, and through JNI by
     * benches/jdbc.rs for HikariCP in millpond's JVM (its driver jars on the class path there).
     */
    public static String command(String line) throws Exception {
        String[] w = line.trim().split("\\s+");
        switch (w[0]) {
            case "quit":
                for (HikariDataSource ds : POOLS.values()) {
                    ds.close();
                }
                POOLS.clear();
                return null;
            case "jar":
                JARS.add(new File(w[1]).toURI().toURL());
                Thread.currentThread().setContextClassLoader(
                        new URLClassLoader(JARS.toArray(new URL[0]), JdbcBench.class.getClassLoader()));
                return "ok";
            case "pool": {
                int size = Integer.parseInt(w[2]);
                HikariDataSource ds = pool(w[1], size, w[3], w[4], w.length > 5 ? w[5] : null);
                fill(ds, size);
                POOLS.put(w[1], ds);
                return "ok";
            }
            case "exec": {
                String sql = line.trim().split("\\s+", 3)[2];
                try (Connection c = POOLS.get(w[1]).getConnection(); Statement s = c.createStatement()) {
                    s.execute(sql);
                }
                return "ok";
            }
            case "query": {
                int rows = Integer.parseInt(w[4]);
                String sql = "SELECT name FROM " + w[5] + " WHERE id = ?";
                return "ops " + run(POOLS.get(w[1]), Integer.parseInt(w[2]), Long.parseLong(w[3]), (ds, n) -> {
                    try (Connection c = ds.getConnection();
                            PreparedStatement ps = c.prepareStatement(sql)) {
                        ps.setLong(1, n % rows + 1);
                        try (ResultSet rs = ps.executeQuery()) {
                            if (!rs.next() || rs.getString(1) == null) {
                                throw new IllegalStateException("no name for id " + (n % rows + 1));
                            }
                        }
                    }
                });
            }
            case "cycle":
                return "ops " + run(POOLS.get(w[1]), Integer.parseInt(w[2]), Long.parseLong(w[3]), (ds, n) -> {
                    ds.getConnection().close();
                });
            case "close":
                POOLS.remove(w[1]).close();
                return "ok";
            default:
                throw new IllegalArgumentException("JdbcBench: unknown command: " + line);
        }
    }

    static void reply(String text) {
        System.out.println(text);
        System.out.flush();
    }
}
