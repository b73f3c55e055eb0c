// The Java half of millpond's JDBC bridge (src/backends/jdbc/bridge.rs is the Rust half): runs
// a kept PreparedStatement's whole query in one call from Rust (binds its parameters, executes
// it, reads its rows) where calling each JDBC method through JNI costs a crossing per bind, per
// row and per column. Values travel both ways through one direct ByteBuffer per connection, in
// the platform's byte order, in the layouts bridge.rs writes and reads.
//
// millpond embeds this class compiled (Bridge.class beside this file) and defines it in the
// system class loader at run time, so no javac is needed where millpond is built or used. After
// changing this file, compile it again from the repository's root with
//
//     javac --release 8 -d /tmp/bridge src/backends/jdbc/bridge/Bridge.java && \
//         cp /tmp/bridge/millpond/jdbc/Bridge.class src/backends/jdbc/bridge/
//
// (the test `the_embedded_bridge_class_is_its_source_compiled` in tests/jdbc.rs checks that it
// was). Java 8's class file format, so that any JVM millpond can start loads it.
package millpond.jdbc;

import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;

public final class Bridge {
    // Parameter tags and column readers: the numbers bridge.rs uses.
    static final byte NULL = 0, BOOL = 1, INT = 2, FLOAT = 3, DECIMAL = 4, TEXT = 5, BYTES = 6,
            DATE = 7, TIME = 8, TIMESTAMP = 9, TIMESTAMP_TZ = 10;

    /** Set in a call's answer: the result set is still open, call {@link #more} for the rest. */
    public static final int MORE = 1 << 30;
    /** Set in a call's answer: {@link #buffer} is a new one (the old was too small). */
    public static final int MOVED = 1 << 29;
    /**
     * A query's whole answer when the request asked for its column count to be checked and the
     * result has another (a table changed under a {@code *}): no row was read, and the result
     * set is left open for {@link #detach}.
     */
    public static final int STALE = 1 << 28;

    /** A new buffer's size; rows stop being added to an answer past it (a row always fits). */
    static final int SIZE = 16 * 1024;

    /** Where requests and answers are; replaced by a larger one when a row does not fit. */
    public ByteBuffer buffer = ByteBuffer.allocateDirect(SIZE).order(ByteOrder.nativeOrder());

    /** The result set an answer with {@link #MORE} left open, and its columns' readers. */
    private ResultSet open;
    private byte[] openReaders;
    /** The readers of the last query, kept while the next has the same (no copy per query). */
    private byte[] readers = new byte[0];
    private boolean moved;
    /**
     * What the driver threw while reading rows after some were written: those rows are answered
     * first (with {@link #MORE}), and {@link #more} throws it, so that every row the driver gave
     * reaches the caller before its error, as when reading call by call.
     */
    private Throwable failed;

    /**
     * Binds the parameters in the buffer to {@code ps}, runs it with {@code executeQuery} and
     * writes up to {@code maxRows} of its rows into the buffer. The request: the number of
     * parameters and each one's tag and value, then whether the result's column count is to be
     * checked (a byte, 1 for SQL with a {@code *}), the number of columns and each one's reader.
     * Answers the number of rows written, with {@link #MORE} and {@link #MOVED} as they apply,
     * or {@link #STALE}. The result set is closed, unless {@link #MORE} or {@link #STALE} says
     * otherwise; on an exception too.
     */
    public int query(PreparedStatement ps, int maxRows) throws SQLException {
        closeOpen();
        ByteBuffer b = buffer;
        b.clear();
        bindAll(ps, b);
        boolean check = b.get() != 0;
        int columns = b.getInt();
        byte[] kept = readers;
        if (kept.length != columns || !sameReaders(b, kept)) {
            kept = new byte[columns];
            b.get(kept);
            readers = kept;
        }
        ResultSet rs = ps.executeQuery();
        if (check) {
            int count;
            try {
                count = rs.getMetaData().getColumnCount();
            } catch (SQLException | RuntimeException | Error e) {
                closeQuietly(rs);
                throw e;
            }
            if (count != columns) {
                open = rs;
                openReaders = null;
                return STALE;
            }
        }
        return rows(rs, kept, maxRows);
    }

    /**
     * The result set a {@link #STALE} answer left open, handed over (the caller reads and
     * closes it); null when there is none.
     */
    public ResultSet detach() {
        failed = null;
        ResultSet rs = open;
        open = null;
        openReaders = null;
        return rs;
    }

    /** Binds the parameters in the buffer to {@code ps} (as {@link #update} reads them), then
     * adds them to its batch. */
    public void addBatch(PreparedStatement ps) throws SQLException {
        closeOpen();
        ByteBuffer b = buffer;
        b.clear();
        bindAll(ps, b);
        ps.addBatch();
    }

    /**
     * Binds the parameters in the buffer to {@code ps} (as {@link #query} reads them, without
     * the readers) and runs it with {@code execute}: answers its update count, 0 when it has
     * none or returned a result set (closed unread).
     */
    public long update(PreparedStatement ps) throws SQLException {
        closeOpen();
        ByteBuffer b = buffer;
        b.clear();
        bindAll(ps, b);
        if (ps.execute()) {
            // Closed unread, and quietly (the statement ran; a failed close does not change
            // that): a kept statement must hold no cursor.
            ResultSet rs = ps.getResultSet();
            if (rs != null) {
                closeQuietly(rs);
            }
            return 0;
        }
        return Math.max(ps.getUpdateCount(), 0);
    }

    /** The next rows of the result set an answer with {@link #MORE} left open. */
    public int more(int maxRows) throws SQLException {
        Throwable thrown = failed;
        failed = null;
        if (thrown instanceof SQLException) {
            throw (SQLException) thrown;
        } else if (thrown instanceof RuntimeException) {
            throw (RuntimeException) thrown;
        } else if (thrown != null) {
            throw (Error) thrown;
        }
        ResultSet rs = open;
        open = null;
        if (rs == null) {
            return 0;
        }
        return rows(rs, openReaders, maxRows);
    }

    /** Closes the result set an answer with {@link #MORE} left open, when its rows are not wanted. */
    public void close() {
        closeOpen();
    }

    /** Makes the buffer hold at least {@code size} bytes (for a large request). */
    public void reserve(int size) {
        moved = false;
        buffer.clear();
        ensure(size);
    }

    /** Puts back a buffer of the first size (after a large row, so that it is not held). */
    public void shrink() {
        buffer = ByteBuffer.allocateDirect(SIZE).order(ByteOrder.nativeOrder());
    }

    private boolean sameReaders(ByteBuffer b, byte[] kept) {
        int at = b.position();
        for (int i = 0; i < kept.length; i++) {
            if (b.get(at + i) != kept[i]) {
                return false;
            }
        }
        b.position(at + kept.length);
        return true;
    }

    private void closeOpen() {
        failed = null;
        ResultSet rs = open;
        open = null;
        if (rs != null) {
            closeQuietly(rs);
        }
    }

    /** Closes without a word: what failed, if anything, was before, and is what is reported. */
    private static void closeQuietly(ResultSet rs) {
        try {
            rs.close();
        } catch (Exception e) {
            // Nothing to add to what went wrong before.
        }
    }

    private int rows(ResultSet rs, byte[] readers, int maxRows) throws SQLException {
        moved = false;
        buffer.clear();
        int rows = 0;
        try {
            while (rows < maxRows) {
                if (buffer.position() >= SIZE) {
                    open = rs;
                    openReaders = readers;
                    return rows | MORE | (moved ? MOVED : 0);
                }
                if (!rs.next()) {
                    break;
                }
                for (int i = 0; i < readers.length; i++) {
                    read(rs, i + 1, readers[i]);
                }
                rows++;
            }
        } catch (SQLException | RuntimeException | Error e) {
            open = null;
            // The first exception is the one to report.
            closeQuietly(rs);
            if (rows == 0) {
                throw e;
            }
            // The rows written so far go first; the next call throws.
            failed = e;
            return rows | MORE | (moved ? MOVED : 0);
        }
        rs.close();
        return rows | (moved ? MOVED : 0);
    }

    // ---------------------------------------------------------------------------------------
    // Parameters

    /** The parameters in the buffer (their number, then each one's tag and value), bound. */
    private static void bindAll(PreparedStatement ps, ByteBuffer b) throws SQLException {
        int params = b.getInt();
        for (int i = 1; i <= params; i++) {
            bind(ps, i, b);
        }
    }

    private static void bind(PreparedStatement ps, int i, ByteBuffer b) throws SQLException {
        byte tag = b.get();
        switch (tag) {
            case NULL:
                bindNull(ps, i);
                break;
            case BOOL:
                ps.setBoolean(i, b.get() != 0);
                break;
            case INT:
                ps.setLong(i, b.getLong());
                break;
            case FLOAT:
                ps.setDouble(i, b.getDouble());
                break;
            case DECIMAL:
                ps.setBigDecimal(i, new BigDecimal(text(b)));
                break;
            case TEXT:
                ps.setString(i, text(b));
                break;
            case BYTES: {
                byte[] bytes = new byte[b.getInt()];
                b.get(bytes);
                ps.setBytes(i, bytes);
                break;
            }
            case DATE:
                ps.setDate(i, java.sql.Date.valueOf(date(b)));
                break;
            case TIME:
                ps.setTime(i, java.sql.Time.valueOf(time(b)));
                break;
            case TIMESTAMP:
                ps.setTimestamp(i, Timestamp.valueOf(LocalDateTime.of(date(b), time(b))));
                break;
            case TIMESTAMP_TZ: {
                LocalDateTime local = LocalDateTime.of(date(b), time(b));
                ps.setObject(i, OffsetDateTime.of(local, ZoneOffset.ofTotalSeconds(b.getInt())));
                break;
            }
            default:
                throw new IllegalArgumentException("millpond bridge: unknown parameter tag " + tag);
        }
    }

    /** {@code setNull} with {@code Types.NULL}, else with the parameter's type (Derby, HSQLDB). */
    private static void bindNull(PreparedStatement ps, int i) throws SQLException {
        try {
            ps.setNull(i, Types.NULL);
        } catch (Exception e) {
            int type;
            try {
                type = ps.getParameterMetaData().getParameterType(i);
            } catch (Exception e2) {
                type = Types.VARCHAR;
            }
            ps.setNull(i, type);
        }
    }

    private static String text(ByteBuffer b) {
        byte[] bytes = new byte[b.getInt()];
        b.get(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    private static LocalDate date(ByteBuffer b) {
        return LocalDate.of(b.getInt(), b.getInt(), b.getInt());
    }

    private static LocalTime time(ByteBuffer b) {
        return LocalTime.of(b.getInt(), b.getInt(), b.getInt(), b.getInt());
    }

    // ---------------------------------------------------------------------------------------
    // Columns: a byte 0 for NULL, else 1 and the value (nothing for the NULL reader)

    private void read(ResultSet rs, int i, byte reader) throws SQLException {
        switch (reader) {
            case NULL:
                return;
            case BOOL: {
                boolean v = rs.getBoolean(i);
                ensure(2);
                if (rs.wasNull()) {
                    buffer.put((byte) 0);
                } else {
                    buffer.put((byte) 1).put((byte) (v ? 1 : 0));
                }
                return;
            }
            case INT: {
                long v = rs.getLong(i);
                ensure(9);
                if (rs.wasNull()) {
                    buffer.put((byte) 0);
                } else {
                    buffer.put((byte) 1).putLong(v);
                }
                return;
            }
            case FLOAT: {
                double v = rs.getDouble(i);
                ensure(9);
                if (rs.wasNull()) {
                    buffer.put((byte) 0);
                } else {
                    buffer.put((byte) 1).putDouble(v);
                }
                return;
            }
            case DECIMAL: {
                BigDecimal v = rs.getBigDecimal(i);
                putText(v == null ? null : v.toPlainString());
                return;
            }
            case TEXT:
                putText(rs.getString(i));
                return;
            case BYTES: {
                byte[] v = rs.getBytes(i);
                if (v == null) {
                    ensure(1);
                    buffer.put((byte) 0);
                } else {
                    ensure(5 + v.length);
                    buffer.put((byte) 1).putInt(v.length).put(v);
                }
                return;
            }
            case DATE: {
                java.sql.Date v = rs.getDate(i);
                ensure(13);
                if (v == null) {
                    buffer.put((byte) 0);
                } else {
                    buffer.put((byte) 1);
                    putDate(v.toLocalDate());
                }
                return;
            }
            case TIME: {
                java.sql.Time v = rs.getTime(i);
                ensure(17);
                if (v == null) {
                    buffer.put((byte) 0);
                } else {
                    buffer.put((byte) 1);
                    putTime(v.toLocalTime());
                }
                return;
            }
            case TIMESTAMP: {
                Timestamp v = rs.getTimestamp(i);
                ensure(29);
                if (v == null) {
                    buffer.put((byte) 0);
                } else {
                    LocalDateTime local = v.toLocalDateTime();
                    buffer.put((byte) 1);
                    putDate(local.toLocalDate());
                    putTime(local.toLocalTime());
                }
                return;
            }
            case TIMESTAMP_TZ: {
                OffsetDateTime v = rs.getObject(i, OffsetDateTime.class);
                ensure(33);
                if (v == null) {
                    buffer.put((byte) 0);
                } else {
                    LocalDateTime local = v.toLocalDateTime();
                    buffer.put((byte) 1);
                    putDate(local.toLocalDate());
                    putTime(local.toLocalTime());
                    buffer.putInt(v.getOffset().getTotalSeconds());
                }
                return;
            }
            default:
                throw new IllegalArgumentException("millpond bridge: unknown column reader " + reader);
        }
    }

    private void putDate(LocalDate d) {
        buffer.putInt(d.getYear()).putInt(d.getMonthValue()).putInt(d.getDayOfMonth());
    }

    private void putTime(LocalTime t) {
        buffer.putInt(t.getHour()).putInt(t.getMinute()).putInt(t.getSecond()).putInt(t.getNano());
    }

    /**
     * Text as its length in bytes and its UTF-8 (an unpaired surrogate becomes U+FFFD, as Rust
     * reads one), after a byte 0 for null or 1.
     */
    private void putText(String s) {
        if (s == null) {
            ensure(1);
            buffer.put((byte) 0);
            return;
        }
        int n = s.length();
        ensure(5 + n);
        ByteBuffer b = buffer;
        b.put((byte) 1);
        int at = b.position();
        b.position(at + 4);
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c < 0x80) {
                if (!b.hasRemaining()) {
                    b = ensure(n - i + 3);
                }
                b.put((byte) c);
                continue;
            }
            if (b.remaining() < 4) {
                b = ensure(3 * (n - i) + 4);
            }
            if (c < 0x800) {
                b.put((byte) (0xC0 | c >> 6)).put((byte) (0x80 | c & 0x3F));
            } else if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
                int cp = Character.toCodePoint(c, s.charAt(++i));
                b.put((byte) (0xF0 | cp >> 18)).put((byte) (0x80 | cp >> 12 & 0x3F))
                        .put((byte) (0x80 | cp >> 6 & 0x3F)).put((byte) (0x80 | cp & 0x3F));
            } else {
                int cp = Character.isSurrogate(c) ? 0xFFFD : c;
                b.put((byte) (0xE0 | cp >> 12)).put((byte) (0x80 | cp >> 6 & 0x3F))
                        .put((byte) (0x80 | cp & 0x3F));
            }
        }
        b.putInt(at, b.position() - at - 4);
    }

    /** Makes room for {@code more} bytes after the position, in a larger buffer if need be. */
    private ByteBuffer ensure(int more) {
        ByteBuffer b = buffer;
        if (b.remaining() >= more) {
            return b;
        }
        long wanted = Math.max(2L * b.capacity(), (long) b.position() + more);
        if (wanted > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("millpond bridge: a row of more than 2 GiB");
        }
        ByteBuffer larger = ByteBuffer.allocateDirect((int) wanted).order(ByteOrder.nativeOrder());
        b.flip();
        larger.put(b);
        buffer = larger;
        moved = true;
        return larger;
    }
}
