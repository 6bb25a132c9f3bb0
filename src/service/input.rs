//! Request fields every edge parses the same way: delivery days and day ranges.

use chrono::NaiveDate;

use crate::domain::limits;

use super::Error;

/// A delivery day: exactly `YYYY-MM-DD` (no spaces, no sign), within the accepted days.
pub fn day(text: &str, field: &str) -> Result<NaiveDate, Error> {
    if text.is_empty() {
        return Err(Error::invalid(field, "is required (YYYY-MM-DD)"));
    }
    let shaped = text.len() == 10 && text.bytes().enumerate().all(|(k, b)| if k == 4 || k == 7 { b == b'-' } else { b.is_ascii_digit() });
    let parsed = shaped.then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()).flatten();
    let day = parsed.ok_or_else(|| Error::invalid(field, format!("{} is not a date YYYY-MM-DD", limits::quote(text))))?;
    if !limits::day_in_range(day) {
        return Err(Error::invalid(field, format!("{day} {}", limits::day_range_text())));
    }
    Ok(day)
}

/// A day range (`from_day`, `to_day`); `to` empty means `from`. At most 366 days.
pub fn day_range(from: &str, to: &str) -> Result<(NaiveDate, NaiveDate), Error> {
    let a = day(from, "from_day")?;
    let b = if to.is_empty() { a } else { day(to, "to_day")? };
    if b < a {
        return Err(Error::invalid("to_day", "is before from_day"));
    }
    if (b - a).num_days() > 366 {
        return Err(Error::invalid("to_day", "a range covers at most 366 days"));
    }
    Ok((a, b))
}
