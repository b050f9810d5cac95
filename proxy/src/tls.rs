//! HTTPS certificates, reloaded when their files change: the listener asks [`CertReloader`] for
//! the certificate on every handshake, and a background check swaps in new files (a renewed
//! cert-manager Secret, say) without a restart. A broken new pair is refused and the old one
//! stays in use.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use mcp_filewatch::{Settle, Tracker, Watch, WatchHandle};
use pingora::tls::sign::CertifiedKey;
use pingora::tls::{ClientHello, CryptoProvider, ResolvesServerCert};

/// The certificate and key in use, and the files they come from.
pub struct CertReloader {
    cert: PathBuf,
    key: PathBuf,
    current: ArcSwap<CertifiedKey>,
    /// The files' state just before the first load, handed to [`Self::watch`].
    loaded: Tracker,
}

impl std::fmt::Debug for CertReloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertReloader")
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

impl CertReloader {
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, TlsFilesError> {
        pingora::tls::install_default_crypto_provider();
        let loaded = Tracker::new(vec![cert.to_owned(), key.to_owned()], Settle::Immediately);
        let pair = load_pair(cert, key)?;
        Ok(Arc::new(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current: ArcSwap::from_pointee(pair),
            loaded,
        }))
    }

    /// Reloads whenever either file changed since they were loaded, checking every `every`,
    /// until the returned handle is dropped.
    pub fn watch(self: &Arc<Self>, every: Duration) -> WatchHandle {
        let reloader = Arc::downgrade(self);
        Watch::on_change(self.loaded.clone())
            .poll(Some(every))
            .spawn(move |_| {
                if let Some(reloader) = reloader.upgrade() {
                    reloader.reload();
                }
                std::future::ready(())
            })
    }

    /// Loads the files now; keeps the current pair if the new one is unusable.
    pub fn reload(&self) {
        match load_pair(&self.cert, &self.key) {
            Ok(pair) => {
                self.current.store(Arc::new(pair));
                tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
            }
            Err(e) => {
                tracing::error!(error = %e, "new TLS certificate refused; the previous one stays in use")
            }
        }
    }
}

impl ResolvesServerCert for CertReloader {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Why a certificate and key pair cannot be used; names the files.
#[derive(Debug, thiserror::Error)]
pub enum TlsFilesError {
    #[error("cannot read TLS files {cert} / {key}: {source}")]
    Read {
        cert: PathBuf,
        key: PathBuf,
        source: pingora::BError,
    },
    #[error("{cert} must hold a PEM certificate chain and {key} a PEM private key")]
    NotPem { cert: PathBuf, key: PathBuf },
    #[error("no TLS crypto provider installed")]
    NoProvider,
    #[error("TLS private key {key} is not usable: {source}")]
    Key {
        key: PathBuf,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("TLS certificate {cert} does not match key {key}: {source}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn load_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsFilesError> {
    let (cert_s, key_s) = (cert.display().to_string(), key.display().to_string());
    let (certs, private) = pingora::tls::load_certs_and_key_files(&cert_s, &key_s)
        .map_err(|source| TlsFilesError::Read {
            cert: cert.to_owned(),
            key: key.to_owned(),
            source,
        })?
        .ok_or_else(|| TlsFilesError::NotPem {
            cert: cert.to_owned(),
            key: key.to_owned(),
        })?;
    let provider = CryptoProvider::get_default().ok_or(TlsFilesError::NoProvider)?;
    let signer = provider
        .key_provider
        .load_private_key(private)
        .map_err(|e| TlsFilesError::Key {
            key: key.to_owned(),
            source: e.into(),
        })?;
    let pair = CertifiedKey::new(certs, signer);
    pair.keys_match().map_err(|e| TlsFilesError::Mismatch {
        cert: cert.to_owned(),
        key: key.to_owned(),
        source: e.into(),
    })?;
    Ok(pair)
}
