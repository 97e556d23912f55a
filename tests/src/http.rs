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
