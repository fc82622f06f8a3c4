//! Stop strings over streamed text: text that could still turn out to begin a stop string is
//! held back, so a client never receives part of one.

#[derive(Debug, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    held: String,
}

/// What a piece of generated text releases.
#[derive(Debug, PartialEq, Eq)]
pub struct Released {
    pub text: String,
    /// A stop string was found: `text` ends before it and generation ends.
    pub stopped: bool,
}

impl StopMatcher {
    pub fn new(stops: Vec<String>) -> Self {
        StopMatcher { stops, held: String::new() }
    }

    pub fn push(&mut self, text: &str) -> Released {
        self.held.push_str(text);
        if let Some(at) = self.stops.iter().filter_map(|s| self.held.find(s.as_str())).min() {
            let text = self.held[..at].to_owned();
            self.held.clear();
            return Released { text, stopped: true };
        }
        let keep = self.partial_stop_len();
        let text = self.held[..self.held.len() - keep].to_owned();
        self.held.drain(..self.held.len() - keep);
        Released { text, stopped: false }
    }

    /// The text held back when generation ends for another reason.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// Length of the longest end of the held text that begins some stop string.
    fn partial_stop_len(&self) -> usize {
        let h = &self.held;
        self.stops
            .iter()
            .flat_map(|s| (1..s.len().min(h.len() + 1)).filter(move |&n| s.is_char_boundary(n) && h.ends_with(&s[..n])))
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_back_what_may_begin_a_stop_string() {
        let mut m = StopMatcher::new(vec!["\nUser:".into()]);
        assert_eq!(m.push("Hello"), Released { text: "Hello".into(), stopped: false });
        assert_eq!(m.push(" there\nUs"), Released { text: " there".into(), stopped: false });
        assert_eq!(m.push("ually"), Released { text: "\nUsually".into(), stopped: false });
        assert_eq!(m.push("\nUse"), Released { text: String::new(), stopped: false });
        assert_eq!(m.push("r: next"), Released { text: String::new(), stopped: true });
    }

    #[test]
    fn the_earliest_stop_wins_and_the_rest_is_released_at_the_end() {
        let mut m = StopMatcher::new(vec!["bb".into(), "ab".into()]);
        assert_eq!(m.push("xxabb"), Released { text: "xx".into(), stopped: true });
        let mut m = StopMatcher::new(vec!["é!".into()]);
        assert_eq!(m.push("café"), Released { text: "caf".into(), stopped: false });
        assert_eq!(m.finish(), "é");
        assert_eq!(StopMatcher::new(vec![]).push("any"), Released { text: "any".into(), stopped: false });
    }
}
