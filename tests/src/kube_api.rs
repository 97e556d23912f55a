//! A fake Kubernetes API server that speaks the list and watch protocol as kube-apiserver does
//! (Kubernetes API concepts, "Efficient detection of changes" and "Watch bookmarks"), for
//! pods and autoscaling/v2 HPAs, over plain HTTP on 127.0.0.1:
//! - a list answers every object (paged with `limit` / `continue`) and the collection's
//!   `metadata.resourceVersion`;
//! - `?watch=1&resourceVersion=N` streams, as chunked JSON lines, every change after `N`
//!   (`ADDED`, `MODIFIED`, `DELETED`, each with the object as of that change), then the changes
//!   as they happen; with `allowWatchBookmarks=true` an idle watch gets a `BOOKMARK` (an object
//!   with only `kind`, `apiVersion` and `metadata.resourceVersion`) every second; the stream
//!   ends at `timeoutSeconds`;
//! - a label selector (`a=b,c=d`) is applied on the server, and an object that stops matching
//!   is `DELETED` for that watch (starts matching: `ADDED`), as the watch cache does;
//! - after [`KubeApi::compact`], a watch from an older resourceVersion gets `200 OK` and one
//!   `ERROR` event whose object is a `Status` with `code: 410`, `reason: Expired`, the way the
//!   real server answers a too-old resourceVersion;
//! - [`KubeApi::cut`] breaks every open watch in the middle of an event line (and holds new
//!   ones until [`KubeApi::resume`]);
//! - posted Events are answered `201 Created`.
//!
//! It counts the bytes it sends, for the discovery benchmark.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How often an idle watch gets a bookmark.
const BOOKMARK_EVERY: Duration = Duration::from_secs(1);
/// The longest a watch stays open, whatever `timeoutSeconds` asks.
const MAX_WATCH: Duration = Duration::from_secs(300);

/// The kinds served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Pod,
    Hpa,
}

impl Kind {
    fn kind(self) -> &'static str {
        match self {
            Kind::Pod => "Pod",
            Kind::Hpa => "HorizontalPodAutoscaler",
        }
    }

    fn api_version(self) -> &'static str {
        match self {
            Kind::Pod => "v1",
            Kind::Hpa => "autoscaling/v2",
        }
    }
}

/// One change, as the watch cache keeps it.
struct Change {
    rv: u64,
    kind: Kind,
    namespace: String,
    /// Before and after (`None`: did not exist / deleted).
    old: Option<Value>,
    new: Option<Value>,
}

#[derive(Default)]
struct Inner {
    rv: u64,
    objects: BTreeMap<(Kind, String, String), Value>,
    changes: Vec<Change>,
    /// Changes at or before this resourceVersion are forgotten: older watches get 410.
    compacted: u64,
    /// Bumped by [`KubeApi::cut`]; a watch started under an older one breaks.
    cuts: u64,
    /// Between [`KubeApi::cut`] and [`KubeApi::resume`]: new watches wait (lists do not), so
    /// a test decides what changes while the client is away.
    paused: bool,
    requests: Vec<String>,
}

struct Shared {
    inner: Mutex<Inner>,
    changed: Condvar,
    bytes: AtomicU64,
    stop: AtomicBool,
}

/// The running server; stops when dropped.
pub struct KubeApi {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
}

impl KubeApi {
    /// Binds 127.0.0.1 on a free port and serves.
    pub fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            changed: Condvar::new(),
            bytes: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve(conn, &s));
            }
        });
        Ok(Self { addr, shared })
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Writes a kubeconfig that points at this server, without credentials.
    pub fn write_kubeconfig(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(
            path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\n\
                 users:\n- name: fake\n  user: {{}}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n\
                 current-context: fake\n",
                self.url()
            ),
        )?;
        Ok(())
    }

    /// Creates or replaces an object (its `metadata.namespace` and `metadata.name` say which);
    /// returns its new resourceVersion.
    pub fn put(&self, kind: Kind, mut object: Value) -> u64 {
        let mut inner = lock(&self.shared.inner);
        inner.rv += 1;
        let rv = inner.rv;
        object["kind"] = json!(kind.kind());
        object["apiVersion"] = json!(kind.api_version());
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let ns = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let old = inner
            .objects
            .insert((kind, ns.clone(), name), object.clone());
        inner.changes.push(Change {
            rv,
            kind,
            namespace: ns,
            old,
            new: Some(object),
        });
        drop(inner);
        self.shared.changed.notify_all();
        rv
    }

    /// Deletes an object; false when there was none.
    pub fn delete(&self, kind: Kind, namespace: &str, name: &str) -> bool {
        let mut inner = lock(&self.shared.inner);
        let Some(mut old) = inner
            .objects
            .remove(&(kind, namespace.to_owned(), name.to_owned()))
        else {
            return false;
        };
        inner.rv += 1;
        let rv = inner.rv;
        // A DELETED event carries the object at its deletion's resourceVersion.
        old["metadata"]["resourceVersion"] = json!(rv.to_string());
        inner.changes.push(Change {
            rv,
            kind,
            namespace: namespace.to_owned(),
            old: Some(old),
            new: None,
        });
        drop(inner);
        self.shared.changed.notify_all();
        true
    }

    /// Forgets every change so far, as etcd compaction does: a watch resumed from an older
    /// resourceVersion gets `410 Gone` and must list again.
    pub fn compact(&self) {
        let mut inner = lock(&self.shared.inner);
        inner.compacted = inner.rv;
        inner.changes.clear();
    }

    /// Breaks every open watch in the middle of an event line and holds new watches until
    /// [`KubeApi::resume`].
    pub fn cut(&self) {
        let mut inner = lock(&self.shared.inner);
        inner.cuts += 1;
        inner.paused = true;
        drop(inner);
        self.shared.changed.notify_all();
    }

    /// Lets watches in again after [`KubeApi::cut`].
    pub fn resume(&self) {
        lock(&self.shared.inner).paused = false;
        self.shared.changed.notify_all();
    }

    /// Bytes sent so far (heads and bodies).
    pub fn bytes_sent(&self) -> u64 {
        self.shared.bytes.load(Ordering::Relaxed)
    }

    /// Every request so far: `METHOD path?query`.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.shared.inner).requests.clone()
    }
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.cut();
        self.resume();
        let _ = TcpStream::connect(self.addr);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A connection: requests one after another (kube-rs keeps connections alive) until a watch
/// ends it or the client hangs up.
fn serve(mut conn: TcpStream, s: &Shared) {
    let _ = conn.set_nodelay(true);
    let mut buf = Vec::new();
    loop {
        let Some((method, target, body_len)) = read_head(&mut conn, &mut buf) else {
            return;
        };
        // The body (a posted Event) is not needed; drop it from the buffer.
        while buf.len() < body_len {
            let mut chunk = [0u8; 4096];
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            }
        }
        buf.drain(..body_len);
        lock(&s.inner).requests.push(format!("{method} {target}"));
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let params: BTreeMap<String, String> = form_pairs(query);
        let Some((kind, namespace)) = route(path) else {
            if method == "POST" && path.ends_with("/events") {
                send(
                    &mut conn,
                    s,
                    "201 Created",
                    r#"{"kind":"Event","apiVersion":"v1"}"#,
                );
            } else {
                let status = json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                    "message":format!("the server could not find the requested resource ({path})"),
                    "reason":"NotFound","code":404});
                send(&mut conn, s, "404 Not Found", &status.to_string());
            }
            continue;
        };
        let selector = params.get("labelSelector").cloned().unwrap_or_default();
        let scope = Scope {
            kind,
            namespace,
            selector: parse_selector(&selector),
        };
        if params.get("watch").is_some_and(|w| w == "1" || w == "true") {
            watch(conn, s, &scope, &params);
            return;
        }
        let body = list(s, &scope, &params);
        send(&mut conn, s, "200 OK", &body);
    }
}

/// What one request is about.
struct Scope {
    kind: Kind,
    namespace: Option<String>,
    selector: Vec<(String, String)>,
}

impl Scope {
    fn matches(&self, ns: &str, object: &Value) -> bool {
        self.namespace.as_deref().is_none_or(|n| n == ns)
            && self
                .selector
                .iter()
                .all(|(k, v)| object["metadata"]["labels"][k].as_str() == Some(v.as_str()))
    }
}

fn route(path: &str) -> Option<(Kind, Option<String>)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["api", "v1", "pods"] => Some((Kind::Pod, None)),
        ["api", "v1", "namespaces", ns, "pods"] => Some((Kind::Pod, Some((*ns).to_owned()))),
        ["apis", "autoscaling", "v2", "horizontalpodautoscalers"] => Some((Kind::Hpa, None)),
        ["apis", "autoscaling", "v2", "namespaces", ns, "horizontalpodautoscalers"] => {
            Some((Kind::Hpa, Some((*ns).to_owned())))
        }
        _ => None,
    }
}

fn parse_selector(s: &str) -> Vec<(String, String)> {
    s.split(',')
        .filter(|t| !t.is_empty())
        .filter_map(|t| t.split_once('='))
        .map(|(k, v)| (k.trim_end_matches('=').to_owned(), v.to_owned()))
        .collect()
}

fn form_pairs(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), percent_decode(v)))
        .collect()
}

fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(h)) => {
                out.push(h);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A list: the matching objects from the `continue` offset, at most `limit`, and the
/// collection's resourceVersion.
fn list(s: &Shared, scope: &Scope, params: &BTreeMap<String, String>) -> String {
    let inner = lock(&s.inner);
    let items: Vec<&Value> = inner
        .objects
        .iter()
        .filter(|((k, ns, _), o)| *k == scope.kind && scope.matches(ns, o))
        .map(|(_, o)| o)
        .collect();
    let from: usize = params
        .get("continue")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let limit: usize = params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|&l| l > 0)
        .unwrap_or(usize::MAX);
    let page: Vec<&Value> = items.iter().skip(from).take(limit).copied().collect();
    let mut metadata = json!({"resourceVersion": inner.rv.to_string()});
    if from.saturating_add(limit) < items.len() {
        metadata["continue"] = json!((from + limit).to_string());
        metadata["remainingItemCount"] = json!(items.len() - from - limit);
    }
    json!({
        "kind": format!("{}List", scope.kind.kind()),
        "apiVersion": scope.kind.api_version(),
        "metadata": metadata,
        "items": page,
    })
    .to_string()
}

/// A watch: the changes after the requested resourceVersion, then live ones, bookmarks when
/// idle, until the timeout, a cut, or the client leaving.
fn watch(mut conn: TcpStream, s: &Shared, scope: &Scope, params: &BTreeMap<String, String>) {
    let head =
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
    if write_counted(&mut conn, s, head.as_bytes()).is_err() {
        return;
    }
    let bookmarks = params
        .get("allowWatchBookmarks")
        .is_some_and(|b| b == "true");
    let timeout = params
        .get("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .map_or(MAX_WATCH, |t| Duration::from_secs(t).min(MAX_WATCH));
    let deadline = Instant::now() + timeout;
    let mut inner = lock(&s.inner);
    while inner.paused && !s.stop.load(Ordering::Relaxed) {
        inner = s
            .changed
            .wait_timeout(inner, BOOKMARK_EVERY)
            .map_or_else(|e| e.into_inner().0, |(g, _)| g);
    }
    let cuts = inner.cuts;
    let mut cursor: u64 = params
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(inner.rv);
    if cursor < inner.compacted {
        let status = json!({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},
            "status":"Failure","message":format!("too old resource version: {cursor} ({})", inner.compacted),
            "reason":"Expired","code":410}});
        drop(inner);
        let _ = chunk(&mut conn, s, &format!("{status}\n"));
        let _ = chunk(&mut conn, s, "");
        return;
    }
    let mut last_sent = Instant::now();
    loop {
        if inner.cuts != cuts {
            drop(inner);
            // Half an event line, then the connection closes without the last chunk.
            let _ = write_counted(
                &mut conn,
                s,
                b"40\r\n{\"type\":\"MODIFIED\",\"object\":{\"kind\":",
            );
            let _ = conn.shutdown(std::net::Shutdown::Both);
            return;
        }
        let mut lines = String::new();
        // Changes are in resourceVersion order: skip to the first after the cursor.
        let from = inner.changes.partition_point(|c| c.rv <= cursor);
        let after = inner.changes.get(from..).unwrap_or_default();
        for c in after.iter().filter(|c| c.kind == scope.kind) {
            let was = c
                .old
                .as_ref()
                .is_some_and(|o| scope.matches(&c.namespace, o));
            let is = c
                .new
                .as_ref()
                .is_some_and(|o| scope.matches(&c.namespace, o));
            let event = match (was, is, &c.new) {
                (false, true, Some(o)) => json!({"type":"ADDED","object":o}),
                (true, true, Some(o)) => json!({"type":"MODIFIED","object":o}),
                (true, false, Some(o)) => json!({"type":"DELETED","object":o}),
                (true, false, None) => json!({"type":"DELETED","object":c.old}),
                _ => continue,
            };
            lines.push_str(&event.to_string());
            lines.push('\n');
        }
        cursor = inner.rv;
        let rv = inner.rv;
        drop(inner);
        let now = Instant::now();
        if !lines.is_empty() {
            last_sent = now;
            if chunk(&mut conn, s, &lines).is_err() {
                return;
            }
        } else if bookmarks && now.duration_since(last_sent) >= BOOKMARK_EVERY {
            last_sent = now;
            let bookmark = json!({"type":"BOOKMARK","object":{"kind":scope.kind.kind(),
                "apiVersion":scope.kind.api_version(),"metadata":{"resourceVersion":rv.to_string()}}});
            if chunk(&mut conn, s, &format!("{bookmark}\n")).is_err() {
                return;
            }
        }
        if now >= deadline || s.stop.load(Ordering::Relaxed) {
            let _ = chunk(&mut conn, s, "");
            return;
        }
        inner = lock(&s.inner);
        if inner.rv == cursor && inner.cuts == cuts {
            let wait = BOOKMARK_EVERY.min(deadline.saturating_duration_since(Instant::now()));
            inner = s
                .changed
                .wait_timeout(inner, wait)
                .map_or_else(|e| e.into_inner().0, |(g, _)| g);
        }
    }
}

/// One chunk of a chunked body (`""`: the last one).
fn chunk(conn: &mut TcpStream, s: &Shared, data: &str) -> std::io::Result<()> {
    let framed = format!("{:x}\r\n{data}\r\n", data.len());
    write_counted(conn, s, framed.as_bytes())
}

fn send(conn: &mut TcpStream, s: &Shared, status: &str, body: &str) {
    let resp = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = write_counted(conn, s, resp.as_bytes());
}

fn write_counted(conn: &mut TcpStream, s: &Shared, bytes: &[u8]) -> std::io::Result<()> {
    conn.write_all(bytes)?;
    s.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
    Ok(())
}

/// Reads one request head from `conn` (bytes past it stay in `buf`): method, target and
/// content-length.
fn read_head(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, String, usize)> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(buf.get(..end)?).into_owned();
            buf.drain(..end + 4);
            let mut lines = head.split("\r\n");
            let mut first = lines.next()?.split_whitespace();
            let method = first.next()?.to_owned();
            let target = first.next()?.to_owned();
            let len = lines
                .filter_map(|l| l.split_once(':'))
                .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(0);
            return Some((method, target, len));
        }
        if buf.len() > 64 << 10 {
            return None;
        }
        let mut chunk = [0u8; 4096];
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(chunk.get(..n)?),
        }
    }
}
