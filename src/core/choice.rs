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

/// The names of every value, as error messages list what is allowed: `a, b, c`.
pub fn allowed<T: Choice>() -> String {
    T::ALL.iter().map(|value| value.name()).collect::<Vec<_>>().join(", ")
}

/// The JSON Schema of a field that takes one of `T`'s names (what `gio-ami schema` prints, so
/// an editor offers the same values `check` allows).
pub fn schema<T: Choice>(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let names: Vec<&str> = T::ALL.iter().map(|value| value.name()).collect();
    schemars::json_schema!({ "type": "string", "enum": names })
}

/// Declares a closed set and its `Choice` names from one table, so each value is spelled once.
/// Attributes before the enum (derives, serde) and before a variant (`#[default]`, docs) carry
/// over.
macro_rules! choice_enum {
    (
        $(#[$attr:meta])*
        $vis:vis enum $kind:ident {
            $($(#[$variant_attr:meta])* $variant:ident = $name:literal),+ $(,)?
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $kind {
            $($(#[$variant_attr])* $variant),+
        }

        impl $crate::core::choice::Choice for $kind {
            const ALL: &'static [Self] = &[$($kind::$variant),+];

            fn name(self) -> &'static str {
                match self {
                    $($kind::$variant => $name),+
                }
            }
        }
    };
}
pub(crate) use choice_enum;
