//! TLS material of the sinks that cross the city network (`mqtts://` brokers, `https://`
//! receivers): the CA to trust and an optional client certificate, read once at start.
//!
//! ```toml
//! [mqtt]
//! url = "mqtts://broker.example:8883"
//! ca_file = "/etc/sharpeyes/city-ca.pem"      # default: the system's CA bundle
//! client_cert = "/etc/sharpeyes/client.pem"   # optional, with client_key (mutual TLS)
//! client_key = "/etc/sharpeyes/client.key"
//! ```
//!
//! A file that is missing, unreadable or holds no PEM certificate (or key) stops the daemon at
//! start with a message naming the file and the section; TLS settings on a plain `mqtt://` or
//! `http://` URL are refused rather than ignored. Private keys are never logged.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Where the system's CA bundle usually is (Debian/Ubuntu, then Fedora/RHEL, then Alpine);
/// `SSL_CERT_FILE` comes first.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// The TLS files a sink section names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM file of the CA certificate(s) to trust; `None`: the system's bundle.
    pub ca_file: Option<PathBuf>,
    /// PEM file of the client certificate chain (mutual TLS).
    pub client_cert: Option<PathBuf>,
    /// PEM file of the client certificate's private key.
    pub client_key: Option<PathBuf>,
}

/// [`TlsFiles`] read and checked.
#[derive(Clone)]
pub struct TlsMaterial {
    /// PEM text of the trusted CA certificates (the given file or the system bundle).
    pub ca_pem: Vec<u8>,
    /// PEM text of the client certificate chain and of its key.
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("ca_pem_bytes", &self.ca_pem.len())
            .field("client_cert", &self.client.is_some())
            .finish()
    }
}

impl TlsFiles {
    /// Whether any file is named (a plain URL with TLS files is a mistake worth stopping for).
    pub fn is_set(&self) -> bool {
        self.ca_file.is_some() || self.client_cert.is_some() || self.client_key.is_some()
    }

    /// Refuses TLS files on a URL that will not use them (`section`: e.g. `[mqtt]`).
    pub fn refuse_on_plain(&self, section: &str, scheme: &str) -> anyhow::Result<()> {
        if self.is_set() {
            bail!(
                "{section}: ca_file/client_cert/client_key are set but the url is {scheme}:// \
                 (plain text); use the TLS scheme or remove them"
            );
        }
        Ok(())
    }

    /// Reads the files (`section` names them in errors).
    pub fn load(&self, section: &str) -> anyhow::Result<TlsMaterial> {
        let ca_pem = match &self.ca_file {
            Some(p) => read_pem(section, "ca_file", p, "CERTIFICATE")?,
            None => system_bundle().with_context(|| {
                format!(
                    "{section}: no ca_file and no system CA bundle found (tried $SSL_CERT_FILE, \
                     {}); set ca_file",
                    SYSTEM_BUNDLES.join(", ")
                )
            })?,
        };
        let client = match (&self.client_cert, &self.client_key) {
            (None, None) => None,
            (Some(c), Some(k)) => Some((
                read_pem(section, "client_cert", c, "CERTIFICATE")?,
                read_pem(section, "client_key", k, "PRIVATE KEY")?,
            )),
            _ => bail!("{section}: client_cert and client_key go together"),
        };
        Ok(TlsMaterial { ca_pem, client })
    }
}

/// Reads a PEM file and checks it holds a `-----BEGIN …{label}-----` block.
fn read_pem(section: &str, key: &str, path: &Path, label: &str) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("{section}: cannot read {key} {}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let found = text
        .lines()
        .any(|l| l.starts_with("-----BEGIN ") && l.trim_end().ends_with(&format!("{label}-----")));
    if !found {
        bail!("{section}: {key} {} holds no PEM {label}", path.display());
    }
    Ok(bytes)
}

fn system_bundle() -> anyhow::Result<Vec<u8>> {
    let env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    for p in env
        .iter()
        .map(PathBuf::as_path)
        .chain(SYSTEM_BUNDLES.iter().map(Path::new))
    {
        if let Ok(b) = std::fs::read(p) {
            return Ok(b);
        }
    }
    bail!("no CA bundle")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";

    #[test]
    fn files_are_checked_and_named_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let put = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let (ca, cert, key) = (put("ca.pem", CERT), put("c.pem", CERT), put("k.pem", KEY));
        let ok = TlsFiles {
            ca_file: Some(ca.clone()),
            client_cert: Some(cert.clone()),
            client_key: Some(key.clone()),
        };
        let m = ok.load("[mqtt]").unwrap();
        assert_eq!(m.ca_pem, CERT.as_bytes());
        assert!(!format!("{m:?}").contains("MIIE"), "keys never in Debug");
        let err = |f: TlsFiles| format!("{:#}", f.load("[mqtt]").unwrap_err());
        let half = TlsFiles {
            client_key: None,
            ..ok.clone()
        };
        assert!(err(half).contains("go together"));
        let wrong = TlsFiles {
            ca_file: Some(key.clone()),
            ..ok.clone()
        };
        let e = err(wrong);
        assert!(
            e.contains("ca_file") && e.contains("no PEM CERTIFICATE"),
            "{e}"
        );
        let missing = TlsFiles {
            ca_file: Some(dir.path().join("nope.pem")),
            ..Default::default()
        };
        let e = err(missing);
        assert!(e.contains("[mqtt]") && e.contains("nope.pem"), "{e}");
        assert!(ok.refuse_on_plain("[mqtt]", "mqtt").is_err());
        assert!(
            TlsFiles::default()
                .refuse_on_plain("[mqtt]", "mqtt")
                .is_ok()
        );
    }
}
