//! Reading manifests from files, directories and stdin.

use std::io::Read;
use std::path::{Path, PathBuf};

/// One input to read: a file or stdin.
pub struct Input {
    /// How reports name it: the path as given (or found under a directory), or `<stdin>`.
    pub name: String,
    /// The file name used to pick the format; `None` for stdin.
    pub format_hint: Option<String>,
    pub bytes: Vec<u8>,
}

/// A path that could not be read.
pub struct InputError {
    pub name: String,
    pub message: String,
}

fn is_manifest(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json"))
}

/// Expands the command-line paths: `-` is stdin, directories are searched recursively for
/// `.yaml`, `.yml` and `.json` files (in name order), other paths are read as given.
pub fn read_inputs(paths: &[String]) -> (Vec<Input>, Vec<InputError>) {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for arg in paths {
        if arg == "-" {
            let mut bytes = Vec::new();
            match std::io::stdin().read_to_end(&mut bytes) {
                Ok(_) => inputs.push(Input {
                    name: "<stdin>".into(),
                    format_hint: None,
                    bytes,
                }),
                Err(e) => errors.push(InputError {
                    name: "<stdin>".into(),
                    message: format!("cannot read stdin: {e}"),
                }),
            }
            continue;
        }
        let path = PathBuf::from(arg);
        let mut files = Vec::new();
        if path.is_dir() {
            collect_dir(&path, &mut files, &mut errors);
        } else {
            files.push(path);
        }
        for file in files {
            let name = file.display().to_string();
            match std::fs::read(&file) {
                Ok(bytes) => inputs.push(Input {
                    format_hint: Some(name.clone()),
                    name,
                    bytes,
                }),
                Err(e) => errors.push(InputError {
                    name,
                    message: format!("cannot read file: {e}"),
                }),
            }
        }
    }
    (inputs, errors)
}

fn collect_dir(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<InputError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(InputError {
                name: dir.display().to_string(),
                message: format!("cannot read directory: {e}"),
            });
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            collect_dir(&path, files, errors);
        } else if is_manifest(&path) {
            files.push(path);
        }
    }
}
