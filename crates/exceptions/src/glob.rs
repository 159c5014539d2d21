//! Name globs: `*` (any run of characters) and `?` (one character); nothing else is special.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    /// A glob, or why not: brackets and braces are refused rather than taken literally, so a
    /// pattern written for another glob dialect never matches more (or less) than it says.
    pub fn parse(text: &str) -> Result<Glob, String> {
        if text.is_empty() {
            return Err("an empty pattern matches nothing".into());
        }
        if let Some(c) = text
            .chars()
            .find(|c| matches!(c, '[' | ']' | '{' | '}' | '\\'))
        {
            return Err(format!(
                "{text:?}: '{c}' is not supported in patterns (only * and ?)"
            ));
        }
        Ok(Glob(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Matches byte-wise (names and image references are ASCII; `?` is one byte), without
    /// allocating: this runs on every admission that has exceptions in its namespace.
    pub fn matches(&self, text: &str) -> bool {
        let (p, t) = (self.0.as_bytes(), text.as_bytes());
        let (mut pi, mut ti) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
                pi += 1;
                ti += 1;
            } else if pi < p.len() && p[pi] == b'*' {
                star = Some((pi, ti));
                pi += 1;
            } else if let Some((sp, st)) = star {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|c| *c == b'*')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(p: &str) -> Glob {
        Glob::parse(p).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn star_and_question_mark() {
        assert!(g("node-exporter*").matches("node-exporter"));
        assert!(g("node-exporter*").matches("node-exporter-abc12"));
        assert!(!g("node-exporter*").matches("my-node-exporter"));
        assert!(g("*.example.com/*").matches("registry.example.com/app:1"));
        assert!(g("app-?").matches("app-1") && !g("app-?").matches("app-12"));
        assert!(g("exact").matches("exact") && !g("exact").matches("exactly"));
        for bad in ["", "app-[0-9]", "{a,b}", "a\\*"] {
            assert!(Glob::parse(bad).is_err(), "{bad}");
        }
    }
}
