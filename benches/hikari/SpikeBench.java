// The spike against HikariCP, for `cargo bench --bench spike`: the same load and the same
// ruler as the Rust peers in benches/spike.rs. Opening a connection takes 150 ms (the stub
// DataSource sleeps), a request holds its connection for 2 ms (a sleep); maximumPoolSize 50,
// minimumIdle 5, connectionTimeout 30 s, other settings at HikariCP's defaults. Once the pool
// has its 5, 50 threads released by a barrier each make one request.
//
// Counted by the harness, not by the pool: `open` (connections the stub opened and that were
// not yet closed), `connecting` (getConnection calls in progress in the stub), `in use` (requests
// holding a connection), `waiting` (requests inside getConnection()); and HikariCP's own count
// (HikariPoolMXBean.getTotalConnections), every 250 µs from a sampler thread.
//
// spike.rs compiles this file (with Stubs.java, whose helpers it uses) into <out>/hikari/
// and drives one JVM over a pipe, so HikariCP's rounds alternate with the Rust peers':
//
//     java -cp <out>/hikari:HikariCP.jar:slf4j-api.jar[:slf4j-nop.jar] SpikeBench --serve
//
//     <- ready <hikaricp version> <java version>
//     -> run
//     <- sample <t_us> <open> <connecting> <in_use> <waiting> <pool_open>     (every 250 µs)
//     <- result <open_at_end> <connecting_at_end> <open_after_1s> <connects> <total_ns>
//               <arrival_spread_ns> <latency_ns,...> <wait_ns,...>
//     -> quit
//
// Times are from the first request's arrival (negative before it).

import com.zaxxer.hikari.HikariDataSource;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

public final class SpikeBench {
    static final int REQUESTS = 50;
    static final int MAX_CONNECTIONS = 50;
    static final int MIN_IDLE = 5;
    static final long CONNECT_MS = 150;
    static final long HOLD_MS = 2;
    static final long SAMPLE_EVERY_NS = 250_000;
    static final long AFTER_MS = 1000;

    /** What the stub's connections do, counted where the database would see it. */
    static final class Server {
        final AtomicInteger live = new AtomicInteger();
        final AtomicInteger connecting = new AtomicInteger();
        final AtomicInteger connects = new AtomicInteger();
    }

    /** A DataSource whose getConnection takes 150 ms and whose connections do nothing. */
    static final class SlowDataSource extends Stubs.StubDataSource {
        final Server server;

        SlowDataSource(Server server) {
            this.server = server;
        }

        @Override
        public Connection getConnection() throws SQLException {
            server.connecting.incrementAndGet();
            try {
                Thread.sleep(CONNECT_MS);
            } catch (InterruptedException e) {
                server.connecting.decrementAndGet();
                Thread.currentThread().interrupt();
                throw new SQLException("interrupted while connecting", e);
            }
            server.live.incrementAndGet();
            server.connects.incrementAndGet();
            server.connecting.decrementAndGet();
            AtomicBoolean closed = new AtomicBoolean();
            return Stubs.connection((proxy, method, args) -> {
                switch (method.getName()) {
                    case "close":
                        if (closed.compareAndSet(false, true)) {
                            server.live.decrementAndGet();
                        }
                        return null;
                    case "isClosed":
                        return closed.get();
                    default:
                        return Stubs.STUB_CONNECTION.invoke(proxy, method, args);
                }
            });
        }
    }

    /** Waits until the stub's counts satisfy `done`, for at most `limitMs`. */
    interface Done {
        boolean test(int live, int connecting);
    }

    static boolean settle(Server server, long limitMs, Done done) throws InterruptedException {
        long deadline = System.nanoTime() + limitMs * 1_000_000;
        while (System.nanoTime() < deadline) {
            if (done.test(server.live.get(), server.connecting.get())) {
                return true;
            }
            Thread.sleep(1);
        }
        return false;
    }

    static void round(PrintWriter out) throws Exception {
        Server server = new Server();
        HikariDataSource ds = Stubs.pool(new SlowDataSource(server), "spike", MAX_CONNECTIONS, MIN_IDLE, 30_000);
        try {
            if (!settle(server, 10_000, (live, connecting) -> live >= MIN_IDLE && connecting == 0)) {
                throw new IllegalStateException("HikariCP did not open its " + MIN_IDLE + " connections");
            }
            spike(ds, server, out);
        } finally {
            ds.close();
        }
        if (!settle(server, 3_000, (live, connecting) -> live == 0 && connecting == 0)) {
            System.err.println("note: hikaricp: " + server.live.get() + " connections still open 3 s after close");
        }
    }

    static void spike(HikariDataSource ds, Server server, PrintWriter out) throws Exception {
        AtomicInteger inGet = new AtomicInteger();
        AtomicInteger inUse = new AtomicInteger();
        AtomicBoolean stop = new AtomicBoolean();
        // The start line: each request parks until `go`, and the main thread unparks them all,
        // as a futex wake-all releases the Rust peers' barrier. A CyclicBarrier or a latch wakes
        // its waiters one after another (each woken thread wakes the next), which on a busy
        // 2-core machine spreads the 50 arrivals over 10 ms and more.
        CountDownLatch ready = new CountDownLatch(REQUESTS);
        AtomicBoolean go = new AtomicBoolean();
        long origin = System.nanoTime();
        int connectsBefore = server.connects.get();

        List<long[]> samples = new ArrayList<>(16_384);
        Thread sampler = new Thread(() -> {
            long next = System.nanoTime();
            while (!stop.get()) {
                int poolOpen = ds.getHikariPoolMXBean().getTotalConnections();
                samples.add(new long[] {
                    (System.nanoTime() - origin) / 1000,
                    server.live.get(),
                    server.connecting.get(),
                    inUse.get(),
                    inGet.get(),
                    poolOpen,
                });
                next += SAMPLE_EVERY_NS;
                long now = System.nanoTime();
                if (next > now) {
                    LockSupport.parkNanos(next - now);
                } else {
                    next = now; // fell behind (a busy machine): no burst of catch-up samples
                }
            }
        });
        sampler.start();

        long[][] times = new long[REQUESTS][];
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread[] workers = new Thread[REQUESTS];
        for (int i = 0; i < REQUESTS; i++) {
            final int me = i;
            workers[i] = new Thread(() -> {
                try {
                    ready.countDown();
                    while (!go.get()) {
                        LockSupport.park();
                    }
                    long arrived = System.nanoTime();
                    inGet.incrementAndGet();
                    Connection c = ds.getConnection();
                    long got = System.nanoTime();
                    inGet.decrementAndGet();
                    inUse.incrementAndGet();
                    Thread.sleep(HOLD_MS);
                    inUse.decrementAndGet();
                    c.close();
                    times[me] = new long[] {arrived, got, System.nanoTime()};
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            });
            workers[i].start();
        }
        // Let the sampler see the calm before the spike.
        ready.await();
        Thread.sleep(5);
        go.set(true);
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
        for (Thread w : workers) {
            w.join();
        }
        if (failure.get() != null) {
            stop.set(true);
            throw new RuntimeException("a request failed", failure.get());
        }
        int openAtEnd = server.live.get();
        int connectingAtEnd = server.connecting.get();
        Thread.sleep(AFTER_MS);
        int openAfter = server.live.get();
        int connects = server.connects.get() - connectsBefore;
        stop.set(true);
        sampler.join();

        long first = Long.MAX_VALUE;
        long lastArrival = Long.MIN_VALUE;
        long last = Long.MIN_VALUE;
        for (long[] t : times) {
            first = Math.min(first, t[0]);
            lastArrival = Math.max(lastArrival, t[0]);
            last = Math.max(last, t[2]);
        }
        long startUs = (first - origin) / 1000;
        for (long[] s : samples) {
            out.printf(Locale.ROOT, "sample %d %d %d %d %d %d%n", s[0] - startUs, s[1], s[2], s[3], s[4], s[5]);
        }
        StringBuilder latencies = new StringBuilder();
        StringBuilder waits = new StringBuilder();
        for (long[] t : times) {
            latencies.append(latencies.length() == 0 ? "" : ",").append(t[2] - t[0]);
            waits.append(waits.length() == 0 ? "" : ",").append(t[1] - t[0]);
        }
        out.printf(
                Locale.ROOT,
                "result %d %d %d %d %d %d %s %s%n",
                openAtEnd,
                connectingAtEnd,
                openAfter,
                connects,
                last - first,
                lastArrival - first,
                latencies,
                waits);
        out.flush();
    }

    public static void main(String[] args) throws Exception {
        PrintWriter out = new PrintWriter(System.out, false);
        if (args.length == 1 && args[0].equals("--serve")) {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
            out.println("ready " + Stubs.hikariVersion() + " " + System.getProperty("java.version"));
            out.flush();
            String line;
            while ((line = in.readLine()) != null) {
                String command = line.trim();
                if (command.equals("quit")) {
                    break;
                } else if (command.equals("run")) {
                    round(out);
                } else {
                    System.err.println("SpikeBench: unknown command: " + line);
                    System.exit(2);
                }
            }
        } else if (args.length == 0) {
            round(out); // one round by hand
        } else {
            System.err.println("usage: SpikeBench [--serve]");
            System.exit(2);
        }
    }
}
