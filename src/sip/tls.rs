//! TLS for SIP (RFC 3261 §26.2, `sips:` and `transport=tls`) with rustls (ring provider).
//! Server side: certificate chain and key from `sip.tls_cert`/`sip.tls_key` (PEM).
//! Client side: peers are verified against `sip.tls_ca` (PEM bundle) or, without it, the
//! system store at /etc/ssl/certs/ca-certificates.crt. Verification is never switched off.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

const SYSTEM_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn bad(what: &str, path: &Path, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{what} {}: {e}", path.display()),
    )
}

/// The acceptor for `tls:` listeners.
pub fn acceptor(cert: &Path, key: &Path) -> io::Result<TlsAcceptor> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("cannot read certificate", cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad("bad certificate", cert, e))?;
    if certs.is_empty() {
        return Err(bad("no certificate in", cert, "empty"));
    }
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| bad("cannot read private key", key, e))?;
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| io::Error::other(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("certificate and key do not fit: {e}"),
            )
        })?;
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

/// The connector for outgoing TLS connections.
pub fn connector(ca: Option<&Path>) -> io::Result<TlsConnector> {
    let mut roots = RootCertStore::empty();
    let path = ca.unwrap_or(Path::new(SYSTEM_CA));
    match CertificateDer::pem_file_iter(path) {
        Ok(iter) => {
            for c in iter.flatten() {
                let _ = roots.add(c);
            }
        }
        Err(e) if ca.is_some() => return Err(bad("cannot read CA bundle", path, e)),
        Err(_) => tracing::warn!(
            "no system CA bundle at {SYSTEM_CA}; outgoing SIP over TLS will fail verification"
        ),
    }
    let cfg = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| io::Error::other(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(cfg)))
}
