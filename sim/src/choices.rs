//! The choices a schedule makes (an order placed, a fault, a cancel, an API call, a duplicate
//! execution, a transaction conflict, a cleanup run), numbered in the order the seed draws them,
//! and a shrinker over them.
//!
//! A schedule draws every choice as it always does; a `Choices` with a kept set lets only the
//! listed ones happen. A choice left out consumes its draws all the same, so the others keep
//! their own draws (what they do may still change: another interleaving follows). The shrinker
//! removes choices from a failing schedule while it still fails, in the manner of delta
//! debugging (Zeller and Hildebrandt, "Simplifying and Isolating Failure-Inducing Input", 2002),
//! and ends with a set from which no single choice can be removed: what it prints replays
//! exactly with `--keep`.

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};

/// What kind of choice: each is counted on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// One of the orders placed at the start.
    Order,
    /// A fault drawn into a call (before it, after it, a late commit, a compensation outage).
    Fault,
    /// A customer's cancel between two states.
    Cancel,
    /// An API call between two states.
    Api,
    /// The second run of an EXPRESS start.
    Duplicate,
    /// A transaction cancelled with `TransactionConflict`.
    Conflict,
    /// A scheduled cleanup run while the executions run.
    Cleanup,
}

const KINDS: [(Kind, char); 7] = [
    (Kind::Order, 'o'),
    (Kind::Fault, 'f'),
    (Kind::Cancel, 'c'),
    (Kind::Api, 'a'),
    (Kind::Duplicate, 'd'),
    (Kind::Conflict, 'x'),
    (Kind::Cleanup, 'r'),
];

impl Kind {
    fn letter(self) -> char {
        KINDS
            .iter()
            .find(|(k, _)| *k == self)
            .map_or('?', |(_, c)| *c)
    }

    fn slot(self) -> usize {
        KINDS.iter().position(|(k, _)| *k == self).unwrap_or(0)
    }
}

/// The `index`-th choice of its kind the seed drew (from 0), written `f12` (fault 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Choice {
    pub kind: Kind,
    pub index: usize,
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.kind.letter(), self.index)
    }
}

impl FromStr for Choice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut chars = s.chars();
        let letter = chars.next().ok_or("an empty choice")?;
        let kind = KINDS
            .iter()
            .find(|(_, c)| *c == letter)
            .map(|(k, _)| *k)
            .ok_or_else(|| format!("{s}: a choice starts with one of o f c a d x r"))?;
        let index = chars
            .as_str()
            .parse()
            .map_err(|e| format!("{s}: the number after the letter: {e}"))?;
        Ok(Self { kind, index })
    }
}

/// A comma-separated list of choices (`o0,o3,f12`); an empty text is the empty set.
pub fn parse_set(text: &str) -> Result<BTreeSet<Choice>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Choice::from_str)
        .collect()
}

/// `o0,o3,f12`.
pub fn format_set<'a>(choices: impl IntoIterator<Item = &'a Choice>) -> String {
    choices
        .into_iter()
        .map(Choice::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The choices of one schedule: which may happen, and which did.
#[derive(Debug, Default)]
pub struct Choices {
    /// `None`: every choice happens.
    kept: Option<BTreeSet<Choice>>,
    drawn: Mutex<[usize; KINDS.len()]>,
    taken: Mutex<Vec<Choice>>,
}

impl Choices {
    pub fn only(kept: Option<BTreeSet<Choice>>) -> Self {
        Self {
            kept,
            ..Self::default()
        }
    }

    /// The seed drew a choice of `kind`: whether it happens (it is counted either way).
    pub fn allow(&self, kind: Kind) -> bool {
        let index = {
            let mut drawn = self.drawn.lock().unwrap_or_else(PoisonError::into_inner);
            let index = drawn[kind.slot()];
            drawn[kind.slot()] += 1;
            index
        };
        let choice = Choice { kind, index };
        let happens = self.kept.as_ref().is_none_or(|kept| kept.contains(&choice));
        if happens {
            self.taken
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(choice);
        }
        happens
    }

    /// The choices that happened, in the order they did.
    pub fn taken(&self) -> Vec<Choice> {
        self.taken
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// What the shrinker found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shrunk {
    /// The smallest failing set it found, in the order the choices happened.
    pub kept: Vec<Choice>,
    /// Schedules it ran.
    pub runs: usize,
}

/// Removes choices from `taken` (a failing schedule's) while the schedule still fails.
/// `fails(kept)` runs the schedule with only `kept` and returns the choices that happened if it
/// failed. Halves of the set first, then quarters, down to single choices; it stops at a set
/// from which no single choice can be removed, or after `budget` runs.
pub async fn shrink<F, Fut>(taken: Vec<Choice>, budget: usize, mut fails: F) -> Shrunk
where
    F: FnMut(BTreeSet<Choice>) -> Fut,
    Fut: Future<Output = Option<Vec<Choice>>>,
{
    let mut kept = taken;
    let mut runs = 0;
    let mut chunk = kept.len().div_ceil(2).max(1);
    loop {
        let mut removed = false;
        let mut at = 0;
        while at < kept.len() && runs < budget {
            let candidate: BTreeSet<Choice> = kept[..at]
                .iter()
                .chain(kept.iter().skip(at + chunk))
                .copied()
                .collect();
            runs += 1;
            match fails(candidate).await {
                // What happened is what the next candidates take from (a choice kept but not
                // reached any more drops out; the run is the same without it).
                Some(happened) => {
                    kept = happened;
                    removed = true;
                }
                None => at += chunk,
            }
        }
        if runs >= budget || (chunk == 1 && !removed) {
            break;
        }
        if !removed {
            chunk = chunk.div_ceil(2);
        }
        chunk = chunk.min(kept.len().div_ceil(2)).max(1);
    }
    Shrunk { kept, runs }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str) -> Vec<Choice> {
        parse_set(text).unwrap().into_iter().collect()
    }

    #[test]
    fn a_choice_is_written_and_read_back() {
        let choices = set("o0,f12,c3,a1,d0,x7,r2");
        assert_eq!(format_set(&choices), "o0,f12,c3,a1,d0,x7,r2");
        assert_eq!(parse_set("").unwrap(), BTreeSet::new());
        assert!(parse_set("q1").is_err());
        assert!(parse_set("f").is_err());
    }

    #[test]
    fn only_the_kept_choices_happen_and_all_are_counted() {
        let choices = Choices::only(Some(parse_set("f1,c0").unwrap()));
        let allowed: Vec<bool> = [Kind::Fault, Kind::Fault, Kind::Cancel, Kind::Fault]
            .into_iter()
            .map(|k| choices.allow(k))
            .collect();
        assert_eq!(allowed, [false, true, true, false]);
        assert_eq!(format_set(&choices.taken()), "f1,c0");
        let every = Choices::only(None);
        assert!(every.allow(Kind::Order) && every.allow(Kind::Order));
        assert_eq!(format_set(&every.taken()), "o0,o1");
    }

    /// A "schedule" that fails when it keeps f3 and c1, whatever else: the shrinker ends with
    /// exactly those two.
    #[tokio::test]
    async fn the_shrinker_finds_the_two_choices_a_failure_needs() {
        let taken: Vec<Choice> = (0..40)
            .map(|i| Choice {
                kind: if i % 3 == 0 {
                    Kind::Cancel
                } else {
                    Kind::Fault
                },
                index: i,
            })
            .collect();
        let needed = parse_set("f3,c1").unwrap();
        let taken = [taken, set("f3,c1")].concat();
        let shrunk = shrink(taken, 1_000, |kept| {
            let fails = needed.is_subset(&kept);
            async move { fails.then(|| kept.into_iter().collect()) }
        })
        .await;
        assert_eq!(shrunk.kept, set("c1,f3"));
        assert!(shrunk.runs < 200, "{} runs", shrunk.runs);
    }

    #[tokio::test]
    async fn the_shrinker_stops_at_its_budget() {
        let taken: Vec<Choice> = (0..64)
            .map(|index| Choice {
                kind: Kind::Fault,
                index,
            })
            .collect();
        let shrunk = shrink(taken.clone(), 5, |_| async { None }).await;
        assert_eq!(
            shrunk,
            Shrunk {
                kept: taken,
                runs: 5
            }
        );
    }
}
