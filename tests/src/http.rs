//! Plain HTTP/1.1 requests for tests; a status code is a value, not an error.

use std::time::Duration;

/// A response: status, headers (lowercased names) and body.
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
    let headers = resp
        .headers_names()
        .into_iter()
        .filter_map(|n| {
            resp.header(&n)
                .map(|v| (n.to_ascii_lowercase(), v.to_owned()))
        })
        .collect();
    let body = resp.into_string()?;
    Ok(Response {
        status,
        headers,
        body,
    })
}
