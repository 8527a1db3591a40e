//! The first login of a fresh deployment: `[auth] initial_admin = "admin"`.
//!
//! A container or a pod listens on all interfaces, where the daemon refuses to run without
//! access control, but nobody has hashed a password yet. Like Jenkins' `initialAdminPassword`,
//! the daemon then makes one: on the first start it writes a random password to
//! `<data-dir>/initial-admin-password` (mode 0600, readable by the daemon's user only) and
//! adds an operator of that name; later starts read the same file. The operator logs in with
//! it, then replaces it by `[[auth.users]]` entries (`sharpeyes hash-password`) and deletes the
//! file. A `[[auth.users]]` entry of the same name wins over the file.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::config::{AuthMode, AuthSettings, UserEntry};
use crate::http::actor::Role;

/// The file under the data dir that holds the initial operator's password.
pub const PASSWORD_FILE: &str = "initial-admin-password";

/// Adds the `initial_admin` operator to `auth.users` when configured (see the module docs).
/// Returns the password file's path when it did.
pub fn apply(auth: &mut AuthSettings, data_dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    let Some(name) = auth.initial_admin.clone() else {
        return Ok(None);
    };
    anyhow::ensure!(
        auth.mode == AuthMode::Users,
        "[auth] initial_admin needs mode = \"users\" (a proxy authenticates users itself)"
    );
    anyhow::ensure!(
        !name.trim().is_empty(),
        "[auth] initial_admin is empty; name the first operator, e.g. \"admin\""
    );
    if auth.users.iter().any(|u| u.name == name) {
        return Ok(None);
    }
    let path = data_dir.join(PASSWORD_FILE);
    let password = read_or_create(&path)?;
    auth.users.push(UserEntry {
        name: name.clone(),
        role: Role::Operator,
        password_hash: super::password::hash(&password)?,
        maintainer: None,
    });
    tracing::warn!(
        user = %name,
        file = %path.display(),
        "first login: user {name:?} with the password in {} (readable by the daemon's user \
         only). Replace it with [[auth.users]] (`sharpeyes hash-password`) and delete the file.",
        path.display()
    );
    Ok(Some(path))
}

fn read_or_create(path: &Path) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let password = text.trim().to_string();
            anyhow::ensure!(
                password.len() >= 12,
                "{} holds a password shorter than 12 characters; delete the file to get a new one",
                path.display()
            );
            Ok(password)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            // 24 hex digits: 96 bits, easy to copy from a terminal.
            let password: String = super::session::random_token()[..24].to_string();
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            writeln!(f, "{password}")
                .and_then(|_| f.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(password)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_then_reads_the_same_password() {
        let dir = tempfile::tempdir().unwrap();
        let mut auth = AuthSettings {
            initial_admin: Some("admin".into()),
            ..Default::default()
        };
        let path = apply(&mut auth, dir.path()).unwrap().unwrap();
        let password = std::fs::read_to_string(&path).unwrap().trim().to_string();
        assert_eq!(password.len(), 24);
        let mode = std::fs::metadata(&path).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        assert_eq!(auth.users.len(), 1);
        assert_eq!(auth.users[0].role, Role::Operator);
        assert!(super::super::password::verify(
            &password,
            &auth.users[0].password_hash
        ));
        // A restart reads the same file.
        let mut again = AuthSettings {
            initial_admin: Some("admin".into()),
            ..Default::default()
        };
        apply(&mut again, dir.path()).unwrap();
        assert!(super::super::password::verify(
            &password,
            &again.users[0].password_hash
        ));
    }

    #[test]
    fn configured_user_of_that_name_wins_and_proxy_mode_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let mut auth = AuthSettings {
            initial_admin: Some("admin".into()),
            users: vec![UserEntry {
                name: "admin".into(),
                role: Role::Viewer,
                password_hash: "x".into(),
                maintainer: None,
            }],
            ..Default::default()
        };
        assert!(apply(&mut auth, dir.path()).unwrap().is_none());
        assert!(!dir.path().join(PASSWORD_FILE).exists());
        let mut proxy = AuthSettings {
            initial_admin: Some("admin".into()),
            mode: AuthMode::Proxy,
            ..Default::default()
        };
        assert!(apply(&mut proxy, dir.path()).is_err());
    }
}
