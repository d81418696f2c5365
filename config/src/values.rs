//! Flag value types that need their own parsing: durations (`5m`), octal file modes (`0644`),
//! port ranges (`30000-32767`).

use std::fmt;
use std::str::FromStr;

/// A duration written as Go and K3s write them: `500ms`, `30s`, `5m`, `1h30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration(pub std::time::Duration);

impl FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid duration {s:?} (use e.g. 30s, 5m, 1h30m)");
        if s == "0" {
            return Ok(Duration(std::time::Duration::ZERO));
        }
        let mut total = std::time::Duration::ZERO;
        let mut rest = s;
        if rest.is_empty() {
            return Err(bad());
        }
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
            let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
            let unit = match &rest[..unit_len] {
                "ms" => std::time::Duration::from_millis(n),
                "s" => std::time::Duration::from_secs(n),
                "m" => std::time::Duration::from_secs(n * 60),
                "h" => std::time::Duration::from_secs(n * 3600),
                _ => return Err(bad()),
            };
            total += unit;
            rest = &rest[unit_len..];
        }
        Ok(Duration(total))
    }
}

/// A file mode given in octal, as `--write-kubeconfig-mode 0644` (also `644`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMode(pub u32);

impl FromStr for FileMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match u32::from_str_radix(s, 8) {
            Ok(m) if m <= 0o7777 => Ok(FileMode(m)),
            _ => Err(format!("invalid file mode {s:?} (use octal, e.g. 0644)")),
        }
    }
}

impl fmt::Display for FileMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

/// An inclusive port range `LOW-HIGH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
}

impl FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid port range {s:?} (use LOW-HIGH, e.g. 30000-32767)");
        let (low, high) = s.split_once('-').ok_or_else(bad)?;
        let (low, high): (u16, u16) =
            (low.trim().parse().map_err(|_| bad())?, high.trim().parse().map_err(|_| bad())?);
        if low == 0 || low > high {
            return Err(bad());
        }
        Ok(PortRange { low, high })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go() {
        let d = |s: &str| s.parse::<Duration>().map(|d| d.0.as_millis());
        assert_eq!(d("5m"), Ok(300_000));
        assert_eq!(d("1h30m"), Ok(5_400_000));
        assert_eq!(d("500ms"), Ok(500));
        assert_eq!(d("0"), Ok(0));
        assert!(d("5").is_err());
        assert!(d("m").is_err());
        assert!(d("5x").is_err());
        assert!(d("").is_err());
    }

    #[test]
    fn modes_are_octal() {
        assert_eq!("0644".parse::<FileMode>(), Ok(FileMode(0o644)));
        assert_eq!("600".parse::<FileMode>(), Ok(FileMode(0o600)));
        assert!("0988".parse::<FileMode>().is_err());
        assert_eq!(FileMode(0o600).to_string(), "0600");
    }

    #[test]
    fn port_ranges_are_ordered() {
        assert_eq!("30000-32767".parse::<PortRange>(), Ok(PortRange { low: 30000, high: 32767 }));
        assert!("32767-30000".parse::<PortRange>().is_err());
        assert!("30000".parse::<PortRange>().is_err());
    }
}
