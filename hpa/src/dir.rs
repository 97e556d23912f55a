//! HPAs from a directory of manifests (`--hpa-dir`), re-read when a file changes.
//!
//! A file is written over time (an editor, `kubectl get -o yaml >`, a config sync): read in the
//! middle, it may parse with fewer HPAs, or not at all. [`Watcher`] reads the directory only
//! once it has stopped changing, and serves the last good version of a file that does not
//! parse (its error on `/status` and in the log), so the HPAs it defined keep their values.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::{external_queries, manifest, MetricQuery};

/// One HPA as loaded: its queries and every problem found, named for `/status` and the log.
#[derive(Debug, Clone)]
pub struct LoadedHpa {
    pub file: PathBuf,
    pub namespace: String,
    pub name: String,
    pub hpa: manifest::Hpa,
    pub queries: Vec<MetricQuery>,
    pub errors: Vec<String>,
}

/// A file that could not be read or parsed at all.
#[derive(Debug, Clone)]
pub struct FileError {
    pub file: PathBuf,
    pub error: String,
}

/// Everything in the directory.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub hpas: Vec<LoadedHpa>,
    pub file_errors: Vec<FileError>,
}

impl Snapshot {
    /// Every query of every HPA.
    pub fn queries(&self) -> impl Iterator<Item = &MetricQuery> {
        self.hpas.iter().flat_map(|h| h.queries.iter())
    }
}

fn manifest_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if path.is_file() && matches!(ext, "yaml" | "yml" | "json") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Names, sizes and modification times of the manifests.
pub type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

/// Names, sizes and modification times of the manifests: when this changes, reload.
pub fn fingerprint(dir: &Path) -> Fingerprint {
    manifest_files(dir)
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let len = meta.as_ref().map_or(0, |m| m.len());
            let mtime = meta.and_then(|m| m.modified().ok());
            (p, len, mtime)
        })
        .collect()
}

/// Loads every `*.yaml`, `*.yml` and `*.json` in `dir` (not recursive).
pub fn load(dir: &Path) -> Snapshot {
    load_keeping(dir, &mut HashMap::new())
}

/// Reads `--hpa-dir` when it has settled: polled every second or so, it loads the directory
/// once its [`fingerprint`] has changed and then stayed the same for one more poll, and
/// keeps each file's last good HPAs for when a version of it does not parse.
#[derive(Debug)]
pub struct Watcher {
    dir: PathBuf,
    /// The fingerprint loaded, and the one the previous poll saw.
    loaded: Option<Fingerprint>,
    seen: Option<Fingerprint>,
    /// Each file's HPAs as last parsed whole.
    good: HashMap<PathBuf, Vec<LoadedHpa>>,
}

impl Watcher {
    /// A watcher that has loaded nothing yet.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            loaded: None,
            seen: None,
            good: HashMap::new(),
        }
    }

    /// Loads the directory now, settled or not (at start, where nothing is served yet).
    pub fn load_now(&mut self) -> Snapshot {
        self.load(fingerprint(&self.dir))
    }

    /// Loads the directory, whose fingerprint was just read as `fp`.
    fn load(&mut self, fp: Fingerprint) -> Snapshot {
        self.seen = Some(fp.clone());
        self.loaded = Some(fp);
        load_keeping(&self.dir, &mut self.good)
    }

    /// The directory's HPAs when it changed since the last load and has not changed since the
    /// previous poll (a file being written changes size or modification time between polls).
    pub fn poll(&mut self) -> Option<Snapshot> {
        let fp = fingerprint(&self.dir);
        if self.loaded.as_ref() == Some(&fp) {
            self.seen = Some(fp);
            return None;
        }
        if self.seen.as_ref() != Some(&fp) {
            self.seen = Some(fp);
            return None;
        }
        Some(self.load(fp))
    }
}

/// [`load`], serving the last good version (from `good`, updated) of a file that cannot be
/// read or parsed; a file that is gone is forgotten.
fn load_keeping(dir: &Path, good: &mut HashMap<PathBuf, Vec<LoadedHpa>>) -> Snapshot {
    let mut snap = Snapshot::default();
    let files = match manifest_files(dir) {
        Ok(f) => f,
        Err(e) => {
            snap.file_errors.push(FileError {
                file: dir.to_owned(),
                error: format!("read directory: {e}"),
            });
            return snap;
        }
    };
    good.retain(|f, _| files.contains(f));
    for file in files {
        match load_file(&file) {
            Ok(hpas) => {
                snap.hpas.extend(hpas.iter().cloned());
                good.insert(file, hpas);
            }
            Err(mut error) => {
                if let Some(hpas) = good.get(&file) {
                    error = format!(
                        "{error}; serving its last good version ({} HPA{})",
                        hpas.len(),
                        if hpas.len() == 1 { "" } else { "s" }
                    );
                    snap.hpas.extend(hpas.iter().cloned());
                }
                snap.file_errors.push(FileError { file, error });
            }
        }
    }
    snap
}

/// The HPAs of one file, or why it cannot be read or parsed.
fn load_file(file: &Path) -> Result<Vec<LoadedHpa>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("read: {e}"))?;
    let hpas = manifest::parse_all(&text).map_err(|e| format!("not a valid manifest: {e}"))?;
    Ok(hpas
        .into_iter()
        .map(|hpa| {
            let (queries, errors) = external_queries(&hpa);
            LoadedHpa {
                file: file.to_owned(),
                namespace: hpa.namespace().to_owned(),
                name: hpa.metadata.name.clone(),
                hpa,
                queries,
                errors: errors.iter().map(ToString::to_string).collect(),
            }
        })
        .collect())
}

#[cfg(test)]
#[path = "dir/tests.rs"]
mod tests;
