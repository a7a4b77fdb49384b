//! Closed sets of values named by words: what a command-line option, a spec key or a JSON field
//! takes. The library names them; the binary turns the names into its argument parsers.

/// A type whose every value has a name (and a line of help), so front ends can list, parse and
/// print it without a copy of the variants.
pub trait Choice: Sized + Copy + PartialEq + 'static {
    const ALL: &'static [Self];

    fn name(self) -> &'static str;

    /// One line for `--help`, or nothing.
    fn help(self) -> &'static str {
        ""
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|value| value.name() == name)
    }
}
