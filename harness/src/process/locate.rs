//! Finding what a process runs: the project's own binaries (refused when stale), programs on
//! `$PATH`, files the user must provide.

use std::path::PathBuf;

use anyhow::{bail, Context as _};

use super::Error;
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

/// What installs `program`.
pub(super) fn install_hint(program: &str) -> &'static str {
    match program {
        "setpriv" => "install util-linux (`apt-get install util-linux`)",
        _ => "run `make deps`",
    }
}

/// `name` on `$PATH`, or an error that says how to install it.
pub fn on_path(name: &'static str) -> Result<PathBuf, Error> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or(Error::NotOnPath(name))
}

/// `path` if it exists, else [`Error::Missing`] with `hint`.
pub fn existing(what: &'static str, path: PathBuf, hint: &'static str) -> Result<PathBuf, Error> {
    if path.exists() {
        Ok(path)
    } else {
        Err(Error::Missing { what, path, hint })
    }
}
