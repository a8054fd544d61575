//! HTTP serving on hyper: one accept loop ([`serve`]) for any [`Handler`] over any [`Accept`]
//! (plain TCP here; the admission webhook adds TLS), and the operations endpoint ([`Ops`]):
//! `/livez`, `/readyz` (ready once every cache has synced, and not while the API server does not
//! answer) and `/metrics`
//! (docs/configuration.md, "Operations endpoint").

use super::metrics::{self, Metrics};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A complete response body.
pub type Body = Full<Bytes>;

/// How long a client may take to send a request head (slow clients cannot hold connections).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long open connections get to finish after shutdown was requested.
const CONNECTION_DRAIN: Duration = Duration::from_secs(2);

/// Answers requests. Implemented by the operations endpoint and, next, the admission webhook.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, request: Request<Incoming>) -> impl Future<Output = Response<Body>> + Send;
}

/// Turns an accepted TCP connection into the stream HTTP is spoken on (plain, or TLS).
pub trait Accept: Clone + Send + Sync + 'static {
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn accept(&self, tcp: TcpStream) -> impl Future<Output = std::io::Result<Self::Io>> + Send;
}

/// Plain HTTP.
#[derive(Clone, Copy, Debug, Default)]
pub struct Plain;

impl Accept for Plain {
    type Io = TcpStream;
    async fn accept(&self, tcp: TcpStream) -> std::io::Result<TcpStream> {
        Ok(tcp)
    }
}

/// Serve HTTP/1.1 on `listener` until `shutdown` resolves; open connections then get a short
/// time to finish their current request.
pub async fn serve<A: Accept, H: Handler>(
    listener: TcpListener,
    acceptor: A,
    handler: Arc<H>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, _peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: do not spin.
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (acceptor, handler, mut stop) = (acceptor.clone(), handler.clone(), stop_rx.clone());
        tokio::spawn(async move {
            let io = match acceptor.accept(tcp).await {
                Ok(io) => io,
                Err(e) => {
                    tracing::debug!(error = %e, "connection setup failed");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |request| {
                let handler = handler.clone();
                async move { Ok::<_, std::convert::Infallible>(handler.handle(request).await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(io), service);
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = async { stop.wait_for(|s| *s).await.map(|_| ()) } => {
                    conn.as_mut().graceful_shutdown();
                    tokio::time::timeout(CONNECTION_DRAIN, conn.as_mut()).await.unwrap_or(Ok(()))
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "http connection failed");
            }
        });
    }
    let _ = stop_tx.send(true);
}

/// Readiness of the process, shared with the controller.
#[derive(Debug, Default)]
pub struct Health {
    /// Every cache has its initial list.
    pub ready: AtomicBool,
    /// The API server does not answer (`super::probe`): the caches are stale.
    pub apiserver_unreachable: AtomicBool,
}

/// The operations endpoint.
pub struct Ops {
    pub health: Arc<Health>,
    pub metrics: Arc<Metrics>,
}

fn text(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    response
}

impl Ops {
    /// The answer to `method path` (query strings are ignored).
    pub fn respond(&self, method: &Method, path: &str) -> Response<Body> {
        const PLAIN: &str = "text/plain; charset=utf-8";
        let known = matches!(path, "/livez" | "/readyz" | "/metrics");
        if known && !matches!(*method, Method::GET | Method::HEAD) {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, PLAIN, "method not allowed\n");
            r.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        match path {
            "/livez" => text(StatusCode::OK, PLAIN, "ok\n"),
            "/readyz" if !self.health.ready.load(Ordering::Relaxed) => {
                text(StatusCode::SERVICE_UNAVAILABLE, PLAIN, "caches not synced yet\n")
            }
            "/readyz" if self.health.apiserver_unreachable.load(Ordering::Relaxed) => {
                text(StatusCode::SERVICE_UNAVAILABLE, PLAIN, "the API server does not answer; caches are stale\n")
            }
            "/readyz" => text(StatusCode::OK, PLAIN, "ok\n"),
            "/metrics" => text(StatusCode::OK, metrics::CONTENT_TYPE, self.metrics.render()),
            _ => text(StatusCode::NOT_FOUND, PLAIN, "not found\n"),
        }
    }
}

impl Handler for Ops {
    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        self.respond(request.method(), request.uri().path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn exchange(port: u16, raw: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(raw.as_bytes()).await.unwrap();
        let mut out = String::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out)).await.unwrap().unwrap();
        out
    }

    #[tokio::test]
    async fn ops_routes_over_real_http() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let health = Arc::new(Health::default());
        let ops = Arc::new(Ops { health: health.clone(), metrics: Arc::new(Metrics::default()) });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, Plain, ops, async move {
            let _ = rx.await;
        }));
        let get = |path: &str| format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");

        let r = exchange(port, &get("/livez")).await;
        assert!(r.starts_with("HTTP/1.1 200 OK"), "{r}");
        let r = exchange(port, &get("/readyz")).await;
        assert!(r.starts_with("HTTP/1.1 503"), "{r}");
        health.ready.store(true, Ordering::Relaxed);
        let r = exchange(port, &get("/readyz?verbose")).await;
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        health.apiserver_unreachable.store(true, Ordering::Relaxed);
        let r = exchange(port, &get("/readyz")).await;
        assert!(r.starts_with("HTTP/1.1 503") && r.contains("API server does not answer"), "{r}");
        health.apiserver_unreachable.store(false, Ordering::Relaxed);
        let r = exchange(port, &get("/readyz")).await;
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        let r = exchange(port, &get("/metrics")).await;
        assert!(r.contains("content-type: text/plain; version=0.0.4"), "{r}");
        assert!(r.contains("# TYPE natsguard_leader gauge"), "{r}");
        let r = exchange(port, &get("/nope")).await;
        assert!(r.starts_with("HTTP/1.1 404"), "{r}");
        let r =
            exchange(port, "POST /metrics HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 405"), "{r}");
        // Two requests on one keep-alive connection.
        let r = exchange(
            port,
            "GET /livez HTTP/1.1\r\nhost: x\r\n\r\nGET /livez HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(r.matches("HTTP/1.1 200 OK").count(), 2, "{r}");
        // Garbage gets a 400, not a hang.
        let r = exchange(port, "NOT HTTP\r\n\r\n").await;
        assert!(r.is_empty() || r.starts_with("HTTP/1.1 400"), "{r}");

        tx.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), server).await.unwrap().unwrap();
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err(), "still listening after shutdown");
    }
}
