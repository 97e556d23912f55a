//! A podinfo-like backend: JSON on `/`, `/healthz`, and a service time per request. Each replica
//! serves `workers` requests at a time (like a small pod's CPU), so a loaded replica queues and
//! its latency grows; spreading the same load over more replicas brings latency down.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// One running backend; dropping it stops the server.
#[derive(Debug)]
pub struct Backend {
    pub port: u16,
    task: JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug)]
struct App {
    hostname: String,
    latency: Duration,
    workers: Semaphore,
}

impl Backend {
    /// Binds a free loopback port and serves until dropped.
    pub async fn start(hostname: &str, latency: Duration, workers: usize) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let app = Arc::new(App {
            hostname: hostname.to_owned(),
            latency,
            workers: Semaphore::new(workers.max(1)),
        });
        let router = Router::new()
            .route("/", get(index))
            .route("/healthz", get(|| async { Json(json!({"status": "OK"})) }))
            .with_state(app);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self { port, task })
    }
}

async fn index(State(app): State<Arc<App>>) -> Json<Value> {
    // The semaphore is never closed, so acquire only fails if it were; serve anyway then.
    let _permit = app.workers.acquire().await.ok();
    tokio::time::sleep(app.latency).await;
    Json(json!({
        "hostname": app.hostname,
        "version": "6.0.0",
        "revision": "",
        "color": "#34577c",
        "logo": "https://raw.githubusercontent.com/stefanprodan/podinfo/gh-pages/cuddle_clap.gif",
        "message": "greetings from podinfo v6.0.0",
        "goos": "linux",
        "runtime": "mixerless-demo",
    }))
}
