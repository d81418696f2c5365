//! Cron schedules as CronJobs write them: five fields (minute, hour, day of month, month, day
//! of week) with `*`, lists, ranges, steps and month/day names, or a macro (`@hourly`,
//! `@daily`, `@weekly`, `@monthly`, `@yearly`). Times are UTC. Plain logic.

use time::{Duration, OffsetDateTime};

/// A parsed schedule: the allowed values of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Vec<bool>,
    months: Vec<bool>,
    weekdays: Vec<bool>,
    /// Both day fields were restricted: a time matches either (cron's rule).
    either_day: bool,
}

const MONTHS: [&str; 12] =
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn value(text: &str, names: &[&str], base: u32) -> Option<u32> {
    if let Ok(n) = text.parse() {
        return Some(n);
    }
    let lower = text.to_ascii_lowercase();
    names.iter().position(|n| *n == lower).map(|i| i as u32 + base)
}

/// One field over `min..=max`; `names` for months and weekdays.
fn field(text: &str, min: u32, max: u32, names: &[&str]) -> Result<Vec<bool>, String> {
    let mut allowed = vec![false; max as usize + 1];
    let bad = || format!("invalid schedule field {text:?}");
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().map_err(|_| bad())?),
            None => (part, 1),
        };
        if step == 0 {
            return Err(bad());
        }
        let (from, to) = match range {
            "*" | "?" => (min, max),
            r => match r.split_once('-') {
                Some((a, b)) => {
                    (value(a, names, min).ok_or_else(bad)?, value(b, names, min).ok_or_else(bad)?)
                }
                None => {
                    let v = value(r, names, min).ok_or_else(bad)?;
                    (v, if part.contains('/') { max } else { v })
                }
            },
        };
        if from < min || to > max || from > to {
            return Err(bad());
        }
        for v in (from..=to).step_by(step as usize) {
            allowed[v as usize] = true;
        }
    }
    Ok(allowed)
}

impl Schedule {
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let text = match text.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let parts: Vec<&str> = text.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = parts.as_slice() else {
            return Err(format!("expected exactly 5 fields, found {}: {text:?}", parts.len()));
        };
        let mut weekdays = field(weekday, 0, 7, &DAYS)?;
        if weekdays[7] {
            weekdays[0] = true; // 7 is Sunday too
        }
        weekdays.truncate(7);
        let restricted = |f: &str| !matches!(f, "*" | "?");
        Ok(Schedule {
            minutes: field(minute, 0, 59, &[])?,
            hours: field(hour, 0, 23, &[])?,
            days: field(day, 1, 31, &[])?,
            months: field(month, 1, 12, &MONTHS)?,
            weekdays,
            either_day: restricted(day) && restricted(weekday),
        })
    }

    fn matches(&self, t: OffsetDateTime) -> bool {
        let day_ok = self.days[t.day() as usize];
        let weekday_ok = self.weekdays[t.weekday().number_days_from_sunday() as usize];
        let days = if self.either_day { day_ok || weekday_ok } else { day_ok && weekday_ok };
        self.minutes[t.minute() as usize]
            && self.hours[t.hour() as usize]
            && self.months[u8::from(t.month()) as usize]
            && days
    }

    /// The first scheduled minute strictly after `after`, within five years.
    pub fn next_after(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        let after = after.to_offset(time::UtcOffset::UTC);
        let mut t =
            after.replace_second(0).ok()?.replace_nanosecond(0).ok()? + Duration::minutes(1);
        let end = after + Duration::days(5 * 366);
        while t < end {
            if !self.months[u8::from(t.month()) as usize] {
                // Skip to the first minute of the next day (months are checked day by day).
                t = t.replace_time(time::Time::MIDNIGHT) + Duration::days(1);
                continue;
            }
            if self.matches(t) {
                return Some(t);
            }
            t += if self.hours[t.hour() as usize] {
                Duration::minutes(1)
            } else {
                Duration::minutes(60 - i64::from(t.minute()))
            };
        }
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(text: &str) -> OffsetDateTime {
        OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
    }

    #[test]
    fn schedules_give_their_next_minute() {
        let every = Schedule::parse("* * * * *").unwrap();
        assert_eq!(every.next_after(at("2026-11-25T10:00:30Z")), Some(at("2026-11-25T10:01:00Z")));
        let quarter = Schedule::parse("*/15 9-17 * * mon-fri").unwrap();
        // 2026-11-28 is a Saturday: the next is Monday 09:00.
        assert_eq!(
            quarter.next_after(at("2026-11-27T17:50:00Z")),
            Some(at("2026-11-30T09:00:00Z"))
        );
        assert_eq!(
            quarter.next_after(at("2026-11-25T09:14:00Z")),
            Some(at("2026-11-25T09:15:00Z"))
        );
        let yearly = Schedule::parse("@yearly").unwrap();
        assert_eq!(yearly.next_after(at("2026-11-25T00:00:00Z")), Some(at("2027-01-01T00:00:00Z")));
        let sunday = Schedule::parse("0 12 * * 7").unwrap();
        assert_eq!(sunday.next_after(at("2026-11-25T00:00:00Z")), Some(at("2026-11-29T12:00:00Z")));
        // Both day fields restricted: either matches (the 1st, or a Friday).
        let either = Schedule::parse("0 0 1 * fri").unwrap();
        assert_eq!(either.next_after(at("2026-11-25T00:00:00Z")), Some(at("2026-11-27T00:00:00Z")));
    }

    #[test]
    fn bad_schedules_are_refused() {
        assert!(Schedule::parse("* * * *").unwrap_err().contains("exactly 5 fields"));
        assert!(Schedule::parse("61 * * * *").is_err());
        assert!(Schedule::parse("*/0 * * * *").is_err());
        assert!(Schedule::parse("* * * foo *").is_err());
    }
}
