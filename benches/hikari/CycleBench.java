// The connection cycle against HikariCP, for `cargo bench --bench cycle`: each thread loops
// getConnection() + close() against a stub DataSource that does no I/O, exactly as the Rust
// peers do in benches/cycle.rs (same batches of 64 between looks at the stop flag, same start
// barrier, same clock: the round ends when the last thread has finished its batch).
//
// cycle.rs compiles this file (with Stubs.java, the stub DataSource it shares with SpikeBench)
// with `javac` into <out>/hikari/ and starts ONE JVM for the whole run in server mode, so that HikariCP's rounds alternate with the Rust peers' rounds while its
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

import com.zaxxer.hikari.HikariDataSource;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.sql.Connection;
import java.util.Locale;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import javax.sql.DataSource;

public final class CycleBench {
    static HikariDataSource pool(int size) {
        return Stubs.pool(new Stubs.StubDataSource(), "cycle", size, 0, 8000);
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
        // The clock starts when the first thread passes the start line (see `run_for` in benches/common/mod.rs).
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
            throw new RuntimeException("a cycling thread failed", failure.get());
        }
        long total = 0;
        for (long n : counts) {
            total += n;
        }
        return total / seconds;
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 1 && args[0].equals("--serve")) {
            serve();
        } else if (args.length == 4) {
            int size = Integer.parseInt(args[0]);
            int threads = Integer.parseInt(args[1]);
            long millis = Long.parseLong(args[2]);
            int rounds = Integer.parseInt(args[3]);
            System.out.println("HikariCP " + Stubs.hikariVersion() + ", Java " + System.getProperty("java.version"));
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
        System.out.println("ready " + Stubs.hikariVersion() + " " + System.getProperty("java.version"));
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
