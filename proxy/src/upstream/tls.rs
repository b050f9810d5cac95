//! TLS toward a sandbox (`sandboxes[].tls`): the files are read once, when the upstreams are
//! set up, into what each pingora [`HttpPeer`] carries — the CA certificates the sandbox's
//! certificate must chain to (only those), the name it must be valid for (sent as SNI), and
//! the client certificate and key for mutual TLS. Every file is checked here (parsed, the key
//! matched to the certificate) so that nothing fails later on a connection.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pingora::tls::{CertificateDer, ClientConfig, PrivateKeyDer, RootCertStore};
use pingora::upstreams::peer::HttpPeer;
use pingora::utils::tls::{CertKey, WrappedX509, parse_x509};
use rustls_pki_types::pem::PemObject;

use crate::config::{SandboxTls, SandboxUrl};

/// What a TLS peer of one sandbox is built with.
#[derive(Clone)]
pub(super) struct PeerTls {
    ca: Arc<[WrappedX509]>,
    client: Option<Arc<CertKey>>,
    server_name: String,
}

/// A TLS file of a sandbox that cannot be used; names the field and file.
#[derive(Debug, thiserror::Error)]
pub enum TlsFileError {
    #[error("tls.{field} {path}: {detail}")]
    File {
        field: &'static str,
        path: PathBuf,
        detail: String,
    },
    #[error(
        "tls.client_cert_file {cert} and client_key_file {key} do not make a client identity: {detail}"
    )]
    Identity {
        cert: PathBuf,
        key: PathBuf,
        detail: String,
    },
}

impl PeerTls {
    /// Reads and checks the files of `tls` for a sandbox at `url`.
    pub(super) fn load(tls: &SandboxTls, url: &SandboxUrl) -> Result<Self, TlsFileError> {
        let file_error = |field: &'static str, path: &Path, detail: String| TlsFileError::File {
            field,
            path: path.to_owned(),
            detail,
        };
        let ca = read_certs(&tls.ca_file).map_err(|d| file_error("ca_file", &tls.ca_file, d))?;
        let mut roots = RootCertStore::empty();
        for cert in &ca {
            roots.add(cert.clone()).map_err(|e| {
                file_error(
                    "ca_file",
                    &tls.ca_file,
                    format!("not a CA certificate: {e}"),
                )
            })?;
        }
        let client = match (&tls.client_cert_file, &tls.client_key_file) {
            (Some(cert_path), Some(key_path)) => {
                let certs = read_certs(cert_path)
                    .map_err(|d| file_error("client_cert_file", cert_path, d))?;
                let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| {
                    file_error(
                        "client_key_file",
                        key_path,
                        format!("cannot read a PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
                    )
                })?;
                // What pingora does with them on each new connection, done once here so that
                // a key that does not fit its certificate is a start-up error, not a panic.
                pingora::tls::install_default_crypto_provider();
                ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_client_auth_cert(certs.clone(), key.clone_key())
                    .map_err(|e| TlsFileError::Identity {
                        cert: cert_path.clone(),
                        key: key_path.clone(),
                        detail: e.to_string(),
                    })?;
                let der = key.secret_der().to_vec();
                PrivateKeyDer::try_from(der.clone()).map_err(|e| {
                    file_error("client_key_file", key_path, format!("unusable key: {e}"))
                })?;
                let chain = certs.iter().map(|c| c.to_vec()).collect();
                Some(Arc::new(CertKey::new(chain, der)))
            }
            _ => None,
        };
        Ok(Self {
            ca: ca
                .iter()
                .map(|c| WrappedX509::new(c.to_vec(), parse_x509))
                .collect(),
            client,
            server_name: tls.server_name_for(url),
        })
    }

    /// A TLS peer at `addr` checked against this sandbox's CA and name.
    pub(super) fn peer(&self, addr: std::net::SocketAddr) -> HttpPeer {
        let mut peer = HttpPeer::new(addr, true, self.server_name.clone());
        peer.options.ca = Some(self.ca.clone());
        peer.options.verify_cert = true;
        peer.options.verify_hostname = true;
        peer.client_cert_key = self.client.clone();
        peer
    }
}

/// When `e` is the TLS alert a sandbox sends to refuse the gateway's client certificate (or
/// any other part of the handshake), what to tell the operator.
pub(super) fn refused_handshake(e: &pingora::Error) -> Option<String> {
    let io = e.root_cause().downcast_ref::<std::io::Error>()?;
    let tls = io.get_ref()?.downcast_ref::<pingora::tls::RusTlsError>()?;
    matches!(tls, pingora::tls::RusTlsError::AlertReceived(_)).then(|| {
        format!(
            "the sandbox refused the TLS handshake ({tls}): check tls.client_cert_file against \
             its --tls-client-ca, and tls.ca_file and server_name against its certificate"
        )
    })
}

/// Every certificate of a PEM file; an error when there is none.
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read PEM certificates: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot read PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err("the file holds no CERTIFICATE block".into());
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    /// A self-signed P-256 certificate `NAME.crt` with its key `NAME.key`.
    fn make_cert(dir: &Path, name: &str) {
        let status = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", &format!("/CN={name}")])
            .args([
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.crt"),
            ])
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl");
        assert!(status.success());
    }

    fn load(dir: &Path, ca: &str, pair: Option<(&str, &str)>) -> Result<PeerTls, String> {
        let tls = SandboxTls {
            ca_file: dir.join(ca),
            client_cert_file: pair.map(|(c, _)| dir.join(c)),
            client_key_file: pair.map(|(_, k)| dir.join(k)),
            server_name: None,
        };
        let url = SandboxUrl::Tcp("127.0.0.1:7070".parse().expect("addr"));
        PeerTls::load(&tls, &url).map_err(|e| e.to_string())
    }

    #[test]
    fn unusable_files_are_refused_naming_field_and_file() {
        let tmp = mcp_testkit::TempDir::new().expect("tempdir");
        let dir = tmp.path();
        make_cert(dir, "a");
        make_cert(dir, "b");
        std::fs::write(dir.join("empty.pem"), "not a certificate\n").expect("write");
        let ok = load(dir, "a.crt", Some(("b.crt", "b.key"))).expect("a usable set");
        assert_eq!(ok.server_name, "127.0.0.1");
        assert!(ok.client.is_some());

        let err = load(dir, "missing.crt", None).err().expect("missing file");
        assert!(
            err.starts_with("tls.ca_file ") && err.contains("missing.crt"),
            "{err}"
        );
        let err = load(dir, "empty.pem", None).err().expect("no certificate");
        assert!(
            err.contains("empty.pem: the file holds no CERTIFICATE block"),
            "{err}"
        );
        let err = load(dir, "a.crt", Some(("b.crt", "b.crt")))
            .err()
            .expect("no key");
        assert!(err.starts_with("tls.client_key_file "), "{err}");
        let err = load(dir, "a.crt", Some(("b.crt", "a.key")))
            .err()
            .expect("wrong key");
        assert!(err.contains("do not make a client identity"), "{err}");
    }
}
