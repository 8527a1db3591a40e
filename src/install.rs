//! Where an installed or checked-out sharpeyes finds its files, whatever the working directory.
//!
//! Two layouts are searched, in this order, for a relative path such as
//! `models/centernet_coco.toml`:
//! - as given, relative to the working directory (or absolute);
//! - a source checkout: under any ancestor directory of the executable
//!   (`target/debug/sharpeyes` → the repository root);
//! - an install prefix: under `share/sharpeyes/` of any ancestor of the executable
//!   (`/usr/local/bin/sharpeyes` → `/usr/local/share/sharpeyes/`), the layout of
//!   `deploy/Dockerfile` and `deploy/systemd/sharpeyes.service`.
//!
//! Settings can always name an absolute path instead.

use std::path::{Path, PathBuf};

/// Where an installed sharpeyes keeps its data (`models/…`), relative to its prefix.
pub const DATA_INSTALL_DIR: &str = "share/sharpeyes";

/// The current directory, then every ancestor directory of the executable, without repeats.
fn search_roots() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = std::env::current_dir().into_iter().collect();
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1) {
            if !roots.iter().any(|r| r == dir) {
                roots.push(dir.to_path_buf());
            }
        }
    }
    roots
}

/// Every search root joined with each relative path, root by root, in order.
pub fn candidates(rels: &[PathBuf]) -> Vec<PathBuf> {
    search_roots()
        .iter()
        .flat_map(|root| rels.iter().map(move |rel| root.join(rel)))
        .collect()
}

/// Resolves a relative data path (see the module docs). When nothing exists the path comes
/// back as given, so the error that follows names what the user wrote.
pub fn locate(path: &Path) -> PathBuf {
    if path.is_absolute() || path.exists() {
        return path.to_path_buf();
    }
    candidates(&[path.to_path_buf(), Path::new(DATA_INSTALL_DIR).join(path)])
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_and_missing_paths_come_back_as_given() {
        assert_eq!(
            locate(Path::new("/nonexistent/x")),
            Path::new("/nonexistent/x")
        );
        assert_eq!(
            locate(Path::new("no/such/file.toml")),
            Path::new("no/such/file.toml")
        );
    }

    #[test]
    fn the_checkout_is_found_from_the_test_executable() {
        // target/debug/deps/sharpeyes-… has the repository among its ancestors.
        let found = locate(Path::new("models/centernet_coco.toml"));
        assert!(found.is_file(), "{}", found.display());
    }
}
