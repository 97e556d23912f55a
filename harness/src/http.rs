//! Plain HTTP/1.1 requests for tests; a status code is a value, not an error.

use std::time::Duration;

/// A response: status, headers (lowercased names, every value of a repeated header) and body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in order (a repeated header shows as several).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build()
}

/// GET `url`.
pub fn get(url: &str) -> anyhow::Result<Response> {
    request("GET", url, &[], "")
}

/// Sends a request with headers and a body.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> anyhow::Result<Response> {
    let mut req = agent().request(method, url);
    for (name, value) in headers {
        req = req.set(name, value);
    }
    let resp = match req.send_string(body) {
        Ok(resp) | Err(ureq::Error::Status(_, resp)) => resp,
        Err(e) => return Err(anyhow::anyhow!("{method} {url}: {e}")),
    };
    let status = resp.status();
    // `headers_names` repeats a repeated name, and `header` gives only its first value.
    let mut unique: Vec<String> = Vec::new();
    for n in resp.headers_names() {
        if !unique.contains(&n) {
            unique.push(n);
        }
    }
    let headers = unique
        .iter()
        .flat_map(|n| resp.all(n).into_iter().map(|v| (n.clone(), v.to_owned())))
        .collect();
    let body = resp.into_string()?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Longest request head a fake server reads (they have no use for bodies).
const MAX_HEAD: usize = 64 * 1024;

/// The head of one request a fake server received.
#[derive(Debug, Clone, Default)]
pub struct RequestHead {
    pub path: String,
    /// Lowercased names, trimmed values, in arrival order (repeats kept).
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request head from `conn` (fake scrape targets and apps, one request per
/// connection); `None` when the peer closes or stalls for `timeout`, or sends more than 64 KiB
/// before the blank line.
pub fn read_head(conn: &mut std::net::TcpStream, timeout: Duration) -> Option<RequestHead> {
    use std::io::Read as _;
    let _ = conn.set_read_timeout(Some(timeout));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return None;
        }
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(buf.get(..n)?),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split_whitespace().nth(1)?.to_owned();
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some(RequestHead { path, headers })
}

/// Writes a whole `connection: close` response: `status` (`"200 OK"`), an optional
/// content-type and `body`.
pub fn respond(
    conn: &mut std::net::TcpStream,
    status: &str,
    content_type: Option<&str>,
    body: &str,
) {
    use std::io::Write as _;
    let ct = content_type.map_or(String::new(), |c| format!("content-type: {c}\r\n"));
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\n{ct}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}
