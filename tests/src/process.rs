//! The project's own binaries and other child processes in tests: found fresh, logged to a
//! file, and never outliving the test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context as _};

use crate::paths;

/// A workspace binary from `target/<profile>/`, refused when missing or stale: cargo's dep-info
/// file beside it lists every source it was built from, and none may be newer than it
/// (`make test` builds the binaries before the tests run).
pub fn binary_in(profile: &str, name: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| paths::root().join("target"), PathBuf::from);
    let bin = dir.join(profile).join(name);
    let release = if profile == "release" {
        " --release"
    } else {
        ""
    };
    let hint = format!("run `cargo build{release} -p {name}` (make test does)");
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .with_context(|| format!("no {}: {hint}", bin.display()))?;
    let deps = std::fs::read_to_string(bin.with_extension("d")).unwrap_or_default();
    let sources = deps
        .split_once(": ")
        .map_or("", |(_, s)| s)
        .replace("\\ ", "\0");
    for src in sources.split_whitespace().map(|s| s.replace('\0', " ")) {
        let changed = std::fs::metadata(&src).and_then(|m| m.modified());
        if changed.is_ok_and(|t| t > built) {
            bail!("{} is older than {src}: {hint}", bin.display());
        }
    }
    Ok(bin)
}

/// [`binary_in`] for the debug build.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    binary_in("debug", name)
}

/// A child process writing stdout and stderr to `<dir>/<name>.log`, started under
/// `setpriv --pdeathsig KILL` and killed (and reaped) when dropped.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Starts `program args` in `dir`.
    pub fn spawn(name: &str, dir: &Path, program: &Path, args: &[String]) -> anyhow::Result<Self> {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log)?;
        let child = Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "--"])
            .arg(program)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("spawn {}", program.display()))?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log,
        })
    }

    /// Everything the process has written so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An error with the log when the process has exited.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited with {status}; log:\n{}", self.name, self.log());
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The peak resident memory (VmHWM) of process `pid`, in MiB.
pub fn peak_rss_mib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no VmHWM for process {pid}"))?;
    Ok(kib / 1024)
}
