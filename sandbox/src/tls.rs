//! HTTPS for the sandbox's API, optional and off by default: the server certificate and key,
//! and, for mutual TLS, the CA that must have signed the client's (the gateway's) certificate.
//! A client without such a certificate is refused during the handshake, before a byte of HTTP
//! is read. TLS is in addition to the token and the call grant, never instead of them.
//!
//! Handshakes run on their own tasks, each bounded by [`HANDSHAKE_TIMEOUT`], so a client that
//! stalls in one does not hold up the others; finished connections are handed to the HTTP
//! server through [`TlsListener`]. Changed certificate files are picked up for new
//! connections (polled, as the tool sets are); a set of files that does not load is logged and
//! the last good one keeps serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use mcp_filewatch::{Settle, Tracker, Watch};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};

/// Longest a client may take to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshaken connections waiting for the HTTP server to take them.
const READY_QUEUE: usize = 64;

/// The files TLS is served from.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key of the leaf (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM CA certificates a client certificate must chain to; `None`: no client certificate
    /// is asked for (TLS only).
    pub client_ca: Option<PathBuf>,
}

impl TlsFiles {
    fn paths(&self) -> Vec<PathBuf> {
        let mut p = vec![self.cert.clone(), self.key.clone()];
        p.extend(self.client_ca.clone());
        p
    }
}

/// Why the TLS files cannot be used; names the file and what to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("--tls-cert {path}: cannot read a PEM certificate: {detail}")]
    Cert { path: PathBuf, detail: String },
    #[error("--tls-key {path}: cannot read a PEM private key (PKCS#8, PKCS#1 or SEC1): {detail}")]
    Key { path: PathBuf, detail: String },
    #[error("--tls-client-ca {path}: cannot read PEM CA certificates: {detail}")]
    ClientCa { path: PathBuf, detail: String },
    #[error("--tls-cert and --tls-key do not make a usable server identity: {0}")]
    Identity(String),
}

/// Reads the files into a rustls server configuration (HTTP/1.1).
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = read_certs(&files.cert).map_err(|detail| TlsError::Cert {
        path: files.cert.clone(),
        detail,
    })?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| TlsError::Key {
        path: files.key.clone(),
        detail: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Identity(e.to_string()))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let ca_error = |detail: String| TlsError::ClientCa {
                path: path.clone(),
                detail,
            };
            let mut roots = RootCertStore::empty();
            for cert in read_certs(path).map_err(ca_error)? {
                roots.add(cert).map_err(|e| ca_error(e.to_string()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| ca_error(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Identity(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Every certificate of a PEM file; an error when there is none.
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("the file holds no CERTIFICATE block".into());
    }
    Ok(certs)
}

/// The current configuration, replaced when the files change.
pub struct Reloading {
    current: ArcSwap<ServerConfig>,
}

impl Reloading {
    /// Loads the files now (an error stops the start) and reloads them when they change,
    /// checked every `interval` (`None`: never).
    pub fn start(files: TlsFiles, interval: Option<Duration>) -> Result<Arc<Self>, TlsError> {
        // Tracked before loading, so a change made during the load is seen.
        let tracker = Tracker::new(files.paths(), Settle::HeldStill);
        let this = Arc::new(Self {
            current: ArcSwap::new(server_config(&files)?),
        });
        if interval.is_some() {
            let weak = Arc::downgrade(&this);
            Watch::on_change(tracker)
                .poll(interval)
                .spawn(move |_| {
                    let (weak, files) = (weak.clone(), files.clone());
                    async move {
                        let Some(this) = weak.upgrade() else { return };
                        match server_config(&files) {
                            Ok(config) => {
                                this.current.store(config);
                                tracing::info!("reloaded the TLS certificate and key");
                            }
                            Err(e) => tracing::error!(
                                error = %e,
                                "TLS files changed but do not load; the previous ones stay in use"
                            ),
                        }
                    }
                })
                .detach();
        }
        Ok(this)
    }

    fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.load_full())
    }
}

/// A TCP listener whose connections come out TLS-handshaken (for `axum::serve`).
pub struct TlsListener {
    ready: mpsc::Receiver<(
        tokio_rustls::server::TlsStream<TcpStream>,
        std::net::SocketAddr,
    )>,
    local: std::net::SocketAddr,
    accept_task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Accepts on `listener` and handshakes each connection on a task of its own.
    pub fn new(listener: TcpListener, tls: Arc<Reloading>) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        let accept_task = tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, tx) = (tls.acceptor(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send((stream, peer)).await;
                        }
                        Ok(Err(e)) => {
                            metrics::counter!("mcp_sandbox_tls_handshake_failures_total")
                                .increment(1);
                            tracing::warn!(%peer, error = %e, "TLS handshake refused");
                        }
                        Err(_) => {
                            metrics::counter!("mcp_sandbox_tls_handshake_failures_total")
                                .increment(1);
                            tracing::warn!(%peer, "TLS handshake timed out");
                        }
                    }
                });
            }
        });
        Ok(Self {
            ready,
            local,
            accept_task,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accept task holds the sender for as long as this listener lives.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path, cert: &str, key: &str, ca: Option<&str>) -> TlsFiles {
        TlsFiles {
            cert: dir.join(cert),
            key: dir.join(key),
            client_ca: ca.map(|c| dir.join(c)),
        }
    }

    #[test]
    fn unusable_files_are_refused_naming_the_flag_and_file() {
        let tmp = tempfile::TempDir::new().expect("tempdir");
        let dir = tmp.path();
        let status = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=s", "-addext", "subjectAltName=IP:127.0.0.1"])
            .args(["-keyout", "s.key", "-out", "s.crt"])
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl");
        assert!(status.success());
        std::fs::write(dir.join("junk.pem"), "junk\n").expect("write");

        server_config(&files(dir, "s.crt", "s.key", None)).expect("TLS only");
        server_config(&files(dir, "s.crt", "s.key", Some("s.crt"))).expect("mTLS");
        let err = |f: TlsFiles| server_config(&f).expect_err("an error").to_string();
        let e = err(files(dir, "missing.crt", "s.key", None));
        assert!(
            e.starts_with("--tls-cert ") && e.contains("missing.crt"),
            "{e}"
        );
        let e = err(files(dir, "junk.pem", "s.key", None));
        assert!(e.contains("no CERTIFICATE block"), "{e}");
        let e = err(files(dir, "s.crt", "s.crt", None));
        assert!(e.starts_with("--tls-key "), "{e}");
        let e = err(files(dir, "s.crt", "s.key", Some("junk.pem")));
        assert!(
            e.starts_with("--tls-client-ca ") && e.contains("junk.pem"),
            "{e}"
        );
    }
}
