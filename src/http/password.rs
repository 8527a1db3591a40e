//! Password hashes (Argon2id, PHC strings) and `sharpeyes hash-password`.

use std::io::BufRead;

use anyhow::Context;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;

/// Hashes a password with Argon2id (the crate's defaults: 19 MiB, 2 passes) and a random salt.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash: {e}"))
}

/// Checks that `phc` is a PHC string this build can verify.
pub fn check_phc(phc: &str) -> Result<(), String> {
    PasswordHash::new(phc)
        .map(|_| ())
        .map_err(|e| format!("not a password hash ({e}); make one with `sharpeyes hash-password`"))
}

/// Whether `password` matches the PHC string (false on a malformed string).
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Arguments of `sharpeyes hash-password`.
#[derive(clap::Args, Debug, Clone)]
pub struct HashPasswordArgs {}

/// Reads a password from the first line of stdin (never from the command line, which other
/// users and the shell history can see) and prints its Argon2id PHC string for `[[auth.users]]`.
pub fn run(_args: &HashPasswordArgs) -> anyhow::Result<()> {
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprint!("password (echoed; pipe it in to avoid that): ");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(!password.is_empty(), "empty password on stdin");
    println!("{}", hash(password)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let h = hash("s3cret pass").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(check_phc(&h).is_ok());
        assert!(verify("s3cret pass", &h));
        assert!(!verify("s3cret pas", &h));
        assert!(!verify("s3cret pass", "garbage"));
        assert!(check_phc("garbage").is_err());
    }
}
