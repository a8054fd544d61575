//! The write fence: a Kubernetes client whose writes (POST, PUT, PATCH, DELETE) are refused
//! while this replica does not lead, so "only the leader writes" (docs/configuration.md, "High availability") holds for every
//! write path (status, incidents, Events) even for a reconcile that was already running when
//! leadership was lost. Reads and watches pass through: standbys keep their caches warm.

use super::leader::Leadership;
use http::{Method, Request, Response};
use kube::Client;
use kube::client::Body;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The error a fenced write fails with.
#[derive(Debug, thiserror::Error)]
#[error("not the leader: {method} {path} refused (only the leader writes)")]
pub struct NotLeader {
    pub method: Method,
    pub path: String,
}

/// `client`, with its writes allowed only while `leadership.is_leading()`.
pub fn fenced(client: Client, leadership: Leadership) -> Client {
    let default_ns = client.default_namespace().to_owned();
    Client::new(Fenced { client, leadership }, default_ns)
}

#[derive(Clone)]
struct Fenced {
    client: Client,
    leadership: Leadership,
}

fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl tower::Service<Request<Body>> for Fenced {
    type Response = Response<Body>;
    type Error = kube::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, kube::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if is_write(request.method()) && !self.leadership.is_leading() {
            let refused = NotLeader { method: request.method().clone(), path: request.uri().path().to_owned() };
            return Box::pin(std::future::ready(Err(kube::Error::Service(Box::new(refused)))));
        }
        let client = self.client.clone();
        Box::pin(async move { client.send(request).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_watches_are_not_writes() {
        assert!(!is_write(&Method::GET));
        assert!(!is_write(&Method::HEAD));
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(is_write(&m), "{m}");
        }
    }

    #[tokio::test]
    async fn a_write_is_refused_without_leadership_before_anything_is_sent() {
        // A client for an address nobody listens on: a request that got through would fail
        // with a connection error, not with NotLeader.
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let inner = Client::try_from(config).unwrap();
        let (tx, leadership) = Leadership::channel();
        let client = fenced(inner, leadership);
        let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> = kube::Api::namespaced(client, "x");
        let err = api.delete("y", &Default::default()).await.unwrap_err();
        assert!(err.to_string().contains("not the leader"), "{err}");
        // Reads pass through (and fail on the connection instead).
        let err = api.get("y").await.unwrap_err();
        assert!(!err.to_string().contains("not the leader"), "{err}");
        // Leading: the write goes out (and fails on the connection).
        tx.set(true);
        let err = api.delete("y", &Default::default()).await.unwrap_err();
        assert!(!err.to_string().contains("not the leader"), "{err}");
    }
}
