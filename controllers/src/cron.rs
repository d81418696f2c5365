//! Cron schedules as CronJobs write them: five fields (minute, hour, day of month, month, day
//! of week) with `*`, lists, ranges, steps and month/day names, or a macro (`@hourly`,
//! `@daily`, `@weekly`, `@monthly`, `@yearly`), read in UTC or in an IANA time zone from the
//! system's zone database. Plain logic.

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
    /// The zone the fields are read in (`spec.timeZone`); UTC when none.
    zone: Option<jiff::tz::TimeZone>,
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
            zone: None,
        })
    }

    /// Read the fields in the IANA time zone `name` (from the system's zone database), as
    /// `spec.timeZone` asks; upstream's wording when it is unknown.
    pub fn in_zone(mut self, name: &str) -> Result<Schedule, String> {
        let zone =
            jiff::tz::TimeZone::get(name).map_err(|_| format!("unknown time zone {name}"))?;
        self.zone = Some(zone);
        Ok(self)
    }

    /// The wall-clock time at instant `t` in the schedule's zone.
    fn local(&self, t: OffsetDateTime) -> OffsetDateTime {
        let offset = self.zone.as_ref().and_then(|z| {
            let at = jiff::Timestamp::from_second(t.unix_timestamp()).ok()?;
            time::UtcOffset::from_whole_seconds(z.to_offset(at).seconds()).ok()
        });
        t.to_offset(offset.unwrap_or(time::UtcOffset::UTC))
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

    /// The first scheduled minute strictly after `after`, within five years, as an instant
    /// (UTC). Minutes are matched on the zone's wall clock: across a change to summer time the
    /// skipped minutes never come, and a repeated hour matches twice.
    pub fn next_after(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        let after = after.to_offset(time::UtcOffset::UTC);
        let mut t =
            after.replace_second(0).ok()?.replace_nanosecond(0).ok()? + Duration::minutes(1);
        let end = after + Duration::days(5 * 366);
        while t < end {
            let local = self.local(t);
            if !self.months[u8::from(local.month()) as usize] {
                // On to the next local hour (a day can be 23 or 25 hours long in a zone).
                t += Duration::minutes(60 - i64::from(local.minute()));
                continue;
            }
            if self.matches(local) {
                return Some(t);
            }
            t += if self.hours[local.hour() as usize] {
                Duration::minutes(1)
            } else {
                Duration::minutes(60 - i64::from(local.minute()))
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

    #[test]
    fn time_zones_move_the_schedule_to_their_wall_clock() {
        let nine = Schedule::parse("0 9 * * *").unwrap();
        let tokyo = nine.clone().in_zone("Asia/Tokyo").unwrap();
        assert_eq!(tokyo.next_after(at("2026-11-25T01:00:00Z")), Some(at("2026-11-26T00:00:00Z")));
        // New York: 09:00 is 14:00Z in winter and 13:00Z in summer.
        let ny = nine.clone().in_zone("America/New_York").unwrap();
        assert_eq!(ny.next_after(at("2026-11-25T00:00:00Z")), Some(at("2026-11-25T14:00:00Z")));
        assert_eq!(ny.next_after(at("2026-07-01T00:00:00Z")), Some(at("2026-07-01T13:00:00Z")));
        // 02:30 does not happen on the morning clocks go forward (8 March 2026).
        let half_two = Schedule::parse("30 2 * * *").unwrap().in_zone("America/New_York").unwrap();
        assert_eq!(
            half_two.next_after(at("2026-03-08T00:00:00Z")),
            Some(at("2026-03-09T06:30:00Z"))
        );
        // A month that begins the day after clocks go forward (Berlin, 31 March 2030).
        let april = Schedule::parse("0 0 1 4 *").unwrap().in_zone("Europe/Berlin").unwrap();
        assert_eq!(april.next_after(at("2030-03-30T12:00:00Z")), Some(at("2030-03-31T22:00:00Z")));
        assert_eq!(nine.in_zone("Mars/Olympus").unwrap_err(), "unknown time zone Mars/Olympus");
    }
}
