//! A TCP proxy for fault tests: it forwards to a real server until told to go silent, so a test
//! can freeze the network of its own connections without touching the shared server.
//!
//! ```ignore
//! let proxy = Proxy::start("127.0.0.1:5432");
//! let url = format!("postgres://postgres@127.0.0.1:{}/test", proxy.port());
//! // … open connections through `url` …
//! proxy.freeze();                  // no byte goes through any more, no socket is closed
//! proxy.thaw();                    // what was held goes on
//! proxy.close_all();               // every proxied connection is cut, as by a dead network
//! ```
//!
//! - [`Proxy::start`]: listens on `127.0.0.1:0`; every accepted connection gets its own
//!   connection to the target and two forwarding threads.
//! - [`Proxy::freeze`] / [`Proxy::thaw`]: while frozen, bytes already read are held and nothing is
//!   written in either direction; connections are still accepted (the kernel would accept them
//!   anyway) but get no answer. Like a partitioned network or a stopped server, no FIN, no RST.
//! - [`Proxy::connections`] lists the proxied connections still open (their ids);
//!   [`Proxy::close`] and [`Proxy::close_all`] cut them; [`Proxy::wait_connections`] waits until
//!   a condition on their number holds.
//! - Dropping the proxy stops it: the listener closes, held bytes are dropped, every connection
//!   is cut.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// A forwarding TCP proxy that can go silent; see the module documentation.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<thread::JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled on every change of `state`.
    changed: Condvar,
    stopped: AtomicBool,
    next_id: AtomicU64,
}

struct State {
    frozen: bool,
    conns: Vec<Link>,
}

/// One proxied connection: the client's socket and ours to the target.
struct Link {
    id: u64,
    client: TcpStream,
    server: TcpStream,
    closed: bool,
}

impl Proxy {
    /// Starts a proxy on `127.0.0.1:0` forwarding to `target`. Panics if it cannot listen.
    pub fn start(target: impl ToSocketAddrs) -> Proxy {
        let target: Vec<SocketAddr> = target
            .to_socket_addrs()
            .expect("a proxy target address")
            .collect();
        let listener = TcpListener::bind("127.0.0.1:0").expect("a proxy listens on 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                frozen: false,
                conns: Vec::new(),
            }),
            changed: Condvar::new(),
            stopped: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
        });
        let accepting = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name("test-proxy-accept".into())
            .spawn(move || accept_loop(&listener, &target, &accepting))
            .unwrap();
        Proxy {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port clients connect to (the host is 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Stops forwarding in both directions, closing nothing.
    pub fn freeze(&self) {
        self.shared.lock().frozen = true;
        self.shared.changed.notify_all();
    }

    /// Forwards again, starting with what was held.
    pub fn thaw(&self) {
        self.shared.lock().frozen = false;
        self.shared.changed.notify_all();
    }

    /// The ids of the proxied connections still open, oldest first.
    pub fn connections(&self) -> Vec<u64> {
        self.shared
            .lock()
            .conns
            .iter()
            .filter(|l| !l.closed)
            .map(|l| l.id)
            .collect()
    }

    /// Cuts one proxied connection (both its sockets), frozen or not. False if it was not open.
    pub fn close(&self, id: u64) -> bool {
        let mut state = self.shared.lock();
        let found = state
            .conns
            .iter_mut()
            .find(|l| l.id == id && !l.closed)
            .map(Link::cut)
            .is_some();
        drop(state);
        self.shared.changed.notify_all();
        found
    }

    /// Cuts every proxied connection.
    pub fn close_all(&self) {
        let mut state = self.shared.lock();
        state.conns.iter_mut().filter(|l| !l.closed).for_each(Link::cut);
        drop(state);
        self.shared.changed.notify_all();
    }

    /// Waits until the number of open proxied connections satisfies `until`, at most `timeout`;
    /// returns whether it did.
    pub fn wait_connections(&self, timeout: Duration, until: impl Fn(usize) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if until(state.conns.iter().filter(|l| !l.closed).count()) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self.shared.changed.wait_timeout(state, left).unwrap().0;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, SeqCst);
        self.thaw();
        self.close_all();
        // Wakes the accept loop, which then sees `stopped`.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits while frozen; false once the connection `id` is cut.
    fn wait_open(&self, id: u64) -> bool {
        let mut state = self.lock();
        loop {
            let closed = state.conns.iter().find(|l| l.id == id).is_none_or(|l| l.closed);
            if closed || self.stopped.load(SeqCst) {
                return false;
            }
            if !state.frozen {
                return true;
            }
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn cut(&self, id: u64) {
        let mut state = self.lock();
        if let Some(link) = state.conns.iter_mut().find(|l| l.id == id && !l.closed) {
            link.cut();
        }
        drop(state);
        self.changed.notify_all();
    }
}

impl Link {
    fn cut(&mut self) {
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.server.shutdown(Shutdown::Both);
        self.closed = true;
    }
}

fn accept_loop(listener: &TcpListener, target: &[SocketAddr], shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopped.load(SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let Ok(server) = TcpStream::connect(target) else {
            // As a proxy whose upstream refuses: the client sees its connection closed.
            drop(client);
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let id = shared.next_id.fetch_add(1, SeqCst);
        let (Ok(c2), Ok(s2), Ok(c3), Ok(s3)) = (
            client.try_clone(),
            server.try_clone(),
            client.try_clone(),
            server.try_clone(),
        ) else {
            continue;
        };
        shared.lock().conns.push(Link {
            id,
            client,
            server,
            closed: false,
        });
        shared.changed.notify_all();
        for (from, to, name) in [(c2, s2, "up"), (s3, c3, "down")] {
            let shared = Arc::clone(shared);
            let _ = thread::Builder::new()
                .name(format!("test-proxy-{name}-{id}"))
                .spawn(move || {
                    let _ = pump(from, to, id, &shared);
                    shared.cut(id);
                });
        }
    }
}

/// Copies `from` to `to`, holding each chunk while the proxy is frozen.
fn pump(mut from: TcpStream, mut to: TcpStream, id: u64, shared: &Shared) -> io::Result<()> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let read = from.read(&mut buf);
        // The end of the stream (or its reset) is held too: a frozen network delivers neither.
        if !shared.wait_open(id) {
            return Ok(());
        }
        match read? {
            0 => return Ok(()),
            n => to.write_all(&buf[..n])?,
        }
    }
}
