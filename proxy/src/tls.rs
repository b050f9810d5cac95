//! HTTPS certificates, reloaded when their files change: the listener asks [`CertReloader`] for
//! the certificate on every handshake, and a background check swaps in new files (a renewed
//! cert-manager Secret, say) without a restart. A broken new pair is refused and the old one
//! stays in use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use pingora::tls::sign::CertifiedKey;
use pingora::tls::{ClientHello, CryptoProvider, ResolvesServerCert};

use crate::policy::Fingerprint;

pub struct CertReloader {
    cert: PathBuf,
    key: PathBuf,
    current: ArcSwap<CertifiedKey>,
    seen: Mutex<(Option<Fingerprint>, Option<Fingerprint>)>,
}

impl std::fmt::Debug for CertReloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertReloader")
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

impl CertReloader {
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, String> {
        pingora::tls::install_default_crypto_provider();
        let seen = (Fingerprint::of(cert), Fingerprint::of(key));
        let pair = load_pair(cert, key)?;
        Ok(Arc::new(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current: ArcSwap::from_pointee(pair),
            seen: Mutex::new(seen),
        }))
    }

    /// Reloads when either file changed; keeps the current pair if the new one is unusable.
    pub fn reload_if_changed(&self) {
        let now = (Fingerprint::of(&self.cert), Fingerprint::of(&self.key));
        {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if *seen == now {
                return;
            }
            *seen = now;
        }
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

fn load_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let (cert_s, key_s) = (cert.display().to_string(), key.display().to_string());
    let (certs, private) = pingora::tls::load_certs_and_key_files(&cert_s, &key_s)
        .map_err(|e| format!("cannot read TLS files {cert_s} / {key_s}: {e}"))?
        .ok_or_else(|| {
            format!("{cert_s} must hold a PEM certificate chain and {key_s} a PEM private key")
        })?;
    let provider = CryptoProvider::get_default().ok_or("no TLS crypto provider installed")?;
    let signer = provider
        .key_provider
        .load_private_key(private)
        .map_err(|e| format!("TLS private key {key_s} is not usable: {e}"))?;
    let pair = CertifiedKey::new(certs, signer);
    pair.keys_match()
        .map_err(|e| format!("TLS certificate {cert_s} does not match key {key_s}: {e}"))?;
    Ok(pair)
}
