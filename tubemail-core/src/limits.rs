//! The input limits of every way into the hub (the REST API, the
//! original's `/tubemail/*` routes and the MCP tools), decided once here
//! so that no two of them clamp the same input differently.

/// Most events one timeline read returns (`GET …/events`, `tm_receive`,
/// `tm_my_inbox`). The original clamped its REST route to 500 and left its
/// tool unbounded; one bound for both keeps a read's memory in check
/// (events are up to the body limit each) while a client pages with
/// `since`.
pub const MAX_EVENTS_PER_READ: usize = 1000;

/// Most recorded frames one read returns (the original's 2000).
pub const MAX_FRAMES_PER_READ: usize = 2000;
/// Frames a read returns when it names no limit (the original's 200).
pub const DEFAULT_FRAMES_PER_READ: usize = 200;

/// Most screen lines a screenshot asks the manager for.
pub const MAX_SCREENSHOT_LINES: u32 = 10_000;

/// Longest pause between the steps of a clear-and-send, seconds.
pub const MAX_CLEAR_DELAY_S: f64 = 30.0;

/// `requested` clamped to `1..=max` (negative and zero ask for one).
fn clamp(requested: i64, max: usize) -> usize {
    usize::try_from(requested).unwrap_or(0).clamp(1, max)
}

/// The number of events a read asking for `requested` gets.
pub fn events_per_read(requested: i64) -> usize {
    clamp(requested, MAX_EVENTS_PER_READ)
}

/// The number of frames a read asking for `requested` (or nothing) gets.
pub fn frames_per_read(requested: Option<i64>) -> usize {
    requested.map_or(DEFAULT_FRAMES_PER_READ, |n| clamp(n, MAX_FRAMES_PER_READ))
}

/// The number of screen lines a screenshot asking for `requested` gets.
pub fn screenshot_lines(requested: i64) -> u32 {
    u32::try_from(clamp(requested, MAX_SCREENSHOT_LINES as usize)).unwrap_or(MAX_SCREENSHOT_LINES)
}

/// Whether `delay_s` is a pause a clear-and-send accepts.
pub fn valid_clear_delay(delay_s: f64) -> bool {
    (0.0..=MAX_CLEAR_DELAY_S).contains(&delay_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert_eq!(events_per_read(-5), 1);
        assert_eq!(events_per_read(0), 1);
        assert_eq!(events_per_read(100), 100);
        assert_eq!(events_per_read(i64::MAX), MAX_EVENTS_PER_READ);
        assert_eq!(frames_per_read(None), 200);
        assert_eq!(frames_per_read(Some(5000)), 2000);
        assert_eq!(screenshot_lines(0), 1);
        assert_eq!(screenshot_lines(1 << 40), MAX_SCREENSHOT_LINES);
        assert!(valid_clear_delay(0.0) && valid_clear_delay(30.0));
        assert!(
            !valid_clear_delay(-0.1) && !valid_clear_delay(f64::NAN) && !valid_clear_delay(31.0)
        );
    }
}
