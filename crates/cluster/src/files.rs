//! Reading manifest files: paths, directories (recursively), stdin.

use std::io::Read;
use std::path::{Path, PathBuf};

/// One file's contents.
#[derive(Clone)]
pub struct ManifestFile {
    /// The path as given or found under a directory, or `<stdin>`.
    pub name: String,
    /// The name to pick the format by; `None` for stdin.
    pub format_hint: Option<String>,
    pub bytes: Vec<u8>,
}

/// A path that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub name: String,
    pub message: String,
}

/// True for `.yaml`, `.yml` and `.json` files.
pub fn is_manifest(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json"))
}

/// The manifest files under `dir`, recursively, in name order. Hidden entries (such as a
/// Kubernetes volume's `..data` link farm) are skipped: their contents appear under the
/// visible names too.
pub fn list_dir(dir: &Path, errors: &mut Vec<FileError>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    walk(dir, &mut files, errors);
    files
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<FileError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(FileError {
                name: dir.display().to_string(),
                message: format!("cannot read directory: {e}"),
            });
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            walk(&path, files, errors);
        } else if is_manifest(&path) {
            files.push(path);
        }
    }
}

/// Reads the command-line paths: `-` is stdin, directories are searched recursively for
/// manifest files, other paths are read as given.
pub fn read_paths(paths: &[String]) -> (Vec<ManifestFile>, Vec<FileError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for arg in paths {
        if arg == "-" {
            let mut bytes = Vec::new();
            match std::io::stdin().read_to_end(&mut bytes) {
                Ok(_) => files.push(ManifestFile {
                    name: "<stdin>".into(),
                    format_hint: None,
                    bytes,
                }),
                Err(e) => errors.push(FileError {
                    name: "<stdin>".into(),
                    message: format!("cannot read stdin: {e}"),
                }),
            }
            continue;
        }
        let path = PathBuf::from(arg);
        let found = if path.is_dir() {
            list_dir(&path, &mut errors)
        } else {
            vec![path]
        };
        for file in found {
            let name = file.display().to_string();
            match std::fs::read(&file) {
                Ok(bytes) => files.push(ManifestFile {
                    format_hint: Some(name.clone()),
                    name,
                    bytes,
                }),
                Err(e) => errors.push(FileError {
                    name,
                    message: format!("cannot read file: {e}"),
                }),
            }
        }
    }
    (files, errors)
}
