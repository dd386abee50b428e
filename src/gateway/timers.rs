//! Named deadlines (after quinn's `TimerTable`): a fixed array indexed by an enum, so that a
//! call or a chat has one slot per timer instead of loose `Option<Instant>` fields, and the
//! next wake-up is one fold over the array (str0m's "soonest").

use std::marker::PhantomData;
use std::time::Instant;

/// An enum whose variants name the slots of a [`TimerTable`].
pub trait TimerName: Copy {
    /// The slot of this timer (0..N).
    fn index(self) -> usize;
}

/// One optional deadline per timer name.
#[derive(Debug, Clone)]
pub struct TimerTable<T: TimerName, const N: usize> {
    at: [Option<Instant>; N],
    names: PhantomData<T>,
}

impl<T: TimerName, const N: usize> Default for TimerTable<T, N> {
    fn default() -> Self {
        TimerTable {
            at: [None; N],
            names: PhantomData,
        }
    }
}

impl<T: TimerName, const N: usize> TimerTable<T, N> {
    /// Arms (or re-arms) a timer.
    pub fn set(&mut self, t: T, at: Instant) {
        if let Some(slot) = self.at.get_mut(t.index()) {
            *slot = Some(at);
        }
    }

    /// Disarms a timer.
    pub fn stop(&mut self, t: T) {
        if let Some(slot) = self.at.get_mut(t.index()) {
            *slot = None;
        }
    }

    /// When a timer fires, if armed.
    pub fn get(&self, t: T) -> Option<Instant> {
        self.at.get(t.index()).copied().flatten()
    }

    /// Disarms the timer and says whether it was due at `now`.
    pub fn expire(&mut self, t: T, now: Instant) -> bool {
        match self.get(t) {
            Some(at) if at <= now => {
                self.stop(t);
                true
            }
            _ => false,
        }
    }

    /// The earliest armed deadline.
    pub fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }
}

/// The earlier of two optional deadlines.
pub fn soonest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[derive(Clone, Copy)]
    enum T {
        A,
        B,
    }

    impl TimerName for T {
        fn index(self) -> usize {
            self as usize
        }
    }

    #[test]
    fn next_is_the_earliest_and_expire_fires_once() {
        let now = Instant::now();
        let mut t: TimerTable<T, 2> = TimerTable::default();
        assert_eq!(t.next(), None);
        t.set(T::B, now + Duration::from_secs(2));
        t.set(T::A, now + Duration::from_secs(1));
        assert_eq!(t.next(), Some(now + Duration::from_secs(1)));
        assert!(!t.expire(T::A, now));
        assert!(t.expire(T::A, now + Duration::from_secs(1)));
        assert!(!t.expire(T::A, now + Duration::from_secs(5)));
        assert_eq!(t.next(), Some(now + Duration::from_secs(2)));
        assert_eq!(soonest(None, t.next()), t.next());
    }
}
