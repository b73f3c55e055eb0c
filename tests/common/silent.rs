//! A server that accepts TCP connections and never answers: what a connect meets when the
//! server is frozen or a firewall swallows its replies. No real server is touched.

use std::io::Read;
use std::sync::mpsc;
use std::time::Instant;

/// A listener that accepts every connection and never sends a byte (each accepted socket is
/// kept open by a thread reading it). `closed` receives, for each socket the client closes,
/// when it saw the end.
pub struct SilentServer {
    pub port: u16,
    pub closed: mpsc::Receiver<Instant>,
}

impl SilentServer {
    /// Listens on a free loopback port; the listener lives as long as the test process.
    pub fn start() -> SilentServer {
        use std::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().unwrap().port();
        let (tx, closed) = mpsc::channel();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    // Reads what the client sends, never answers; ends when the client closes.
                    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
                    let _ = tx.send(Instant::now());
                });
            }
        });
        SilentServer { port, closed }
    }
}
