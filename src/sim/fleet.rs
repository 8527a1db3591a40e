//! The simulated fleet's cameras: ids, names, groups, URLs, and the inventory CSV for them.

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use anyhow::Context as _;

use super::codec::Codec;

/// Regions (乡镇/街道) assigned round-robin.
const REGIONS: [&str; 4] = ["城关镇", "东城街道", "西城街道", "南湖镇"];
/// Units (单位) assigned round-robin.
const UNITS: [&str; 3] = ["交警大队", "城关派出所", "城管局"];
/// Maintainers (运维单位) assigned round-robin, out of step with regions and units.
const MAINTAINERS: [&str; 2] = ["华安运维", "天网科技"];
/// The inventory CSV header, exactly as `config::inventory` reads it.
pub const INVENTORY_HEADER: &[&str] = crate::config::inventory::COLUMNS.split_at(9).0;

/// One simulated camera.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimCamera {
    /// Position in the fleet, from 0.
    pub index: usize,
    /// Id and mount name, e.g. `cam0001`.
    pub id: String,
    /// Human name, e.g. `城关镇 路口 0001`.
    pub name: String,
    /// Region group.
    pub region: &'static str,
    /// Unit group.
    pub unit: &'static str,
    /// Class group: "1" for about a quarter of the fleet, else "2" or "3".
    pub class: &'static str,
    /// Maintainer group (运维单位).
    pub maintainer: &'static str,
    /// The TCP port the camera is served on (the bound one once listening).
    pub port: u16,
    /// What the camera's video is encoded with.
    pub codec: Codec,
}

impl SimCamera {
    /// The mount path, e.g. `/cam0001`.
    pub fn path(&self) -> String {
        format!("/{}", self.id)
    }

    /// The stream URL on `host`, without credentials.
    pub fn url(&self, host: IpAddr) -> String {
        match host {
            IpAddr::V4(a) => format!("rtsp://{a}:{}/{}", self.port, self.id),
            IpAddr::V6(a) => format!("rtsp://[{a}]:{}/{}", self.port, self.id),
        }
    }
}

/// Builds `n` H.264 cameras named `{prefix}0001`…; camera `i` is served on `port_of(i)`.
pub fn plan(n: usize, prefix: &str, port_of: impl Fn(usize) -> u16) -> Vec<SimCamera> {
    let width = n.to_string().len().max(4);
    (0..n)
        .map(|i| {
            let number = format!("{:0width$}", i + 1);
            let region = REGIONS[i % REGIONS.len()];
            // Class cycles with the camera's rank within its region, shifted per region, so
            // every region gets every class and a quarter of the fleet is class 1.
            let class = match (i / REGIONS.len() + i % REGIONS.len()) % 4 {
                0 => "1",
                1 | 2 => "2",
                _ => "3",
            };
            SimCamera {
                index: i,
                id: format!("{prefix}{number}"),
                name: format!("{region} 路口 {number}"),
                region,
                unit: UNITS[i % UNITS.len()],
                class,
                maintainer: MAINTAINERS[(i / 2) % MAINTAINERS.len()],
                port: port_of(i),
                codec: Codec::H264,
            }
        })
        .collect()
}

/// Writes the inventory CSV of `cameras` (header [`INVENTORY_HEADER`]) to `out`.
pub fn write_inventory(
    out: impl Write,
    cameras: &[SimCamera],
    host: IpAddr,
    username: &str,
    password: &str,
) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(INVENTORY_HEADER)?;
    for c in cameras {
        let url = c.url(host);
        w.write_record([
            c.id.as_str(),
            c.name.as_str(),
            url.as_str(),
            username,
            password,
            c.region,
            c.unit,
            c.class,
            c.maintainer,
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// Writes the inventory CSV to `path` (atomically: a temporary file renamed into place).
pub fn write_inventory_file(
    path: &Path,
    cameras: &[SimCamera],
    host: IpAddr,
    username: &str,
    password: &str,
) -> anyhow::Result<()> {
    let tmp = path.with_extension("csv.tmp");
    let file = std::fs::File::create(&tmp)
        .with_context(|| format!("creating inventory {}", tmp.display()))?;
    write_inventory(
        std::io::BufWriter::new(file),
        cameras,
        host,
        username,
        password,
    )
    .with_context(|| format!("writing inventory {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_names_and_groups() {
        let cams = plan(24, "cam", |i| 8554 + i as u16);
        assert_eq!(cams[0].id, "cam0001");
        assert_eq!(cams[0].name, "城关镇 路口 0001");
        assert_eq!(cams[23].id, "cam0024");
        assert_eq!(cams[1].port, 8555);
        let class1 = cams.iter().filter(|c| c.class == "1").count();
        assert_eq!(class1, 6);
        for region in REGIONS {
            let classes: std::collections::HashSet<_> = cams
                .iter()
                .filter(|c| c.region == region)
                .map(|c| c.class)
                .collect();
            assert_eq!(classes.len(), 3, "{region} has every class");
        }
        assert_eq!(plan(12345, "c", |_| 1)[0].id, "c00001");
    }

    #[test]
    fn inventory_csv() {
        let cams = plan(2, "cam", |_| 8554);
        let mut out = Vec::new();
        write_inventory(&mut out, &cams, "127.0.0.1".parse().unwrap(), "admin", "pw").unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("id,name,url,username,password,region,unit,class,maintainer")
        );
        assert_eq!(
            lines.next(),
            Some(
                "cam0001,城关镇 路口 0001,rtsp://127.0.0.1:8554/cam0001,admin,pw,城关镇,交警大队,1,华安运维"
            )
        );
        let v6 = cams[0].url("::1".parse().unwrap());
        assert_eq!(v6, "rtsp://[::1]:8554/cam0001");
    }
}
