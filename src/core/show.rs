//! How a result is shown without a terminal: the library says what a report holds (its JSON
//! through serde, and for people its text, tables included), the binary draws the tables
//! (widths, borders, wrapping) and decides where it all goes.

use serde::Serialize;

/// What people read of a report: text, with tables drawn by `draw`. A report that is also
/// `Serialize` is a `Show`, its JSON being what `--output json` prints.
pub trait Text {
    fn text(&self, draw: &dyn Draw) -> String;
}

/// A report as the binary prints it, in either form.
pub trait Show {
    /// What `--output json` prints (pretty, without the final newline).
    fn json(&self) -> serde_json::Result<String>;
    /// What a person reads.
    fn text(&self, draw: &dyn Draw) -> String;
}

impl<T: Serialize + Text> Show for T {
    fn json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self)
    }

    fn text(&self, draw: &dyn Draw) -> String {
        Text::text(self, draw)
    }
}

/// Draws a table as text: the binary's, which knows the terminal's width.
pub trait Draw {
    fn table(&self, table: &Table) -> String;
}

/// A table's content: its header and rows of cells, each row as long as the header.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table { header: header.iter().map(|h| h.to_string()).collect(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }
}

/// One cell: its text, and whether it is a number (right-aligned).
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub text: String,
    pub number: bool,
}

impl Cell {
    pub fn new(text: impl ToString) -> Self {
        Cell { text: text.to_string(), number: false }
    }

    pub fn number(text: impl ToString) -> Self {
        Cell { text: text.to_string(), number: true }
    }
}

/// A plain drawing for unit tests: one line per row, cells separated by ` | `.
#[cfg(test)]
pub mod testing {
    use super::{Draw, Table};

    pub struct Plain;

    impl Draw for Plain {
        fn table(&self, table: &Table) -> String {
            let line = |cells: Vec<&str>| cells.join(" | ");
            let mut lines = vec![line(table.header.iter().map(String::as_str).collect())];
            lines.extend(table.rows.iter().map(|row| line(row.iter().map(|c| c.text.as_str()).collect())));
            lines.join("\n")
        }
    }
}
