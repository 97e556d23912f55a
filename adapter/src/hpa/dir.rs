//! HPAs from a directory of manifests (`--hpa-dir`), re-read when a file changes.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{external_queries, manifest, MetricQuery};

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

/// Names, sizes and modification times of the manifests: when this changes, reload.
pub fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
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
    for file in files {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                snap.file_errors.push(FileError {
                    file,
                    error: format!("read: {e}"),
                });
                continue;
            }
        };
        match manifest::parse_all(&text) {
            Ok(hpas) => {
                for hpa in hpas {
                    let (queries, errors) = external_queries(&hpa);
                    snap.hpas.push(LoadedHpa {
                        file: file.clone(),
                        namespace: hpa.namespace().to_owned(),
                        name: hpa.metadata.name.clone(),
                        hpa,
                        queries,
                        errors: errors.iter().map(ToString::to_string).collect(),
                    });
                }
            }
            Err(e) => snap.file_errors.push(FileError {
                file,
                error: format!("not a valid manifest: {e}"),
            }),
        }
    }
    snap
}
