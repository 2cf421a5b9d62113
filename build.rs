//! Embeds the Python packages every driver imports (`epoxy_driver`, `awsglue`, `awsgluedq`) so
//! the binary carries the exact copy it was built with; provisioning writes them out at start.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The packages under `python/` that drivers import; their tests stay out of the binary.
const PACKAGES: &[&str] = &["epoxy_driver", "awsglue", "awsgluedq"];

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let mut files = Vec::new();
    for package in PACKAGES {
        let dir = root.join("python").join(package);
        println!("cargo:rerun-if-changed={}", dir.display());
        if dir.is_dir() {
            collect(&dir, &mut files);
        }
    }
    files.sort();
    let mut out =
        String::from("/// `(path under the driver dir, source)` of every embedded Python file.\n");
    out.push_str("pub const PYTHON_FILES: &[(&str, &str)] = &[\n");
    for file in &files {
        let relative = file
            .strip_prefix(root.join("python"))
            .expect("collected under python/");
        writeln!(
            out,
            "    ({:?}, include_str!({:?})),",
            relative.to_string_lossy(),
            file.display().to_string()
        )
        .expect("write to a String");
    }
    out.push_str("];\n");
    let dest =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("python_files.rs");
    std::fs::write(dest, out).expect("write python_files.rs");
}

/// Every `.py` file below `dir` (no caches, no data files).
fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "__pycache__") {
                collect(&path, files);
            }
        } else if path.extension().is_some_and(|e| e == "py") {
            files.push(path);
        }
    }
}
