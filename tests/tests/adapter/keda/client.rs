//! KEDA's side of the external-scaler contract for the tests and benches: the Python client
//! `tests/keda/scaler_client.py` (grpcio) as a child, one JSON request per line in, one JSON
//! answer per line out.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use mixerless_harness::paths;
use serde_json::{json, Value};

/// The Python client as a child: one JSON request per line in, one JSON answer per line out.
pub(crate) struct Keda {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<Value>,
    /// Answers read while waiting for another id.
    pending: VecDeque<Value>,
    next_id: u64,
}

impl Keda {
    pub(crate) fn start(addr: &str, tls: &[String]) -> anyhow::Result<Self> {
        let root = paths::root();
        let mut child = mixerless_harness::process::guarded(root.join(".venv/bin/python"))
            .arg(root.join("tests/keda/scaler_client.py"))
            .arg(root.join("adapter/proto/externalscaler.proto"))
            .arg(addr)
            .args(tls)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("start the Python gRPC client (make deps installs grpcio into .venv)")?;
        let stdin = child.stdin.take().context("stdin")?;
        let stdout = child.stdout.take().context("stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
            }
        });
        let keda = Self {
            child,
            stdin,
            lines,
            pending: VecDeque::new(),
            next_id: 0,
        };
        let ready = keda
            .lines
            .recv_timeout(Duration::from_secs(30))
            .context("the Python client did not start (grpcio and grpcio-tools in .venv?)")?;
        anyhow::ensure!(ready["ready"] == true, "unexpected first line {ready}");
        Ok(keda)
    }

    pub(crate) fn send(&mut self, mut req: Value) -> anyhow::Result<u64> {
        self.next_id += 1;
        req["id"] = json!(self.next_id);
        writeln!(self.stdin, "{req}")?;
        self.stdin.flush()?;
        Ok(self.next_id)
    }

    /// The next answer for `id`, or `None` after `timeout`.
    pub(crate) fn answer(&mut self, id: u64, timeout: Duration) -> Option<Value> {
        if let Some(i) = self.pending.iter().position(|v| v["id"] == id) {
            return self.pending.remove(i);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let v = self.lines.recv_timeout(left).ok()?;
            if v["id"] == id {
                return Some(v);
            }
            self.pending.push_back(v);
        }
    }

    /// One unary call: `Ok(answer)` or `Err((code, details))`.
    pub(crate) fn call(
        &mut self,
        rpc: &str,
        metadata: &Value,
        metric_name: Option<&str>,
    ) -> anyhow::Result<Result<Value, (String, String)>> {
        let id = self.send(json!({"rpc": rpc, "metadata": metadata, "metricName": metric_name}))?;
        let a = self
            .answer(id, Duration::from_secs(15))
            .with_context(|| format!("no answer to {rpc}"))?;
        Ok(match a.get("ok") {
            Some(ok) => Ok(ok.clone()),
            None => Err((
                a["code"].as_str().unwrap_or_default().to_owned(),
                a["details"].as_str().unwrap_or_default().to_owned(),
            )),
        })
    }

    pub(crate) fn active(&mut self, metadata: &Value) -> anyhow::Result<bool> {
        match self.call("IsActive", metadata, None)? {
            Ok(a) => Ok(a["result"] == true),
            Err(e) => bail!("IsActive: {e:?}"),
        }
    }

    /// GetMetricSpec then GetMetrics with the name it gave, as KEDA does.
    pub(crate) fn metric(
        &mut self,
        metadata: &Value,
    ) -> anyhow::Result<Result<f64, (String, String)>> {
        let spec = match self.call("GetMetricSpec", metadata, None)? {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let name = spec["metricSpecs"][0]["metricName"]
            .as_str()
            .context("no metricName")?
            .to_owned();
        Ok(self.call("GetMetrics", metadata, Some(&name))?.map(|m| {
            assert_eq!(m["metricValues"][0]["metricName"], name.as_str());
            m["metricValues"][0]["metricValueFloat"]
                .as_f64()
                .unwrap_or(0.0)
        }))
    }
}

impl Drop for Keda {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
