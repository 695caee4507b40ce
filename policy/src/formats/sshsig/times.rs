//! Times (OpenSSH misc.c parse_absolute_time), with the `time` crate, as
//! `allowed_signers` `valid-after`/`valid-before` options use them.

/// Parses `YYYYMMDD[HHMM[SS]]` with an optional `Z` or `UTC` suffix into
/// seconds since the epoch. OpenSSH reads times without the suffix as local
/// time; sigward reads every time as UTC (the agent's verdicts must not
/// depend on the machine's time zone). Returns `None` for anything OpenSSH
/// refuses, and for times before 1970.
pub fn parse_absolute_time(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let digits = if text.len() > 1 && lower.ends_with('z') {
        text.get(..text.len() - 1)?
    } else if text.len() > 3 && lower.ends_with("utc") {
        text.get(..text.len() - 3)?
    } else {
        text
    };
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let field = |a: usize, b: usize| digits.get(a..b).and_then(|f| f.parse::<i64>().ok());
    let (y, mo, d) = (field(0, 4)?, field(4, 6)?, field(6, 8)?);
    let (h, mi) = if digits.len() >= 12 {
        (field(8, 10)?, field(10, 12)?)
    } else {
        (0, 0)
    };
    let s = if digits.len() == 14 {
        field(12, 14)?
    } else {
        0
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 61 {
        return None;
    }
    // OpenSSH (strptime, then timegm) takes day 1 to 31 in every month and
    // normalises what overflows (20200231 is 2 March), and seconds up to 61:
    // so the day and the time are added to the month's first day, not
    // checked as a calendar date.
    let month = time::Month::try_from(u8::try_from(mo).ok()?).ok()?;
    let first = time::Date::from_calendar_date(i32::try_from(y).ok()?, month, 1).ok()?;
    let t =
        first.midnight().assume_utc().unix_timestamp() + (d - 1) * 86_400 + h * 3600 + mi * 60 + s;
    u64::try_from(t).ok().filter(|&t| t > 0)
}

/// Formats seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub(super) fn format_time(t: u64) -> String {
    crate::verify::format_rfc3339(t)
}
