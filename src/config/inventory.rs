//! The camera inventory: a CSV that ops staff keep in spreadsheets, or the same in TOML.
//!
//! CSV header: `id,name,url,username,password,region,unit,class`; optional `maintainer`
//! (the 运维单位 that repairs the camera: its tickets, SLA and KPIs), `mode`
//! (`hold`/`patrol`), `enabled` and `decommissioned` (`true`/`false`; a decommissioned camera
//! is the same as a disabled one: kept, neither watched nor counted) columns; any other column
//! is kept as a label. TOML: an array of `[[camera]]` tables with the same keys (`labels` a table).
//!
//! A bad row is reported with its line number and skipped; the rest of the fleet runs.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Serialize;

use crate::redact::{Secret, is_secret_key, url_for_display};

/// How the camera is watched; decides whether silence between events is a stall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A session kept open; media is expected continuously.
    #[default]
    Hold,
    /// A round every N seconds: connect, first keyframe, teardown.
    Patrol,
}

impl Mode {
    /// The name used in config and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Hold => "hold",
            Mode::Patrol => "patrol",
        }
    }
}

/// The groups a camera is counted in for online rates.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Default)]
pub struct Groups {
    /// Region, e.g. a township or street office (乡镇/街道).
    pub region: String,
    /// Owning or using unit, e.g. a police station or the traffic police (单位).
    pub unit: String,
    /// Camera class (一类/二类/三类点位): "1", "2", "3".
    pub class: String,
    /// Maintenance contractor (运维单位) responsible for repairs; its tickets and KPIs.
    pub maintainer: String,
}

/// A grouping dimension.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// By region (township / street office).
    Region,
    /// By owning unit.
    Unit,
    /// By camera class (1, 2, 3).
    Class,
    /// By maintenance contractor (运维单位).
    Maintainer,
}

impl GroupBy {
    /// All dimensions, in display order.
    pub const ALL: [GroupBy; 4] = [
        GroupBy::Region,
        GroupBy::Unit,
        GroupBy::Class,
        GroupBy::Maintainer,
    ];

    /// The dimension's name.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Region => "region",
            GroupBy::Unit => "unit",
            GroupBy::Class => "class",
            GroupBy::Maintainer => "maintainer",
        }
    }
}

impl Groups {
    /// The value of one dimension.
    pub fn get(&self, by: GroupBy) -> &str {
        match by {
            GroupBy::Region => &self.region,
            GroupBy::Unit => &self.unit,
            GroupBy::Class => &self.class,
            GroupBy::Maintainer => &self.maintainer,
        }
    }
}

/// The value used for a group column left empty.
pub const UNASSIGNED: &str = "unassigned";

/// One camera, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    /// Unique id (the inventory key, used in metrics and the API).
    pub id: String,
    /// Human name, e.g. "城关镇人民路口". Defaults to the id.
    pub name: String,
    /// Stream URL without credentials.
    pub url: url::Url,
    /// RTSP user name, if the camera needs one.
    pub username: Option<String>,
    /// RTSP password; never printed.
    pub password: Secret,
    /// Region / unit / class.
    pub groups: Groups,
    /// Extra columns.
    pub labels: BTreeMap<String, String>,
    /// Watching mode from the row; `None` = decided by config.
    pub mode: Option<Mode>,
    /// Disabled cameras are kept in the inventory but not watched nor counted.
    pub enabled: bool,
}

/// A row that was not loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// 1-based line in the file.
    pub line: usize,
    /// The row's id, when it had one.
    pub id: Option<String>,
    /// What was wrong (never contains a password).
    pub reason: String,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.id {
            Some(id) => write!(f, "line {}: camera {id:?}: {}", self.line, self.reason),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

/// A loaded inventory: the usable cameras and the rejected rows.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Cameras in file order.
    pub cameras: Vec<Camera>,
    /// Rows skipped, in file order.
    pub rejected: Vec<Rejected>,
}

impl Inventory {
    /// Enabled cameras.
    pub fn enabled(&self) -> impl Iterator<Item = &Camera> {
        self.cameras.iter().filter(|c| c.enabled)
    }
}

/// Errors that stop the whole file from loading (as opposed to a bad row).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read inventory {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file as a whole is malformed.
    #[error("inventory {path}: {message}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong, with a line number where known.
        message: String,
    },
}

/// Loads an inventory, choosing CSV or TOML by the file extension (`.toml` = TOML).
pub fn load(path: &Path) -> Result<Inventory, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let is_toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    let parsed = if is_toml {
        parse_toml(&text)
    } else {
        parse_csv(&text)
    };
    parsed.map_err(|message| LoadError::Format {
        path: path.display().to_string(),
        message,
    })
}

/// A row before validation: column name → value, plus its line.
struct RawRow {
    line: usize,
    fields: BTreeMap<String, String>,
}

/// The columns the inventory reads, in the order a header lists them; the first nine are the
/// common header (the simulator writes it), the rest optional.
pub const COLUMNS: [&str; 12] = [
    "id",
    "name",
    "url",
    "username",
    "password",
    "region",
    "unit",
    "class",
    "maintainer",
    "mode",
    "enabled",
    "decommissioned",
];

/// Parses CSV text (header required). Errors only when the header itself is unusable.
pub fn parse_csv(text: &str) -> Result<Inventory, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text); // Excel writes a BOM
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| format!("line 1: unreadable header: {e}"))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    for required in ["id", "url"] {
        if !header.iter().any(|h| h == required) {
            return Err(format!(
                "line 1: the header has no `{required}` column (expected id,name,url,username,password,region,unit,class)"
            ));
        }
    }
    let mut rows = Vec::new();
    let mut early = Vec::new();
    for rec in rdr.records() {
        match rec {
            Ok(rec) => {
                let line = rec.position().map_or(0, |p| p.line() as usize);
                if rec.iter().all(|f| f.is_empty()) {
                    continue; // blank line
                }
                let fields = header
                    .iter()
                    .cloned()
                    .zip(rec.iter().map(str::to_string))
                    .collect();
                if rec.len() > header.len() {
                    early.push(Rejected {
                        line,
                        id: rec
                            .get(header.iter().position(|h| h == "id").unwrap())
                            .map(str::to_string),
                        reason: format!("{} fields but the header has {}", rec.len(), header.len()),
                    });
                    continue;
                }
                rows.push(RawRow { line, fields });
            }
            Err(e) => early.push(Rejected {
                line: e.position().map_or(0, |p| p.line() as usize),
                id: None,
                reason: format!("unreadable row: {e}"),
            }),
        }
    }
    let mut inv = validate(rows);
    inv.rejected.extend(early);
    inv.rejected.sort_by_key(|r| r.line);
    Ok(inv)
}

/// Parses TOML text: `[[camera]]` tables. Errors only when the file is not TOML at all.
pub fn parse_toml(text: &str) -> Result<Inventory, String> {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        camera: Vec<toml::Spanned<toml::Table>>,
    }
    let file: File = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        match line {
            Some(l) => format!("line {l}: {}", e.message()),
            None => e.message().to_string(),
        }
    })?;
    let mut rows = Vec::new();
    let mut early = Vec::new();
    for spanned in file.camera {
        let line = line_of(text, spanned.span().start);
        let mut fields = BTreeMap::new();
        let mut bad = None;
        for (k, v) in spanned.into_inner() {
            match (k.as_str(), v) {
                ("labels", toml::Value::Table(t)) => {
                    for (lk, lv) in t {
                        fields.insert(lk, value_text(lv));
                    }
                }
                (_, toml::Value::Table(_) | toml::Value::Array(_)) => {
                    bad = Some(format!("`{k}` must be a plain value"));
                }
                (_, v) => {
                    fields.insert(k, value_text(v));
                }
            }
        }
        match bad {
            Some(reason) => early.push(Rejected {
                line,
                id: fields.get("id").cloned(),
                reason,
            }),
            None => rows.push(RawRow { line, fields }),
        }
    }
    let mut inv = validate(rows);
    inv.rejected.extend(early);
    inv.rejected.sort_by_key(|r| r.line);
    Ok(inv)
}

fn value_text(v: toml::Value) -> String {
    match v {
        toml::Value::String(s) => s,
        other => other.to_string(),
    }
}

fn line_of(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].matches('\n').count() + 1
}

fn validate(rows: Vec<RawRow>) -> Inventory {
    let mut inv = Inventory::default();
    let mut seen = HashSet::new();
    for row in rows {
        let id = row.fields.get("id").filter(|s| !s.is_empty()).cloned();
        match camera_from_row(&row) {
            Ok(cam) => {
                if !seen.insert(cam.id.clone()) {
                    inv.rejected.push(Rejected {
                        line: row.line,
                        id,
                        reason: "duplicate id (the first row with it is kept)".into(),
                    });
                } else {
                    inv.cameras.push(cam);
                }
            }
            Err(reason) => inv.rejected.push(Rejected {
                line: row.line,
                id,
                reason,
            }),
        }
    }
    inv
}

fn camera_from_row(row: &RawRow) -> Result<Camera, String> {
    let get = |k: &str| {
        row.fields
            .get(k)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    };
    let id = get("id").ok_or("missing id")?.to_string();
    if id
        .chars()
        .any(|c| c.is_control() || c == '/' || c.is_whitespace())
    {
        return Err("id must not contain spaces, slashes or control characters".into());
    }
    let raw_url = get("url").ok_or("missing url")?;
    let url = url::Url::parse(raw_url).map_err(|e| {
        // A shifted row can put a password in the url column: echo only what looks like a URL.
        if raw_url.contains("://") {
            format!("unparsable url {:?}: {e}", url_for_display(raw_url))
        } else {
            format!(
                "the url column holds no URL ({} characters, not shown; is the row shifted?)",
                raw_url.chars().count()
            )
        }
    })?;
    if url.scheme() != "rtsp" {
        return Err(format!(
            "unknown url scheme {:?} (only rtsp:// is supported)",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("url {:?} has no host", url_for_display(raw_url)));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "credentials inside the url {:?}: put them in the username and password columns",
            url_for_display(raw_url)
        ));
    }
    let mode = match get("mode") {
        None => None,
        Some("hold") => Some(Mode::Hold),
        Some("patrol") => Some(Mode::Patrol),
        // Values are not echoed: in a shifted row this column may hold a password.
        Some(_) => return Err("the mode column must be hold, patrol or empty".into()),
    };
    let flag = |k: &str| match get(k).map(str::to_ascii_lowercase).as_deref() {
        None => Ok(None),
        Some("true" | "yes" | "1") => Ok(Some(true)),
        Some("false" | "no" | "0") => Ok(Some(false)),
        Some(_) => Err(format!("the {k} column must be true or false")),
    };
    // A decommissioned camera (已拆除/报废) is kept for its history but neither watched nor
    // counted: the same as `enabled = false`, named as ops offices name it.
    let enabled = flag("enabled")?.unwrap_or(true) && !flag("decommissioned")?.unwrap_or(false);
    let group = |k: &str| get(k).unwrap_or(UNASSIGNED).to_string();
    let labels = row
        .fields
        .iter()
        // A `pwd` or `secret` column is a credential, never a label every viewer sees.
        .filter(|(k, v)| !COLUMNS.contains(&k.as_str()) && !v.is_empty() && !is_secret_key(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Camera {
        name: get("name").unwrap_or(&id).to_string(),
        id,
        url,
        username: get("username").map(str::to_string),
        password: Secret::new(row.fields.get("password").cloned().unwrap_or_default()),
        groups: Groups {
            region: group("region"),
            unit: group("unit"),
            class: group("class"),
            maintainer: group("maintainer"),
        },
        labels,
        mode,
        enabled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "id,name,url,username,password,region,unit,class";

    #[test]
    fn good_rows_load_with_labels() {
        let csv = format!(
            "{HEADER},pole\ncam1,人民路口,rtsp://10.0.0.1:554/Streaming/101,admin,pw1,城关镇,交警,1,P-17\n\
             cam2,,rtsp://10.0.0.2/h264,,,,,,\n"
        );
        let inv = parse_csv(&csv).unwrap();
        assert!(inv.rejected.is_empty(), "{:?}", inv.rejected);
        assert_eq!(inv.cameras.len(), 2);
        let c = &inv.cameras[0];
        assert_eq!(c.name, "人民路口");
        assert_eq!(c.groups.region, "城关镇");
        assert_eq!(c.labels.get("pole").map(String::as_str), Some("P-17"));
        assert_eq!(c.password.expose(), "pw1");
        let d = &inv.cameras[1];
        assert_eq!(d.name, "cam2");
        assert_eq!(d.username, None);
        assert_eq!(d.groups.class, UNASSIGNED);
    }

    #[test]
    fn bad_rows_are_reported_by_line_and_skipped() {
        let csv = format!(
            "{HEADER}\n\
             ok1,a,rtsp://h/1,,,r,u,1\n\
             ,noid,rtsp://h/2,,,r,u,1\n\
             ok1,dup,rtsp://h/3,,,r,u,1\n\
             bad,x,rtsp://[::1,,,r,u,1\n\
             http1,x,http://h/4,,,r,u,1\n\
             cred,x,rtsp://admin:SECRETPW@h/5,,,r,u,1\n\
             ok2,b,rtsp://h/6,,,r,u,2\n"
        );
        let inv = parse_csv(&csv).unwrap();
        let ids: Vec<_> = inv.cameras.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["ok1", "ok2"]);
        let lines: Vec<_> = inv.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, [3, 4, 5, 6, 7]);
        assert!(inv.rejected[0].reason.contains("missing id"));
        assert!(inv.rejected[1].reason.contains("duplicate"));
        assert!(inv.rejected[2].reason.contains("unparsable"));
        assert!(inv.rejected[3].reason.contains("scheme"));
        assert!(inv.rejected[4].reason.contains("credentials"));
        let all = format!("{:?}", inv.rejected);
        assert!(!all.contains("SECRETPW"), "password leaked: {all}");
    }

    #[test]
    fn header_without_url_is_a_file_error() {
        let err = parse_csv("id,name\n1,a\n").unwrap_err();
        assert!(err.contains("line 1") && err.contains("url"), "{err}");
    }

    #[test]
    fn toml_inventory_with_line_numbers() {
        let toml = r#"
[[camera]]
id = "c1"
url = "rtsp://h/1"
region = "东城街道"
class = 2
labels = { pole = "P-1" }

[[camera]]
name = "no id"
url = "rtsp://h/2"

[[camera]]
id = "c3"
url = "rtsp://h/3"
mode = "patrol"
"#;
        let inv = parse_toml(toml).unwrap();
        assert_eq!(inv.cameras.len(), 2);
        assert_eq!(inv.cameras[0].groups.class, "2");
        assert_eq!(inv.cameras[0].labels["pole"], "P-1");
        assert_eq!(inv.cameras[1].mode, Some(Mode::Patrol));
        assert_eq!(inv.rejected.len(), 1);
        assert_eq!(inv.rejected[0].line, 9);
    }

    #[test]
    fn toml_syntax_error_names_the_line() {
        let err = parse_toml("[[camera]]\nid = \"a\"\nurl = \n").unwrap_err();
        assert!(err.starts_with("line 3"), "{err}");
    }

    #[test]
    fn disabled_and_mode_columns() {
        let csv = "id,url,mode,enabled\na,rtsp://h/1,patrol,false\nb,rtsp://h/2,walk,\n";
        let inv = parse_csv(csv).unwrap();
        assert_eq!(inv.cameras.len(), 1);
        assert!(!inv.cameras[0].enabled);
        assert_eq!(inv.enabled().count(), 0);
        assert!(inv.rejected[0].reason.contains("mode column"));
    }

    #[test]
    fn maintainer_and_decommissioned_columns() {
        let csv = "id,url,maintainer,decommissioned,enabled\n\
                   a,rtsp://h/1,华安运维,,\n\
                   b,rtsp://h/2,,yes,\n\
                   c,rtsp://h/3,天网科技,false,true\n\
                   d,rtsp://h/4,,maybe,\n";
        let inv = parse_csv(csv).unwrap();
        let ids: Vec<_> = inv.cameras.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(inv.cameras[0].groups.maintainer, "华安运维");
        assert_eq!(inv.cameras[1].groups.maintainer, UNASSIGNED);
        assert!(inv.cameras[0].enabled && !inv.cameras[1].enabled && inv.cameras[2].enabled);
        // Neither column becomes a label; a bad flag is rejected by column name.
        assert!(inv.cameras.iter().all(|c| c.labels.is_empty()));
        assert!(inv.rejected[0].reason.contains("decommissioned column"));
        assert_eq!(inv.cameras[2].groups.get(GroupBy::Maintainer), "天网科技");
    }

    #[test]
    fn shifted_rows_and_secret_columns_never_show_a_password() {
        // The name is missing: everything after it moved one column left.
        let csv = "id,name,url,username,password,mode,enabled,pwd,pole\n\
                   a,rtsp://h/1,admin,hunter2-pass,hold,true,,,\n\
                   b,B,rtsp://h/2,admin,x,,,,\n\
                   c,C,rtsp://h/3,admin,x,hunter2-pass,,,\n\
                   d,D,rtsp://h/4,admin,x,,hunter2-pass,,\n\
                   e,E,rtsp://h/5,admin,x,,,hunter2-pass,P-1\n";
        let inv = parse_csv(csv).unwrap();
        let shown = format!("{:?} {:?}", inv.rejected, inv.cameras);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(inv.rejected.len(), 3, "{:?}", inv.rejected);
        let e = inv.cameras.iter().find(|c| c.id == "e").unwrap();
        assert_eq!(e.labels.get("pole").map(String::as_str), Some("P-1"));
        assert!(!e.labels.contains_key("pwd"));
    }
}
