//! The alert sinks' sections of the settings file (`[mqtt]`, `[webhook]`, `[kafka]`,
//! `[log_sink]`), owned by the stage that reads them; `crate::settings` gathers them.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::config::duration::duration;

/// What the sinks need of the settings: their sections and the data directory.
#[derive(Debug, Clone, Default)]
pub struct SinkSettings {
    /// `[mqtt]`.
    pub mqtt: MqttSettings,
    /// `[webhook]`.
    pub webhook: WebhookSettings,
    /// `[kafka]`.
    pub kafka: KafkaSettings,
    /// `[log_sink]`.
    pub log_sink: LogSinkSettings,
    /// Where the log sink's default file lives.
    pub data_dir: PathBuf,
}

/// The MQTT sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttSettings {
    /// Broker URL (`mqtt://host:1883`); none: no MQTT sink.
    pub url: Option<String>,
    /// Prefix of every topic.
    pub topic_prefix: String,
    /// Client id (unique per broker); default `sharpeyes-<shard index>-<pid>`.
    pub client_id: Option<String>,
    /// With `mqtts://`: PEM file of the CA to trust (default: the system's bundle).
    pub ca_file: Option<PathBuf>,
    /// With `mqtts://`: PEM client certificate for mutual TLS (with `client_key`).
    pub client_cert: Option<PathBuf>,
    /// With `mqtts://`: PEM private key of `client_cert`.
    pub client_key: Option<PathBuf>,
}

impl MqttSettings {
    /// The TLS files of the section.
    pub fn tls(&self) -> crate::alerts::sinks::tls::TlsFiles {
        crate::alerts::sinks::tls::TlsFiles {
            ca_file: self.ca_file.clone(),
            client_cert: self.client_cert.clone(),
            client_key: self.client_key.clone(),
        }
    }
}

impl Default for MqttSettings {
    fn default() -> Self {
        Self {
            url: None,
            topic_prefix: "sharpeyes".into(),
            client_id: None,
            ca_file: None,
            client_cert: None,
            client_key: None,
        }
    }
}

/// The HTTP webhook sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// Receiver URL (`http://` or `https://host:port/path`); none: no webhook sink.
    pub url: Option<String>,
    /// With `https://`: PEM file of the CA to trust (default: the system's bundle).
    pub ca_file: Option<PathBuf>,
    /// With `https://`: PEM client certificate for mutual TLS (with `client_key`).
    pub client_cert: Option<PathBuf>,
    /// With `https://`: PEM private key of `client_cert`.
    pub client_key: Option<PathBuf>,
    /// Whole-request timeout.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// Extra request headers.
    pub headers: std::collections::BTreeMap<String, String>,
    /// Environment variable holding the HMAC-SHA256 signing secret.
    pub secret_env: Option<String>,
    /// File holding the signing secret (trailing newline ignored).
    pub secret_file: Option<PathBuf>,
}

impl WebhookSettings {
    /// The TLS files of the section.
    pub fn tls(&self) -> crate::alerts::sinks::tls::TlsFiles {
        crate::alerts::sinks::tls::TlsFiles {
            ca_file: self.ca_file.clone(),
            client_cert: self.client_cert.clone(),
            client_key: self.client_key.clone(),
        }
    }
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            url: None,
            ca_file: None,
            client_cert: None,
            client_key: None,
            timeout: Duration::from_secs(10),
            headers: Default::default(),
            secret_env: None,
            secret_file: None,
        }
    }
}

/// The Kafka sink.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSettings {
    /// Bootstrap brokers (`host:port,...`); none: no Kafka sink.
    pub brokers: Option<String>,
    /// Topic of the alert messages.
    pub topic: String,
    /// How long one message may take to be acknowledged before it is retried.
    #[serde(deserialize_with = "duration")]
    pub delivery_timeout: Duration,
    /// Further librdkafka producer properties (`security.protocol`, `ssl.ca.location`, …).
    pub options: std::collections::BTreeMap<String, String>,
    /// The environment variable holding `sasl.password` (kept out of the settings file).
    pub sasl_password_env: Option<String>,
}

/// Whether a librdkafka property holds a secret (its value is never shown).
pub fn is_secret_option(key: &str) -> bool {
    key.contains("password") || key.contains("secret") || key.starts_with("ssl.key.")
}

/// Options with the values of secret keys replaced by `***`, for `Debug`.
pub fn redacted(
    options: &std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<&str, &str> {
    (options.iter())
        .map(|(k, v)| {
            (
                k.as_str(),
                if is_secret_option(k) {
                    "***"
                } else {
                    v.as_str()
                },
            )
        })
        .collect()
}

impl std::fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSettings")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("delivery_timeout", &self.delivery_timeout)
            .field("options", &redacted(&self.options))
            .field("sasl_password_env", &self.sasl_password_env)
            .finish()
    }
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            brokers: None,
            topic: "sharpeyes.alerts".into(),
            delivery_timeout: Duration::from_secs(30),
            options: Default::default(),
            sasl_password_env: None,
        }
    }
}

/// The JSON-lines log sink.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSinkSettings {
    /// Append every alert message to a file.
    pub enabled: bool,
    /// The file; default `<data_dir>/alerts.jsonl`.
    pub path: Option<PathBuf>,
}
