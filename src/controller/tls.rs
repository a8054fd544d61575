//! TLS for a listener served by [`super::http::serve`]: the serving certificate is read from a
//! directory holding `tls.crt` and `tls.key` (how a `kubernetes.io/tls` Secret or cert-manager
//! mounts them) and reloaded when they change, so a rotated certificate is served without a
//! restart. This is the transport of the admission webhook (docs/configuration.md "Admission", `--webhook-tls-dir`);
//! rustls with the ring provider, as kube uses for the API server.

use super::http::Accept;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::net::TcpStream;

/// The certificate chain file in the directory.
pub const CERT_FILE: &str = "tls.crt";
/// The private key file in the directory.
pub const KEY_FILE: &str = "tls.key";
/// How long a client gets to complete the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no usable PEM private key: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The serving certificate of a directory, reloaded by [`CertDir::reload_if_changed`].
#[derive(Debug)]
pub struct CertDir {
    dir: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// The bytes of `tls.crt` and `tls.key` last loaded (to notice any change, whatever mtimes do).
    loaded: Mutex<(Vec<u8>, Vec<u8>)>,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_owned(), source })
}

/// Parse a certificate chain and its key (never printing either).
fn certified_key(dir: &Path, cert: &[u8], key: &[u8]) -> Result<CertifiedKey, TlsError> {
    let cert_path = dir.join(CERT_FILE);
    let key_path = dir.join(KEY_FILE);
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::NoCertificate { path: cert_path.clone() })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { path: cert_path });
    }
    let key = PrivateKeyDer::from_pem_slice(key)
        .map_err(|e| TlsError::Key { path: key_path.clone(), reason: format!("{e:?}") })?;
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::Key { path: key_path.clone(), reason: e.to_string() })?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| TlsError::Key { path: key_path, reason: e.to_string() })?;
    Ok(certified)
}

impl CertDir {
    /// Load `dir/tls.crt` and `dir/tls.key`; fails with the file and the reason.
    pub fn load(dir: impl Into<PathBuf>) -> Result<Arc<CertDir>, TlsError> {
        let dir = dir.into();
        let cert = read(&dir.join(CERT_FILE))?;
        let key = read(&dir.join(KEY_FILE))?;
        let certified = certified_key(&dir, &cert, &key)?;
        Ok(Arc::new(CertDir { dir, current: RwLock::new(Arc::new(certified)), loaded: Mutex::new((cert, key)) }))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reload when either file changed. `Ok(true)` when a new certificate is now served; on an
    /// error (a file half-written during a rotation, a key that does not match) the previous
    /// certificate stays in use.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let cert = read(&self.dir.join(CERT_FILE))?;
        let key = read(&self.dir.join(KEY_FILE))?;
        let Ok(mut loaded) = self.loaded.lock() else { return Ok(false) };
        if loaded.0 == cert && loaded.1 == key {
            return Ok(false);
        }
        let certified = certified_key(&self.dir, &cert, &key)?;
        if let Ok(mut current) = self.current.write() {
            *current = Arc::new(certified);
        }
        *loaded = (cert, key);
        Ok(true)
    }

    /// Check for a new certificate every `every`, for as long as the returned future runs.
    pub async fn watch(self: Arc<Self>, every: Duration) {
        let mut failing = false;
        loop {
            tokio::time::sleep(every).await;
            match self.reload_if_changed() {
                Ok(true) => {
                    tracing::info!(dir = %self.dir.display(), "serving certificate reloaded");
                    failing = false;
                }
                Ok(false) => failing = false,
                Err(e) if !failing => {
                    tracing::warn!(error = %e, "cannot reload the serving certificate; keeping the current one");
                    failing = true;
                }
                Err(_) => {}
            }
        }
    }
}

impl ResolvesServerCert for CertDir {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.clone())
    }
}

/// TLS on accepted connections, with the certificate of a [`CertDir`].
#[derive(Clone)]
pub struct Tls {
    acceptor: tokio_rustls::TlsAcceptor,
}

impl Tls {
    pub fn new(certs: Arc<CertDir>) -> Result<Tls, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(certs);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls { acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)) })
    }
}

impl Accept for Tls {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;

    async fn accept(&self, tcp: TcpStream) -> std::io::Result<Self::Io> {
        tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(tcp))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::http::{Health, Ops, serve};
    use crate::controller::metrics::Metrics;
    use std::process::Command;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A self-signed certificate for 127.0.0.1 in `dir` (openssl is a prerequisite of the
    /// repository: the control plane's certificates are made with it too).
    fn self_signed(dir: &Path, cn: &str) {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
            .arg("-keyout")
            .arg(dir.join(KEY_FILE))
            .arg("-out")
            .arg(dir.join(CERT_FILE))
            .args(["-subj", &format!("/CN={cn}"), "-addext", "subjectAltName=IP:127.0.0.1"])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl (a prerequisite) must be installed");
        assert!(status.success(), "openssl req failed");
    }

    fn der(dir: &Path) -> CertificateDer<'static> {
        CertificateDer::pem_file_iter(dir.join(CERT_FILE)).unwrap().next().unwrap().unwrap()
    }

    /// GET /livez over TLS trusting `roots`; the response and the certificate the server showed.
    async fn get(port: u16, roots: &[CertificateDer<'static>]) -> (String, CertificateDer<'static>) {
        let mut store = rustls::RootCertStore::empty();
        for r in roots {
            store.add(r.clone()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(store)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        let shown = tls.get_ref().1.peer_certificates().unwrap()[0].clone().into_owned();
        tls.write_all(b"GET /livez HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.unwrap();
        let mut out = String::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_string(&mut out)).await.unwrap();
        (out, shown)
    }

    #[tokio::test]
    async fn serves_https_and_picks_up_a_rotated_certificate() {
        let base = std::env::temp_dir().join(format!("natsguard-tls-{}", std::process::id()));
        let (first, second, serving) = (base.join("a"), base.join("b"), base.join("serving"));
        self_signed(&first, "first");
        self_signed(&second, "second");
        std::fs::create_dir_all(&serving).unwrap();
        for f in [CERT_FILE, KEY_FILE] {
            std::fs::copy(first.join(f), serving.join(f)).unwrap();
        }
        let roots = [der(&first), der(&second)];

        let certs = CertDir::load(&serving).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let ops = Arc::new(Ops { health: Arc::new(Health::default()), metrics: Arc::new(Metrics::default()) });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, Tls::new(certs.clone()).unwrap(), ops, async move {
            let _ = stopped.await;
        }));
        let watcher = tokio::spawn(certs.clone().watch(Duration::from_millis(100)));

        let (response, shown) = get(port, &roots).await;
        assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
        assert_eq!(shown, roots[0]);

        // A half-written rotation (a key that does not match the new certificate) keeps the old one.
        std::fs::copy(second.join(CERT_FILE), serving.join(CERT_FILE)).unwrap();
        assert!(certs.reload_if_changed().is_err());
        assert_eq!(get(port, &roots).await.1, roots[0]);
        // Completed: the new certificate is served without a restart.
        std::fs::copy(second.join(KEY_FILE), serving.join(KEY_FILE)).unwrap();
        let start = std::time::Instant::now();
        loop {
            let (response, shown) = get(port, &roots).await;
            if shown == roots[1] {
                assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(5), "the rotated certificate was never served");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // Plain HTTP on the TLS port gets nothing useful.
        let mut plain = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        plain.write_all(b"GET /livez HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(6), plain.read_to_end(&mut out)).await;
        assert!(!String::from_utf8_lossy(&out).contains("200 OK"));

        watcher.abort();
        stop.send(()).unwrap();
        server.await.unwrap();
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn bad_directories_are_named_in_the_error() {
        let base = std::env::temp_dir().join(format!("natsguard-tls-bad-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        let err = CertDir::load(&base).unwrap_err().to_string();
        assert!(err.contains("tls.crt"), "{err}");
        std::fs::write(base.join(CERT_FILE), "not pem").unwrap();
        std::fs::write(base.join(KEY_FILE), "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n")
            .unwrap();
        let err = CertDir::load(&base).unwrap_err().to_string();
        assert!(err.contains("tls.crt") && err.contains("no PEM certificate"), "{err}");
        // The key's bytes never appear in an error.
        self_signed(&base, "x");
        std::fs::write(base.join(KEY_FILE), "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n")
            .unwrap();
        let err = CertDir::load(&base).unwrap_err().to_string();
        assert!(err.contains("tls.key") && !err.contains("c2VjcmV0"), "{err}");
        let _ = std::fs::remove_dir_all(&base);
    }
}
