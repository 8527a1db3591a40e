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
}

impl Default for MqttSettings {
    fn default() -> Self {
        Self {
            url: None,
            topic_prefix: "sharpeyes".into(),
            client_id: None,
        }
    }
}

/// The HTTP webhook sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// Receiver URL (`http://host:port/path`); none: no webhook sink.
    pub url: Option<String>,
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

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            url: None,
            timeout: Duration::from_secs(10),
            headers: Default::default(),
            secret_env: None,
            secret_file: None,
        }
    }
}

/// The Kafka sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSettings {
    /// Bootstrap brokers (`host:port,...`); none: no Kafka sink.
    pub brokers: Option<String>,
    /// Topic of the alert messages.
    pub topic: String,
    /// How long one message may take to be acknowledged before it is retried.
    #[serde(deserialize_with = "duration")]
    pub delivery_timeout: Duration,
    /// Further librdkafka producer properties.
    pub options: std::collections::BTreeMap<String, String>,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            brokers: None,
            topic: "sharpeyes.alerts".into(),
            delivery_timeout: Duration::from_secs(30),
            options: Default::default(),
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
