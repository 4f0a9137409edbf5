//! Bounded polling: wait for a condition that another task or process brings about,
//! failing with what was awaited (and what was last seen) instead of hanging.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

/// A wait that ran out of time.
#[derive(thiserror::Error)]
#[error("timed out after {after:?} waiting for {what}{}", last_seen(.last))]
pub struct TimedOut {
    /// What was awaited, as the caller named it.
    pub what: String,
    pub after: Duration,
    /// What the last check saw instead, when the check said.
    pub last: Option<String>,
}

fn last_seen(last: &Option<String>) -> String {
    last.as_ref()
        .map(|l| format!("; last seen: {l}"))
        .unwrap_or_default()
}

// `unwrap()` prints Debug: make that the readable message too.
impl fmt::Debug for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Runs `check` every `every` until it holds; `TimedOut` naming `what` once `within` has
/// passed without it holding. The check runs at least once, the last time at the deadline.
pub async fn wait_until(
    what: &str,
    within: Duration,
    every: Duration,
    mut check: impl AsyncFnMut() -> bool,
) -> Result<(), TimedOut> {
    wait_for(what, within, every, async || {
        if check().await { Ok(()) } else { Err(None) }
    })
    .await
}

/// Runs `check` every `every` until it gives `Ok(value)`, and returns the value. `check`
/// gives `Err(Some(description))` of what it saw instead (kept for the timeout's message)
/// or `Err(None)`.
pub async fn wait_for<T>(
    what: &str,
    within: Duration,
    every: Duration,
    mut check: impl AsyncFnMut() -> Result<T, Option<String>>,
) -> Result<T, TimedOut> {
    let started = Instant::now();
    let deadline = started + within;
    loop {
        let last = match check().await {
            Ok(value) => return Ok(value),
            Err(last) => last,
        };
        let now = Instant::now();
        if now >= deadline {
            return Err(TimedOut {
                what: what.to_owned(),
                after: now - started,
                last,
            });
        }
        tokio::time::sleep(every.min(deadline - now)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_once_the_condition_holds() {
        let mut calls = 0;
        wait_until(
            "three calls",
            Duration::from_secs(5),
            Duration::ZERO,
            async || {
                calls += 1;
                calls == 3
            },
        )
        .await
        .unwrap();
        assert_eq!(calls, 3);
    }

    #[tokio::test]
    async fn the_timeout_names_what_was_awaited_and_the_last_state() {
        let err = wait_for::<()>(
            "the answer",
            Duration::from_millis(30),
            Duration::from_millis(5),
            async || Err(Some("41".to_owned())),
        )
        .await
        .unwrap_err();
        let text = format!("{err:?}");
        assert!(text.starts_with("timed out after "), "{text}");
        assert!(
            text.ends_with(" waiting for the answer; last seen: 41"),
            "{text}"
        );
        assert!(err.after >= Duration::from_millis(30));
    }

    #[tokio::test]
    async fn wait_until_checks_once_more_at_the_deadline() {
        let mut calls = 0;
        let err = wait_until(
            "never",
            Duration::ZERO,
            Duration::from_secs(1),
            async || {
                calls += 1;
                false
            },
        )
        .await
        .unwrap_err();
        assert_eq!(calls, 1);
        assert_eq!(
            err.to_string(),
            format!("timed out after {:?} waiting for never", err.after)
        );
    }
}
