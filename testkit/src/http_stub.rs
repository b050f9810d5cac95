//! A tiny HTTP/1.1 server on loopback for stand-in peers (a forged identity provider's JWKS,
//! a misbehaving upstream, a stub sandbox for in-process request-path tests): one response per
//! connection, answered by a closure from the path (and, with [`StubServer::start_with_body`],
//! the request body). It can be stopped (the port then refuses connections, like a crashed peer) and
//! resumed on the same port.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Answers a request path with a status and a JSON body.
pub type Handler = Arc<dyn Fn(&str) -> (u16, String) + Send + Sync>;

/// Answers a request path and body with a status and a JSON body.
pub type BodyHandler = Arc<dyn Fn(&str, &[u8]) -> (u16, String) + Send + Sync>;

pub struct StubServer {
    addr: SocketAddr,
    handler: BodyHandler,
    running: Mutex<Option<Running>>,
}

struct Running {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl StubServer {
    /// Serves on an ephemeral loopback port.
    pub fn start(handler: Handler) -> Self {
        Self::start_with_body(Arc::new(move |path: &str, _: &[u8]| handler(path)))
    }

    /// Serves on an ephemeral loopback port, handing the handler each request's body too.
    pub fn start_with_body(handler: BodyHandler) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let server = Self {
            addr,
            handler,
            running: Mutex::new(None),
        };
        server.run(listener);
        server
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes the listener: new connections are refused until [`resume`](Self::resume).
    pub fn stop(&self) {
        let running = self.running.lock().expect("stub lock").take();
        if let Some(r) = running {
            r.stop.store(true, Ordering::SeqCst);
            // Wake the blocking accept so the thread sees the flag and drops the listener.
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
            let _ = r.thread.join();
        }
    }

    /// Serves again on the same port.
    pub fn resume(&self) {
        if self.running.lock().expect("stub lock").is_some() {
            return;
        }
        let listener = crate::wait_for(
            "the stub's port to be free again",
            Duration::from_secs(5),
            || TcpListener::bind(self.addr).ok(),
        );
        self.run(listener);
    }

    fn run(&self, listener: TcpListener) {
        let stop = Arc::new(AtomicBool::new(false));
        let handler = Arc::clone(&self.handler);
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    answer(conn, &handler);
                }
            }
        });
        *self.running.lock().expect("stub lock") = Some(Running { stop, thread });
    }
}

impl Drop for StubServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn answer(mut conn: TcpStream, handler: &BodyHandler) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let mut request = Vec::new();
    let mut buf = [0u8; 2048];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let head_end = request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(request.len(), |p| p + 4);
    let text = String::from_utf8_lossy(&request[..head_end]).into_owned();
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let length: usize = text
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = request[head_end..].to_vec();
    while body.len() < length {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
    let (status, body) = handler(&path, &body);
    let response = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        if status < 400 { "OK" } else { "Error" },
        body.len()
    );
    let _ = conn.write_all(response.as_bytes());
    let _ = conn.flush();
}
